// tbhelperctl status: the daemon's `status` answer for people and scripts.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tb::ctl {

// Keys `status --json` always has (docs/tbhelperctl.md#status, docs/control-socket.md).
extern const std::vector<std::string> kStatusKeys;        // version, queue, helpers, uptime, counters
extern const std::vector<std::string> kStatusCounterKeys;  // packets, sessions, ...

// Which mandatory keys the daemon's answer lacks ("counters.forged", ...).
std::vector<std::string> missing_status_keys(const nlohmann::json& response);

// The JSON `status --json` prints: the daemon's answer without its "ok" field
// (a superset of the mandatory keys), plus "socket": the path asked.
nlohmann::json status_json(const nlohmann::json& response, const std::string& socket_path);

// Lines for people:
//   tbhelperd 0.1.0, pid 1234, up 1h 02m 03s
//   config     /etc/tbhelper/tbhelper.conf
//   queue      407
//   helpers    timbuktu ipv4/tcp, timbuktu ipv4/udp, ...
//   sessions   3 tracked
//   counters   packets 10, sessions 2, ...
std::string format_status(const nlohmann::json& response, const std::string& socket_path);

}  // namespace tb::ctl
