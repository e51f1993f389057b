#include "ctl/status.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "text/escape.hpp"
#include "ctl/format.hpp"
#include "helper/counter_table.hpp"

namespace tb::ctl {

const std::vector<std::string> kStatusKeys = {"version", "queue", "helpers", "uptime", "counters"};
// The mandatory counters are the table's (helper/counter_table.hpp).
const std::vector<std::string> kStatusCounterKeys = [] {
    std::vector<std::string> keys;
    for (const auto& info : helper::counter_table())
        if (info.mandatory) keys.emplace_back(info.status_key);
    return keys;
}();

std::vector<std::string> missing_status_keys(const nlohmann::json& r) {
    std::vector<std::string> missing;
    if (!r.is_object()) return kStatusKeys;
    for (const auto& k : kStatusKeys)
        if (!r.contains(k)) missing.push_back(k);
    if (auto it = r.find("counters"); it != r.end()) {
        for (const auto& k : kStatusCounterKeys)
            if (!it->is_object() || !it->contains(k)) missing.push_back("counters." + k);
    }
    return missing;
}

nlohmann::json status_json(const nlohmann::json& response, const std::string& socket_path) {
    nlohmann::json j = response.is_object() ? response : nlohmann::json::object();
    j.erase("ok");
    j["socket"] = socket_path;
    return j;
}

namespace {

// Values come from the daemon, which repeats what the network and the kernel
// said: escaped for the terminal (docs/tbhelperctl.md#untrusted-text).
std::string scalar(const nlohmann::json& v) {
    if (v.is_string()) return escape_untrusted(v.get<std::string>());
    if (v.is_null()) return "-";
    return escape_untrusted(dump_json(v));
}

std::string field(const nlohmann::json& r, const char* key) {
    auto it = r.find(key);
    return it == r.end() ? "-" : scalar(*it);
}

}  // namespace

std::string format_status(const nlohmann::json& r, const std::string& socket_path) {
    std::string out = fmt::format("tbhelperd {}", field(r, "version"));
    if (r.contains("pid")) out += fmt::format(", pid {}", field(r, "pid"));
    if (auto it = r.find("uptime"); it != r.end() && it->is_number())
        out += fmt::format(", up {}", format_duration(it->get<double>()));
    out += '\n';
    auto row = [&](const char* label, const std::string& value) { out += fmt::format("{:<10} {}\n", label, value); };
    row("socket", escape_untrusted(socket_path));
    if (r.contains("config")) row("config", field(r, "config"));
    // GSO's second queue (docs/daemon.md#gso), when the daemon has one.
    if (auto it = r.find("segment_queue"); it != r.end() && !it->is_null())
        row("queue", fmt::format("{}, segments on {}", field(r, "queue"), scalar(*it)));
    else
        row("queue", field(r, "queue"));
    std::string helpers;
    if (auto it = r.find("helpers"); it != r.end() && it->is_array()) {
        for (const auto& h : *it) {
            if (!helpers.empty()) helpers += ", ";
            if (h.is_object())
                helpers += fmt::format("{} {}/{}", field(h, "name"), field(h, "l3"), field(h, "l4"));
            else
                helpers += scalar(h);
        }
    }
    row("helpers", helpers.empty() ? "none registered" : helpers);
    if (r.contains("sessions_tracked")) row("sessions", field(r, "sessions_tracked") + " tracked");
    if (auto it = r.find("counters"); it != r.end() && it->is_object()) {
        // In the table's order (the mandatory ones first, as documented), then
        // what the table does not know (a newer daemon's), by name.
        out += "counters\n";
        auto add = [&](const std::string& k, const nlohmann::json& v) {
            out += fmt::format("  {:<22} {}\n", escape_untrusted(k), scalar(v));
        };
        std::vector<std::string> known;
        for (const auto& info : helper::counter_table()) {
            if (info.place != helper::StatusPlace::counters) continue;
            known.emplace_back(info.status_key);
            if (it->contains(known.back())) add(known.back(), (*it)[known.back()]);
        }
        for (const auto& [k, v] : it->items())
            if (std::find(known.begin(), known.end(), k) == known.end()) add(k, v);
    }
    return out;
}

}  // namespace tb::ctl
