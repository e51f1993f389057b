// tbhelperctl check: findings, and the pure parts of the audit (the live
// ruleset in libnftables JSON, kernel module lists). ctl/ gathers the inputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace tb::ctl {

struct Finding {
    std::string severity;  // "error" or "warning"
    std::string code;      // stable: module-missing, helper-not-registered, daemon-down, rules-missing,
                           // rules-mismatch, tcp-contact-dropped, related-dropped, ...
    std::string message;   // what is wrong, one sentence
    std::string fix;       // how to fix it, one sentence or command
};

nlohmann::json to_json(const std::vector<Finding>& findings);
// One line per finding: "error: MESSAGE; fix: FIX [CODE]"; "no problems found" when empty.
std::string format_findings(const std::vector<Finding>& findings);

// ---- table inet tbhelper -------------------------------------------------

// What the live table assigns: hook ("prerouting"/"output") -> transport
// ("tcp"/"udp") -> ports whose new connections get a ct helper object of type
// "timbuktu" with that protocol.
struct HelperAssignments {
    std::map<std::string, std::map<std::string, std::set<std::uint16_t>>> ports;
    std::vector<std::string> problems;  // e.g. a ct helper object of another type
};

// `nft_json` is the libnftables JSON of `list table inet tbhelper`
// ({"nftables": [...]}).
HelperAssignments read_helper_assignments(const nlohmann::json& nft_json);
// Compares with what `tbhelperctl rules` generates from `config`; empty when equal.
std::vector<Finding> audit_helper_table(const nlohmann::json& nft_json, const Config& config,
                                        const std::string& config_origin);

// ---- the administrator's filter (docs/protocol-model.md#a3) ----------------

// Heuristic over the JSON of `list ruleset`: for each filter base chain on hook
// input or forward (families ip, ip6, inet), follow its rules (jump/goto
// included) for a new TCP/UDP connection to each contact port and for a
// related stream, and decide accepted / dropped:
//   - an accept counts when the path to it matches the probe's port explicitly
//     (tcp/udp/th dport, value, set, range or named set) or has no other
//     condition at all; rules conditioned only on interfaces or addresses do
//     not count (they would accept anything, port or not);
//   - a drop/reject counts only when its conditions are nothing but
//     protocol, port and ct state;
//   - otherwise the chain's policy decides.
// Reports: tcp-contact-dropped (a configured UDP contact port accepted while a
// TCP contact port is dropped: guests hang, docs/protocol-model.md#a3) and related-dropped
// (contact accepted but the expected streams, ct state related, dropped).
// When the deciding chain is firewalld's or ufw's, the fix is the manager's
// command (firewall-cmd --add-service=timbuktu, ufw allow Timbuktu).
std::vector<Finding> audit_filter(const nlohmann::json& ruleset_json, const Config& config);

// ---- queue numbers (docs/daemon.md#gso) -----------------------------------

// Rules anywhere in the ruleset (JSON of `list ruleset`) whose `queue`
// statement sends packets to a queue the daemon reads: `queue`, and with
// gso the segment queue. Those packets would reach tbhelperd, which lets
// them pass unexamined, instead of the program the rule meant them for.
// Reports queue-number-taken, once per number.
std::vector<Finding> audit_queue_numbers(const nlohmann::json& ruleset_json, const Config& config);

// ---- firewall managers (docs/firewall-managers.md) -------------------------

// Who writes the filter, read from the ruleset's names: firewalld (nftables
// backend) keeps everything in `table inet firewalld`; ufw writes iptables
// rules, which iptables-nft (Debian 12 and 13) puts in `table ip filter` and
// `table ip6 filter` as chains named ufw-*. audit_filter's fixes are then
// given in the manager's own commands.
enum class FirewallManager { none, firewalld, ufw };
FirewallManager detect_firewall_manager(const nlohmann::json& ruleset_json);
// firewalld attaches the helper itself (the service timbuktu is added to a
// zone or policy): `table inet firewalld` has a ct helper object of type
// "timbuktu" that one of its rules sets. Then table inet tbhelper is not
// needed for the assignment.
bool firewalld_assigns_helper(const nlohmann::json& ruleset_json);

enum class Verdict { undecided, accepted, dropped };
struct Probe {
    std::string state = "new";            // ct state of the probe packet
    std::string l4 = "tcp";               // "tcp" / "udp"
    std::optional<std::uint16_t> dport;   // none for related probes
};
struct ProbeResult {
    Verdict verdict = Verdict::undecided;
    std::string where;  // "inet filter forward" of the deciding chain
    bool by_policy = false;
};
// The verdict of every base chain on `hook` for an l3 family ("ipv4"/"ipv6")
// combined (dropped if any drops). Exposed for the unit tests.
ProbeResult evaluate_hook(const nlohmann::json& ruleset_json, const std::string& l3, const std::string& hook,
                          const Probe& probe);

// ---- reverse-path filtering (spoofed host replies) ---------------------------

// Which families a ruleset drops spoofed contact traffic for: a rule with an
// nft `fib saddr ... iif oif missing` match (mark optional) and a drop or
// reject verdict, or an iptables-nft `rpfilter` match with DROP, in a chain on
// hook prerouting (or a regular chain, which a prerouting chain may jump to),
// whose port matches (if any) name a contact port. Family ip: IPv4; ip6:
// IPv6; inet: both unless the rule matches `meta nfproto` to one.
struct AntispoofCoverage {
    bool ipv4 = false;
    bool ipv6 = false;
    std::string where_ipv4, where_ipv6;  // "inet tbhelper antispoof" of the first rule found
};
AntispoofCoverage find_antispoof_rules(const nlohmann::json& ruleset_json, const Config& config);

// The reverse-path filter sysctls of one network namespace.
struct ReversePathSysctls {
    // net.ipv4.conf.NAME.rp_filter for NAME = "all", "default" and every
    // interface (lo included, ignored); 0 off, 1 strict, 2 loose. The kernel
    // applies max(all, interface) to an interface; "default" is what new
    // interfaces start with.
    std::map<std::string, int> ipv4_rp_filter;
    bool ipv6_enabled = true;  // IPv6 has no rp_filter sysctl: only netfilter can check it
};

// rp-filter-loose (warning): reverse-path filtering is loose or off for IPv4
// on some interface (or for new interfaces), or IPv6 is on, and the ruleset
// has no anti-spoofing rule for that family. nullopt when protected.
// The fix depends on who manages the ruleset (docs/firewall-managers.md#reverse-path):
// tbhelper's anti-spoofing chain (rules --apply) where tbhelper's own table is
// the one to load, firewalld's words where firewalld attaches the helper
// (IPv6_rpfilter in firewalld.conf for IPv6; IPv4's check is the kernel's
// rp_filter sysctl, which firewalld has no setting for).
std::optional<Finding> audit_reverse_path(const ReversePathSysctls& sysctls, const AntispoofCoverage& coverage,
                                          const std::string& fix_apply,
                                          FirewallManager manager = FirewallManager::none);

// ---- kernel modules ---------------------------------------------------------

// Modules the helper needs (name, kernel option).
struct NeededModule {
    const char* name;
    const char* option;
};
extern const std::vector<NeededModule> kNeededModules;

enum class ModuleState { loaded, builtin, loadable, missing, unknown };
struct ModuleSources {
    std::string proc_modules;       // /proc/modules
    std::set<std::string> sys_module;  // names under /sys/module
    std::string modules_builtin;    // /lib/modules/$(uname -r)/modules.builtin ("" if absent)
    std::string modules_dep;        // /lib/modules/$(uname -r)/modules.dep ("" if absent)
    std::string kernel_config;      // /proc/config.gz or /boot/config-$(uname -r) ("" if absent)
};
ModuleState module_state(const NeededModule& m, const ModuleSources& s);
std::string module_state_name(ModuleState s);

}  // namespace tb::ctl
