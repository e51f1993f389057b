// tbhelperctl expectations / watch: the kernel's expectations of helper
// "timbuktu", as rows for a table and as the JSON of docs/tbhelperctl.md#expectations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/address.hpp"
#include "netfilter/expectation.hpp"

namespace tb::ctl {

using netfilter::MasterTuple;

// A kernel expectation (netfilter/expectation.hpp) with the service name the
// daemon gave it, when it knows.
struct ExpectationRow : netfilter::ListedExpectation {
    std::optional<std::string> service;
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
