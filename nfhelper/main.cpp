// tbhelperd: the Timbuktu Pro userspace conntrack helper. See docs/daemon.md.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <linux/netlink.h>

#include "config/config.hpp"
#include "daemon.hpp"
#include "registration.hpp"
#include "log.hpp"
#include "system_checks.hpp"

using namespace tb;
using namespace tb::daemon;

namespace {

int fail(const std::string& line) {
    Log::write(LogLevel::error, line);
    return 1;
}

// --unregister: remove the four registrations. --park: keep them but
// disabled (what a clean stop does), for a service manager to run after a
// crash (systemd ExecStopPost=) so traffic is not blocked until the restart.
int unregister(bool park) {
    if (auto why = check_privileges()) return fail(*why);
    load_kernel_modules();
    if (auto why = check_kernel_support()) return fail(*why);
    try {
        netfilter::NetlinkSocket nl(NETLINK_NETFILTER);
        std::vector<std::string> problems;
        if (park) {
            if (registered_count(nl) == 0) {
                std::printf("helper %s is not registered: nothing to park\n", kHelperName);
                return 0;
            }
            problems = park_helpers(nl);
        } else {
            problems = unregister_helpers(nl);
        }
        if (problems.empty()) {
            std::printf(park ? "helper %s disabled: registered, its connections pass unexamined\n"
                             : "helper %s unregistered (ipv4/ipv6 x tcp/udp)\n",
                        kHelperName);
            return 0;
        }
        for (const auto& p : problems) Log::write(LogLevel::error, p);
        return 1;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    Log::init();
    CLI::App app{"tbhelperd: Timbuktu Pro conntrack helper (userspace, NFQUEUE)", "tbhelperd"};
    Options opts;
    bool check_config = false, do_unregister = false, do_park = false, version = false;
    std::string socket_flag;
    auto* config_opt = app.add_option("--config", opts.config_path, "configuration file (TOML)");
    app.add_flag("--foreground", opts.foreground, "stay in the foreground (systemd, tests)");
    app.add_flag("--check-config", check_config, "validate the configuration and exit (0 valid, 1 not)");
    app.add_option("--socket", socket_flag, "control socket path (also TBHELPER_SOCKET)");
    app.add_flag("--unregister", do_unregister, "remove the kernel helper registration and exit");
    app.add_flag("--park", do_park,
                 "keep the helper registered but disabled (connections pass unexamined) and exit; for "
                 "ExecStopPost= after a crash");
    app.add_flag("--version", version, "print the version and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    if (version) {
        std::printf("tbhelperd %s\n", TBHELPER_VERSION);
        return 0;
    }
    opts.config_explicit = config_opt->count() > 0;
    if (!socket_flag.empty()) opts.socket_path = socket_flag;
    else if (const char* env = std::getenv("TBHELPER_SOCKET"); env && *env) opts.socket_path = env;

    if (do_unregister || do_park) return unregister(do_park && !do_unregister);

    Config config;
    try {
        config = read_config(opts);
    } catch (const std::exception& e) {
        return fail(e.what());  // ConfigError: "FILE:LINE: key 'K': what is wrong"
    }
    if (check_config) {
        std::printf("%s: configuration OK\n", opts.config_path.c_str());
        return 0;
    }
    Log::set_level(config.log_level);
    try {
        Daemon d(opts, config);
        return d.run();
    } catch (const StartupError& e) {
        return fail(e.what());
    } catch (const std::exception& e) {
        return fail(std::string("unexpected error: ") + e.what());
    }
}
