// rules, expectations, status, watch and check.
#include "commands.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "control.hpp"
#include "ctl/atomic_file.hpp"
#include "ctl/audit.hpp"
#include "ctl/expectations.hpp"
#include "ctl/format.hpp"
#include "ctl/metrics.hpp"
#include "ctl/sessions.hpp"
#include "netfilter/queue_proc.hpp"
#include "ctl/rules.hpp"
#include "ctl/ha.hpp"
#include "ctl/status.hpp"
#include "kernel.hpp"
#include "nft.hpp"

namespace tb::ctl {

using nlohmann::json;

Config Globals::load_config(std::string& origin) const {
    std::string path = config_path.empty() ? kDefaultConfigPath : config_path;
    struct stat st {};
    if (config_path.empty() && ::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
        origin = fmt::format("built-in defaults ({} absent)", path);
        return Config{};
    }
    origin = path;
    try {
        return load_config_file(path);
    } catch (const ConfigError& e) {
        throw CtlError(kExitUsage, e.what());
    }
}

std::string Globals::socket_path() const { return control_socket_path(socket_option); }

namespace {

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

// "a, b" / "tcp and udp"
std::string joined(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
    return out;
}

constexpr const char* kNotRegistered = "helper timbuktu is not registered: start tbhelperd first";

// Which transports lack a registered "timbuktu" helper; empty when all are there.
std::vector<std::string> unregistered_transports(const HelperDump& d, const Config& c) {
    bool tcp = false, udp = false;
    for (const auto& h : d.helpers) {
        if (h.name != kHelperName) continue;
        if (h.l4 == IPPROTO_TCP) tcp = true;
        if (h.l4 == IPPROTO_UDP) udp = true;
    }
    std::vector<std::string> missing;
    if (!c.tcp_contact_ports.empty() && !tcp) missing.push_back("tcp");
    if (!c.udp_contact_ports.empty() && !udp) missing.push_back("udp");
    return missing;
}

std::string cthelper_unavailable(int err) {
    return fmt::format("cannot list the kernel's userspace helpers ({}): the kernel may lack nfnetlink_cthelper "
                       "(CONFIG_NF_CT_NETLINK_HELPER)",
                       std::strerror(err));
}

std::string ports_summary(const Config& c) {
    auto list = [](const std::vector<std::uint16_t>& v) {
        std::string s;
        for (auto p : v) s += (s.empty() ? "" : ",") + std::to_string(p);
        return s.empty() ? std::string("none") : s;
    };
    return fmt::format("TCP {}; UDP {}", list(c.tcp_contact_ports), list(c.udp_contact_ports));
}

}  // namespace

// ---------------------------------------------------------------------------
int cmd_rules(const Globals& g, RulesAction action, bool iptables, const RulesOptions& options) {
    if (action == RulesAction::remove) {
        json dummy;
        if (!nft_list_json(fmt::format("table inet {}", kNftTable), dummy)) {
            print(fmt::format("table inet {} is not loaded; nothing to remove\n", kNftTable));
            return kExitOk;
        }
        Nft nft;
        auto r = nft.run(fmt::format("delete table inet {}\n", kNftTable));
        if (!r.ok) {
            if (nft_permission_error(r.error)) throw CtlError(kExitUnreachable, kPermissionMessage);
            std::cerr << r.error;
            return kExitProblem;
        }
        print(fmt::format("table inet {} removed\n", kNftTable));
        return kExitOk;
    }

    std::string origin;
    Config config = g.load_config(origin);
    if (iptables) {
        print(iptables_ruleset(config, origin, options));
        return kExitOk;
    }
    if (action == RulesAction::print) {
        print(nft_ruleset(config, origin, options));
        return kExitOk;
    }

    // --apply. The ct helper objects load only when the helper is registered.
    HelperDump helpers = dump_helpers();
    if (helpers.ok) {
        auto missing = unregistered_transports(helpers, config);
        if (!missing.empty()) {
            throw CtlError(kExitUnreachable,
                           fmt::format("{} (no registration for {})", kNotRegistered, joined(missing, " and ")));
        }
    }
    Nft nft;
    auto r = nft.run_as_file(nft_apply_buffer(config, origin, options));
    if (!r.ok) {
        if (nft_permission_error(r.error)) throw CtlError(kExitUnreachable, kPermissionMessage);
        std::cerr << r.error;
        if (!helpers.ok && nft_no_such_object(r.error)) {
            std::cerr << "tbhelperctl: " << kNotRegistered << " (" << cthelper_unavailable(helpers.error) << ")\n";
            return kExitUnreachable;
        }
        std::cerr << fmt::format("tbhelperctl: the kernel refused table inet {}; nothing was changed\n", kNftTable);
        return kExitProblem;
    }
    print(fmt::format("table inet {} loaded from {}: helper {} on {} (prerouting and output, IPv4 and IPv6){}\n",
                      kNftTable, origin, kHelperName, ports_summary(config),
                      options.antispoof ? "; anti-spoofing chain antispoof (fib, strict reverse path)"
                                        : "; no anti-spoofing chain (--no-antispoof)"));
    return kExitOk;
}

// ---------------------------------------------------------------------------
int cmd_expectations(const Globals& g) {
    auto rows = filter_timbuktu(dump_expectations());
    if (!rows.empty()) {
        try {
            name_services(rows, control_request(g.socket_path(), "expectations", 2000));
        } catch (const CtlError&) {
            // The daemon is down or old: the kernel's view is complete without names.
        }
    }
    if (g.json) {
        print(dump_json(to_json(rows), 2) + "\n");
    } else if (rows.empty()) {
        print(fmt::format("no expectations of helper {}\n", kHelperName));
    } else {
        print(format_table(rows));
    }
    return kExitOk;
}

// ---------------------------------------------------------------------------
namespace {
// A small file's text, or nullopt when it cannot be read (absent).
std::optional<std::string> read_small_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string out(64 * 1024, '\0');
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<std::size_t>(in.gcount()));
    return out;
}
struct HaFacts {
    HaRole role;
    ExpectSync sync;
};
// TBHELPER_HA_ROLE_FILE and TBHELPER_CONNTRACKD_CONF move the two files
// (docs/tbhelperctl.md#ha): another conntrackd path, or a test bed's two nodes.
HaFacts read_ha_facts() {
    const char* role = std::getenv("TBHELPER_HA_ROLE_FILE");
    const char* conf = std::getenv("TBHELPER_CONNTRACKD_CONF");
    return {parse_ha_role(read_small_file(role && *role ? role : kHaRoleFile)),
            conntrackd_expectation_sync(read_small_file(conf && *conf ? conf : kConntrackdConfig), kHelperName)};
}
}  // namespace

int cmd_status(const Globals& g) {
    const std::string path = g.socket_path();
    json r = control_request(path, "status");
    auto missing = missing_status_keys(r);
    // The ha line needs the sync keys; a configuration that does not load
    // is check's business, not a reason for status to fail.
    Config config;
    try {
        std::string origin;
        config = g.load_config(origin);
    } catch (const CtlError&) {
    }
    const HaFacts ha = read_ha_facts();
    if (g.json) {
        json out = status_json(r, path);
        out["ha"] = ha_status_json(ha.role, ha.sync, config);
        print(dump_json(out, 2) + "\n");
    } else {
        print(format_status(r, path) + format_ha_line(ha.role, ha.sync, config));
    }
    if (!missing.empty()) {
        std::cerr << fmt::format("tbhelperctl: tbhelperd's status lacks {} (daemon and tbhelperctl versions differ?)\n",
                                 joined(missing, ", "));
    }
    return kExitOk;
}

// ---------------------------------------------------------------------------
// Prometheus text format (docs/metrics.md). Whatever cannot be read is left
// out rather than failing the command, so that a textfile collector always
// gets a well-formed file, with tbhelper_up 0 when the daemon is down.
int cmd_metrics(const Globals& g, const std::string& output_file) {
    MetricsInput in;
    std::string origin;
    in.queue = g.load_config(origin).queue;
    json status;
    try {
        status = control_request(g.socket_path(), "status", 2000);
        in.status = &status;
        if (auto it = status.find("queue"); it != status.end() && it->is_number_unsigned())
            in.queue = it->get<std::uint32_t>();
    } catch (const CtlError&) {
        // down: tbhelper_up 0
    }
    try {
        in.expectations_pending = filter_timbuktu(dump_expectations()).size();
    } catch (const CtlError&) {
        // no ctnetlink (not root): the series is left out
    }
    std::ifstream proc(netfilter::kQueueProcPath);
    if (proc) {
        std::stringstream text;
        text << proc.rdbuf();
        in.queue_proc = netfilter::find_queue(netfilter::parse_queue_proc(text.str()), in.queue);
    }
    const std::string text = render_prometheus(metrics_families(in));
    if (output_file.empty()) {
        print(text);
        return kExitOk;
    }
    if (auto err = write_file_atomically(output_file, text, 0644))
        throw CtlError(err->kind == WriteFileError::Kind::bad_path ? kExitUsage : kExitProblem,
                       fmt::format("metrics --output: {}", err->message));
    return kExitOk;
}

// ---------------------------------------------------------------------------
int cmd_sessions(const Globals& g) {
    const json answer = control_request(g.socket_path(), "sessions");
    std::optional<std::vector<ExpectationRow>> kernel;
    try {
        kernel = filter_timbuktu(dump_expectations());
    } catch (const CtlError&) {
        // not root: the sessions without their expectation counts (null / "?")
    }
    auto report = sessions_report(answer, kernel);
    if (!report)
        throw CtlError(kExitUnreachable, "tbhelperd's answer to \"sessions\" has no session list (daemon and "
                                         "tbhelperctl versions differ?)");
    if (g.json) {
        print(dump_json(*report, 2) + "\n");
    } else {
        const std::size_t total = answer.contains("total") && answer["total"].is_number_unsigned()
                                      ? answer["total"].get<std::size_t>()
                                      : report->size();
        print(format_sessions(*report, total));
    }
    return kExitOk;
}

// ---------------------------------------------------------------------------
int cmd_watch(const Globals& g) {
    // Named when a NEW event arrives and the daemon knows the stream; the
    // DESTROY event of the same expectation reuses the name.
    std::map<std::string, std::string> names;
    auto key = [](const ExpectationRow& r) {
        return fmt::format("{} {} {} {}", transport_name(r.proto), r.src.to_string(), r.dst.to_string(), r.dport);
    };
    const std::string path = g.socket_path();
    if (!g.json)
        std::cerr << fmt::format("watching expectations of helper {} (Ctrl-C to stop)\n", kHelperName);
    watch_expectations(
        [&](const std::string& event, const ExpectationRow& row_in) {
            if (row_in.helper != kHelperName) return;
            ExpectationRow row = row_in;
            auto k = key(row);
            if (event == "new") {
                std::vector<ExpectationRow> one{row};
                try {
                    if (name_services(one, control_request(path, "expectations", 1000))) names[k] = *one[0].service;
                } catch (const CtlError&) {
                }
            }
            if (auto it = names.find(k); it != names.end()) row.service = it->second;
            if (event == "destroy") names.erase(k);
            print((g.json ? dump_json(event_json(event, row)) : format_event(event, row)) + "\n");
            std::fflush(stdout);
        },
        [&] {
            if (g.json)
                print(dump_json(json{{"event", "lost"}, {"message", "the kernel dropped events (socket buffer full)"}}) +
                      "\n");
            else
                print("[LOST] the kernel dropped events (socket buffer full)\n");
            std::fflush(stdout);
        });
    return kExitOk;
}

// ---------------------------------------------------------------------------
namespace {

struct Closedir {
    void operator()(DIR* d) const { ::closedir(d); }
};

std::string read_file_bounded(const std::string& path, std::size_t limit = 8 * 1024 * 1024) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::string out;
    char buf[65536];
    while (out.size() < limit) {
        in.read(buf, sizeof buf);
        if (in.gcount() <= 0) break;
        out.append(buf, static_cast<std::size_t>(in.gcount()));
    }
    return out;
}

std::string gunzip_bounded(const std::string& path, std::size_t limit = 8 * 1024 * 1024) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    // No zlib in tbhelperctl's link line: gzip(1) reads /proc/config.gz.
    std::string cmd = "gzip -dc '" + path + "' 2>/dev/null";
    struct Pclose {
        void operator()(FILE* f) const { ::pclose(f); }
    };
    std::unique_ptr<FILE, Pclose> p(::popen(cmd.c_str(), "re"));
    if (!p) return {};
    std::string out;
    char buf[65536];
    std::size_t n;
    while (out.size() < limit && (n = std::fread(buf, 1, sizeof buf, p.get())) > 0) out.append(buf, n);
    return out;
}

// net.ipv4.conf.*.rp_filter of this network namespace (/proc/sys/net is per namespace).
ReversePathSysctls reverse_path_sysctls() {
    ReversePathSysctls s;
    const std::string base = "/proc/sys/net/ipv4/conf";
    if (std::unique_ptr<DIR, Closedir> d(::opendir(base.c_str())); d) {
        while (dirent* e = ::readdir(d.get())) {
            const std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            auto text = read_file_bounded(base + "/" + name + "/rp_filter", 64);
            if (text.empty()) continue;
            try {
                s.ipv4_rp_filter[name] = std::stoi(text);
            } catch (const std::exception&) {
            }
        }
    }
    auto v6 = read_file_bounded("/proc/sys/net/ipv6/conf/all/disable_ipv6", 64);
    s.ipv6_enabled = !v6.empty() && v6[0] == '0';
    return s;
}

ModuleSources module_sources() {
    ModuleSources s;
    s.proc_modules = read_file_bounded("/proc/modules");
    if (std::unique_ptr<DIR, Closedir> d(::opendir("/sys/module")); d)
        while (dirent* e = ::readdir(d.get())) s.sys_module.insert(e->d_name);
    utsname u{};
    ::uname(&u);
    const std::string release = u.release;
    s.modules_builtin = read_file_bounded("/lib/modules/" + release + "/modules.builtin");
    s.modules_dep = read_file_bounded("/lib/modules/" + release + "/modules.dep");
    s.kernel_config = gunzip_bounded("/proc/config.gz");
    if (s.kernel_config.empty()) s.kernel_config = read_file_bounded("/boot/config-" + release);
    return s;
}

}  // namespace

int cmd_check(const Globals& g) {
    std::string origin;
    Config config = g.load_config(origin);
    std::vector<Finding> findings;

    // 1. Kernel modules.
    auto sources = module_sources();
    bool cthelper_missing = false;
    for (const auto& m : kNeededModules) {
        auto st = module_state(m, sources);
        if (st != ModuleState::missing) continue;
        if (std::string(m.name) == "nfnetlink_cthelper") cthelper_missing = true;
        findings.push_back(
            {"error", "module-missing",
             fmt::format("this kernel has no {} ({} is not set): tbhelper cannot work without it", m.name, m.option),
             fmt::format("boot a distribution kernel (Debian, Ubuntu, Fedora and RHEL build {} as a module) or "
                         "rebuild with {}=m",
                         m.name, m.option)});
    }

    // 2. Helper registration (global to the kernel).
    HelperDump helpers = dump_helpers();
    if (!helpers.ok) {
        if (!cthelper_missing)
            findings.push_back({"error", "helper-unknown", cthelper_unavailable(helpers.error),
                                "modprobe nfnetlink_cthelper, then start tbhelperd"});
    } else if (auto missing = unregistered_transports(helpers, config); !missing.empty()) {
        findings.push_back({"error", "helper-not-registered",
                            fmt::format("helper {} is not registered in the kernel for {}: contact connections are "
                                        "not inspected",
                                        kHelperName, joined(missing, " and ")),
                            "start tbhelperd: systemctl start tbhelperd (journalctl -u tbhelperd tells why it stopped)"});
    } else {
        std::vector<std::string> parked;
        for (const auto& h : helpers.helpers)
            if (h.name == kHelperName && !h.enabled) parked.push_back(helper_text(h));
        if (!parked.empty()) {
            findings.push_back({"error", "helper-disabled",
                                fmt::format("helper {} is registered but disabled ({}): tbhelperd stopped and "
                                            "parked it, contact connections pass uninspected",
                                            kHelperName, joined(parked, ", ")),
                                "start tbhelperd: systemctl start tbhelperd"});
        }
    }

    // 3. The daemon.
    const std::string path = g.socket_path();
    try {
        control_request(path, "status", 2000);
    } catch (const CtlError& e) {
        findings.push_back({"error", "daemon-down", e.what(), "systemctl start tbhelperd; journalctl -u tbhelperd"});
    }

    // The whole ruleset first: whether firewalld attaches the helper itself
    // (its service timbuktu, docs/firewall-managers.md).
    json ruleset;
    const bool have_ruleset = nft_list_json("ruleset", ruleset);
    const FirewallManager manager = have_ruleset ? detect_firewall_manager(ruleset) : FirewallManager::none;
    const bool firewalld_helper = manager == FirewallManager::firewalld && firewalld_assigns_helper(ruleset);

    // 4. Our rules.
    const std::string fix_apply =
        "tbhelperctl rules --apply" + (g.config_path.empty() ? std::string() : " --config " + g.config_path);
    json table;
    if (!nft_list_json(fmt::format("table inet {}", kNftTable), table)) {
        if (manager == FirewallManager::firewalld && !firewalld_helper)
            findings.push_back({"error", "rules-missing",
                                fmt::format("neither firewalld (service timbuktu) nor table inet {} attaches helper "
                                            "{}: no connection gets it",
                                            kNftTable, kHelperName),
                                "firewall-cmd --add-service=timbuktu && firewall-cmd --permanent "
                                "--add-service=timbuktu"});
        else if (!firewalld_helper)
            findings.push_back({"error", "rules-missing",
                                fmt::format("table inet {} is not loaded: no connection gets helper {}", kNftTable,
                                            kHelperName),
                                fix_apply});
    } else {
        for (auto& f : audit_helper_table(table, config, origin)) {
            f.fix = "reload the rules from the configuration: " + fix_apply;
            findings.push_back(std::move(f));
        }
    }

    // 5. The administrator's filter: TCP contact dropped where UDP passes (A3,
    //    docs/protocol-model.md#a3), related streams dropped (docs/tbhelperctl.md#check).
    if (have_ruleset)
        for (auto& f : audit_filter(ruleset, config)) findings.push_back(std::move(f));

    // 5b. Rules that queue to a number the daemon reads (docs/daemon.md#gso).
    if (have_ruleset)
        for (auto& f : audit_queue_numbers(ruleset, config)) findings.push_back(std::move(f));

    // 6. Spoofed host replies: the kernel's reverse-path filter or our fib rule.
    if (have_ruleset)
        if (auto f = audit_reverse_path(reverse_path_sysctls(), find_antispoof_rules(ruleset, config), fix_apply,
                                        manager))
            findings.push_back(std::move(*f));

    // 7. A firewall pair (docs/ha.md): conntrackd's expectation sync, the state channel, the role file.
    {
        const HaFacts ha = read_ha_facts();
        for (auto& f : audit_ha(ha.role, ha.sync, config)) findings.push_back(std::move(f));
    }

    if (g.json)
        print(dump_json(to_json(findings), 2) + "\n");
    else
        print(format_findings(findings));
    return findings.empty() ? kExitOk : kExitProblem;
}

}  // namespace tb::ctl
