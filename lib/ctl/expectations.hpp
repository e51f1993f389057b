// tbhelperctl expectations / watch: the kernel's expectations of helper
// "timbuktu", as rows for a table and as the JSON of docs/tbhelperctl.md#expectations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/address.hpp"

namespace tb::ctl {

struct MasterTuple {  // the contact connection, original direction
    Transport proto = Transport::tcp;
    IpAddress src;
    IpAddress dst;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
};

struct ExpectationRow {
    Transport proto = Transport::tcp;  // of the expected stream
    IpAddress src;                     // guest (any source port)
    IpAddress dst;                     // address the guest will connect to
    std::uint16_t dport = 0;
    std::uint32_t timeout = 0;         // seconds left
    MasterTuple master;
    std::string helper;                // kernel helper name (always "timbuktu" after filtering)
    std::optional<std::string> service;  // from the daemon, when it knows
};

// Keeps only the rows whose helper is `timbuktu`, sorted by (proto, src, dst, dport).
std::vector<ExpectationRow> filter_timbuktu(std::vector<ExpectationRow> rows);

// Names the service of each row from the daemon's `expectations` response
// ({"ok": true, "expectations": [{proto, src, dst, dport, service, created}]}),
// matched on proto, src, dst and dport; the most recent record wins. Records
// that do not parse are skipped. Returns how many rows got a name.
std::size_t name_services(std::vector<ExpectationRow>& rows, const nlohmann::json& daemon_response);

// {"proto", "src", "dst", "dport", "timeout", "master": {...}, "helper", "service"?}
nlohmann::json to_json(const ExpectationRow& row);
nlohmann::json to_json(const std::vector<ExpectationRow>& rows);

// The table for people (header line first); empty string for no rows.
std::string format_table(const std::vector<ExpectationRow>& rows);

// One line per event for `watch`: "[NEW] udp 198.51.100.2 -> 203.0.113.2:40001 ..."
// `event` is "new" or "destroy".
std::string format_event(const std::string& event, const ExpectationRow& row);
// {"event": "new", ...to_json(row)}
nlohmann::json event_json(const std::string& event, const ExpectationRow& row);

}  // namespace tb::ctl
