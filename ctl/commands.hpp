// One function per tbhelperctl command; each returns the exit status or
// throws CtlError.
#pragma once

#include <string>

#include "config/config.hpp"

namespace tb::ctl {

struct Globals {
    std::string config_path;  // empty: the default path, missing = defaults
    std::string socket_option;
    bool json = false;

    // The configuration and where it came from ("/etc/tbhelper/tbhelper.conf",
    // or "built-in defaults (FILE absent)"). Throws CtlError(2) for a bad file.
    Config load_config(std::string& origin) const;
    std::string socket_path() const;
};

enum class RulesAction { print, apply, remove };
struct RulesOptions;
int cmd_rules(const Globals& g, RulesAction action, bool iptables, const RulesOptions& options);
int cmd_expectations(const Globals& g);
int cmd_status(const Globals& g);
int cmd_watch(const Globals& g);
int cmd_check(const Globals& g);
int cmd_analyze(const Globals& g, const std::string& pcap_file);
// output_file empty: stdout; else written atomically (docs/metrics.md#textfile-collector).
int cmd_metrics(const Globals& g, const std::string& output_file);
int cmd_sessions(const Globals& g);

}  // namespace tb::ctl
