// tbhelperctl: control command of tbhelper (see docs/tbhelperctl.md).
#include <cstdio>
#include <exception>
#include <iostream>
#include <algorithm>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "ctl/rules.hpp"

using namespace tb::ctl;

namespace {

constexpr const char* kFooter =
    "Global options --config FILE and --socket PATH go before or after the command.\n"
    "Examples: tbhelperctl rules --apply; tbhelperctl check; tbhelperctl expectations --json;\n"
    "          tbhelperctl --config site.conf analyze capture.pcap\n"
    "Exit status: 0 success; 1 the command ran and found a problem (check) or the\n"
    "kernel refused the rules; 2 usage error or bad configuration file; 3 cannot\n"
    "reach the kernel (permission, missing module) or the daemon.\n"
    "Documentation: /usr/share/doc/tbhelper/tbhelperctl.md";

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tbhelperctl: set up, inspect and check tbhelper, the userspace conntrack helper for\n"
                 "Timbuktu Pro (daemon tbhelperd, kernel helper \"timbuktu\").",
                 "tbhelperctl"};
    app.footer(kFooter);
    app.set_version_flag("--version", std::string("tbhelperctl ") + TBHELPER_VERSION);
    app.require_subcommand(1, 1);
    app.fallthrough();  // global options are accepted after the command too

    Globals g;
    app.add_option("--config", g.config_path,
                   "configuration file (default /etc/tbhelper/tbhelper.conf; built-in defaults when that is absent)")
        ->type_name("FILE");
    app.add_option("--socket", g.socket_option,
                   "tbhelperd control socket (default $TBHELPER_SOCKET, else /run/tbhelper/tbhelperd.sock)")
        ->type_name("PATH");

    // rules
    auto* rules = app.add_subcommand("rules", "print, load or remove the nftables rules (table inet tbhelper) that "
                                              "assign the helper to the configured contact ports");
    bool apply = false, remove = false, iptables = false, no_antispoof = false;
    rules->add_flag("--apply", apply,
                                    "load the rules in one transaction, replacing an earlier copy (needs tbhelperd running)");
    rules->add_flag("--remove", remove, "delete table inet tbhelper (not an error when absent)");
    rules->add_flag("--iptables", iptables,
                                  "print the iptables-restore equivalent (table raw) instead; for iptables and ip6tables");
    rules->add_flag("--no-antispoof", no_antispoof,
                    "leave out the anti-spoofing chain (fib / rpfilter strict reverse path on contact traffic), "
                    "e.g. for asymmetric routing");

    // expectations
    auto* exps = app.add_subcommand("expectations",
                                    "list the kernel's expectations of helper timbuktu (works while tbhelperd is down)");
    exps->add_flag("--json", g.json, "one JSON array (fields: proto src dst dport timeout master service)");

    auto* status = app.add_subcommand("status", "show tbhelperd's version, registration, queue, uptime and counters");
    status->add_flag("--json", g.json, "one JSON object (version queue helpers uptime counters ...)");

    auto* watch = app.add_subcommand("watch", "follow expectation events (NEW, DESTROY) of helper timbuktu until "
                                              "interrupted");
    watch->add_flag("--json", g.json, "one JSON object per line");

    auto* check = app.add_subcommand("check", "audit this machine: kernel modules, helper registration, daemon, "
                                              "rules, and the filter's handling of TCP and UDP contact and related streams");
    check->add_flag("--json", g.json, "one JSON array of {severity, code, message, fix}");

    std::string pcap_file;
    auto* analyze = app.add_subcommand("analyze", "run the protocol engine over a packet capture and report the "
                                                  "Timbuktu sessions, offers and expectations it finds");
    analyze->add_option("FILE.pcap", pcap_file, "capture file (pcap or pcapng; Ethernet, Linux cooked, raw IP)")
        ->required()
        ->type_name("FILE");
    analyze->add_flag("--json", g.json, "one JSON object (see docs/tbhelperctl.md)");

    auto* sessions = app.add_subcommand("sessions", "list tbhelperd's tracked sessions (guest, host, service, phase, "
                                                    "offers, expectations, age)");
    sessions->add_flag("--json", g.json, "one JSON array (fields: proto guest guest_port host contact_port service "
                                         "phase offers expectations age ...)");
    auto* metrics = app.add_subcommand("metrics", "print every counter and gauge in the Prometheus text format "
                                                  "(tbhelper_up is 0 when tbhelperd does not answer)");
    std::string metrics_output;
    metrics->add_option("--output", metrics_output,
                        "write to FILE instead of stdout, atomically (a temporary file in FILE's directory, renamed "
                        "into place; mode 0644), e.g. /var/lib/prometheus/node-exporter/tbhelper.prom")
        ->type_name("FILE");

    // Clearer words than CLI11's for a missing or mistyped command.
    const std::vector<std::string> commands = {"rules", "expectations", "status", "watch", "check", "analyze",
                                               "metrics", "sessions"};
    const char* kCommandList = "rules, expectations, status, watch, check, analyze, metrics, sessions";
    bool have_command = false;
    bool want_help = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" || a == "--socket") {
            ++i;
            continue;
        }
        if (a == "-h" || a == "--help" || a == "--version") want_help = true;
        if (a.starts_with("-")) continue;
        if (std::find(commands.begin(), commands.end(), a) == commands.end()) {
            std::cerr << "tbhelperctl: unknown command '" << a << "'; expected one of: " << kCommandList << "\n"
                      << "Run 'tbhelperctl --help' for usage.\n";
            return kExitUsage;
        }
        have_command = true;
        break;
    }
    if (!have_command && !want_help) {
        std::cerr << "tbhelperctl: a command is required, one of: " << kCommandList << "\n"
                  << "Run 'tbhelperctl --help' for usage.\n";
        return kExitUsage;
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "tbhelperctl: " << e.what() << "\n"
                  << "Run 'tbhelperctl --help' (or 'tbhelperctl COMMAND --help') for usage.\n";
        return kExitUsage;
    }

    if (*rules && apply && remove) {
        std::cerr << "tbhelperctl: rules: --apply and --remove exclude each other\n";
        return kExitUsage;
    }
    if (*rules && iptables && (apply || remove)) {
        std::cerr << "tbhelperctl: rules: --iptables only prints (load its output with iptables-restore and "
                     "ip6tables-restore); it does not combine with --apply or --remove\n";
        return kExitUsage;
    }

    if (*metrics && metrics->count("--output") > 0 && metrics_output.empty()) {
        std::cerr << "tbhelperctl: metrics: --output needs a file path (e.g. "
                     "/var/lib/prometheus/node-exporter/tbhelper.prom), got an empty one\n";
        return kExitUsage;
    }

    try {
        if (*rules)
            return cmd_rules(g, apply ? RulesAction::apply : remove ? RulesAction::remove : RulesAction::print,
                             iptables, RulesOptions{.antispoof = !no_antispoof});
        if (*exps) return cmd_expectations(g);
        if (*status) return cmd_status(g);
        if (*watch) return cmd_watch(g);
        if (*check) return cmd_check(g);
        if (*analyze) return cmd_analyze(g, pcap_file);
        if (*metrics) return cmd_metrics(g, metrics_output);
        if (*sessions) return cmd_sessions(g);
    } catch (const CtlError& e) {
        std::fflush(stdout);
        std::cerr << "tbhelperctl: " << e.what() << "\n";
        return e.exit_code();
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::cerr << "tbhelperctl: " << e.what() << "\n";
        return kExitUnreachable;
    }
    return kExitUsage;
}
