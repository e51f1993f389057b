#include "ctl/ha.hpp"

#include <cctype>

#include <fmt/format.h>

namespace tb::ctl {

HaRole parse_ha_role(const std::optional<std::string>& text) {
    if (!text) return HaRole::none;
    std::string_view t = *text;
    if (!t.empty() && t.back() == '\n') t.remove_suffix(1);
    if (t == "active") return HaRole::active;
    if (t == "backup") return HaRole::backup;
    if (t == "fault") return HaRole::fault;
    return HaRole::unreadable;
}

std::string ha_role_name(HaRole role) {
    switch (role) {
        case HaRole::none: return "none";
        case HaRole::active: return "active";
        case HaRole::backup: return "backup";
        case HaRole::fault: return "fault";
        case HaRole::unreadable: return "unreadable";
    }
    return "unreadable";
}

namespace {

// conntrackd's lexer: words, "{" and "}", comments from '#' to the line's end.
std::vector<std::string> tokens(std::string_view text) {
    std::vector<std::string> out;
    std::string cur;
    auto flush = [&] {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '#') {
            flush();
            while (i < text.size() && text[i] != '\n') ++i;
        } else if (c == '{' || c == '}') {
            flush();
            out.emplace_back(1, c);
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            flush();
        } else {
            cur.push_back(c);
        }
    }
    flush();
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace

ExpectSync conntrackd_expectation_sync(const std::optional<std::string>& conf_text, std::string_view helper) {
    if (!conf_text) return ExpectSync::no_config;
    const auto t = tokens(*conf_text);
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (!iequals(t[i], "ExpectationSync")) continue;
        if (i + 1 >= t.size()) return ExpectSync::absent;
        const std::string& v = t[i + 1];
        if (iequals(v, "on") || iequals(v, "yes")) return ExpectSync::all;
        if (iequals(v, "off") || iequals(v, "no")) return ExpectSync::off;
        if (v == "{") {
            for (std::size_t j = i + 2; j < t.size() && t[j] != "}"; ++j)
                if (t[j] == helper) return ExpectSync::listed;
            return ExpectSync::other_helpers;
        }
        return ExpectSync::absent;
    }
    return ExpectSync::absent;
}

std::string expect_sync_name(ExpectSync s) {
    switch (s) {
        case ExpectSync::no_config: return "no-config";
        case ExpectSync::absent: return "absent";
        case ExpectSync::off: return "off";
        case ExpectSync::all: return "all";
        case ExpectSync::listed: return "listed";
        case ExpectSync::other_helpers: return "other-helpers";
    }
    return "absent";
}

bool expect_sync_covers(ExpectSync s) { return s == ExpectSync::all || s == ExpectSync::listed; }

nlohmann::json ha_status_json(HaRole role, ExpectSync sync, const Config& config) {
    nlohmann::json j = {{"role", ha_role_name(role)},
                        {"conntrackd_expectation_sync", expect_sync_name(sync)},
                        {"conntrackd_syncs_timbuktu", expect_sync_covers(sync)},
                        {"sync_interface", config.ha_sync_interface},
                        {"sync_peer", config.ha_sync_peer ? config.ha_sync_peer->to_string() : std::string()}};
    return j;
}

std::string format_ha_line(HaRole role, ExpectSync sync, const Config& config) {
    if (role == HaRole::none && sync == ExpectSync::no_config && !config.ha_enabled()) return "";
    std::string peer = config.ha_enabled()
                           ? fmt::format("session state shared with {} over {}", config.ha_sync_peer->to_string(),
                                         config.ha_sync_interface)
                           : "no session state shared (ha_sync_* not set)";
    std::string ct = expect_sync_covers(sync) ? "conntrackd syncs timbuktu expectations"
                                              : fmt::format("conntrackd does not sync timbuktu expectations ({})",
                                                            expect_sync_name(sync));
    return fmt::format("ha         role {}, {}, {}\n", ha_role_name(role), ct, peer);
}

std::vector<Finding> audit_ha(HaRole role, ExpectSync sync, const Config& config) {
    std::vector<Finding> out;
    // A pair is what this node's own settings say (ha_sync_*) or what
    // keepalived's notify script wrote (the role file). A conntrackd.conf
    // alone says nothing: Debian's conntrackd package installs one (nfct pulls
    // it in), and conntrackd also runs only for its own userspace helpers.
    const bool pair = config.ha_enabled() || role != HaRole::none;
    if (!pair) return out;
    if (sync == ExpectSync::no_config && (config.ha_enabled() || role != HaRole::none))
        out.push_back({"warning", "ha-conntrackd-missing",
                       fmt::format("this node is part of a firewall pair but {} does not exist: the contact "
                                   "connections and their expectations do not reach the other node",
                                   kConntrackdConfig),
                       "install conntrackd and use /usr/share/doc/tbhelper/examples/ha/conntrackd.conf (docs/ha.md)"});
    else if (!expect_sync_covers(sync))
        out.push_back({"error", "ha-expectations-not-synced",
                       fmt::format("conntrackd does not sync the expectations of helper {} (ExpectationSync {}): "
                                   "after a failover the streams a host offered before it are blocked",
                                   kHelperName, expect_sync_name(sync)),
                       "add 'ExpectationSync { timbuktu }' to conntrackd.conf's Sync Options (docs/ha.md)"});
    if (!config.ha_enabled())
        out.push_back({"warning", "ha-state-not-shared",
                       "this node is part of a firewall pair but ha_sync_interface and ha_sync_peer are not set: a "
                       "contact taken over at a failover is judged not Timbuktu and its later offers are blocked",
                       "set ha_sync_interface and ha_sync_peer in tbhelper.conf (docs/ha.md#session-state)"});
    if (role == HaRole::unreadable)
        out.push_back({"warning", "ha-role-unreadable",
                       fmt::format("{} is not one word active, backup or fault", kHaRoleFile),
                       "use /usr/share/tbhelper/tbhelper-ha-notify as keepalived's notify script (docs/ha.md)"});
    return out;
}

}  // namespace tb::ctl
