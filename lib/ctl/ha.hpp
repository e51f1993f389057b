// tbhelperctl's view of a firewall pair (docs/ha.md, docs/tbhelperctl.md#ha):
// the node's VRRP role, as keepalived's notify script records it, and whether
// conntrackd's configuration syncs the expectations of helper timbuktu.
// Pure: file contents in, facts out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "ctl/audit.hpp"

namespace tb::ctl {

// Written by /usr/share/tbhelper/tbhelper-ha-notify (packaging/examples/ha).
// Not in /run/tbhelper: that is the daemon's RuntimeDirectory, which systemd
// empties when the daemon stops, and the role outlives the daemon.
constexpr const char* kHaRoleFile = "/run/tbhelper-ha-role";
constexpr const char* kConntrackdConfig = "/etc/conntrackd/conntrackd.conf";

enum class HaRole { none, active, backup, fault, unreadable };
// nullopt text: no role file. One word and an optional newline; anything
// else is unreadable (never guessed).
HaRole parse_ha_role(const std::optional<std::string>& text);
std::string ha_role_name(HaRole role);  // "none", "active", "backup", "fault", "unreadable"

enum class ExpectSync {
    no_config,      // no conntrackd configuration file
    absent,         // no ExpectationSync clause: conntrackd syncs no expectations
    off,            // ExpectationSync Off
    all,            // ExpectationSync On: every helper's, timbuktu's included
    listed,         // ExpectationSync { ... timbuktu ... }
    other_helpers,  // ExpectationSync { ... } without timbuktu
};
// conntrackd.conf's syntax: words, braces, '#' comments to the end of a line.
ExpectSync conntrackd_expectation_sync(const std::optional<std::string>& conf_text, std::string_view helper);
std::string expect_sync_name(ExpectSync s);  // "no-config", "absent", "off", "all", "listed", "other-helpers"
bool expect_sync_covers(ExpectSync s);       // all or listed

// status --json's "ha" object.
nlohmann::json ha_status_json(HaRole role, ExpectSync sync, const Config& config);
// status's "ha" line ("" when nothing about a pair is configured or found).
std::string format_ha_line(HaRole role, ExpectSync sync, const Config& config);
// check: a pair's configuration that loses sessions at a failover.
std::vector<Finding> audit_ha(HaRole role, ExpectSync sync, const Config& config);

}  // namespace tb::ctl
