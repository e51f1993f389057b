#include "watchdog.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "registration.hpp"
#include "log.hpp"
#include "netfilter/netlink_socket.hpp"

namespace tb::daemon {

namespace {

// The port id bound to `queue` in this network namespace, 0 when none.
std::uint32_t queue_owner(std::uint16_t queue) {
    std::ifstream in("/proc/net/netfilter/nfnetlink_queue");
    std::string line;
    // One line per bound queue: "queue_num peer_portid queue_total ..."
    for (int i = 0; i < 65536 && std::getline(in, line); ++i) {
        std::istringstream ls(line);
        unsigned long num = 0, portid = 0;
        if ((ls >> num >> portid) && num == queue) return static_cast<std::uint32_t>(portid);
    }
    return 0;
}

[[noreturn]] void watchdog_main(int fd, std::uint16_t queue, std::uint32_t portid, pid_t daemon_pid) {
    prctl(PR_SET_NAME, "tbhelperd-wd", 0, 0, 0);
    // Under systemd the whole cgroup gets SIGTERM once the main process is gone;
    // the watchdog must finish its one job first (it exits right after).
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);

    std::string buf;
    char chunk[256];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EOF: every copy of the write end is closed
        buf.append(chunk, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            std::string msg = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            if (msg == "C") _exit(0);  // clean stop: the daemon parked the helper itself
            unsigned q = 0, p = 0;
            if (std::sscanf(msg.c_str(), "Q %u %u", &q, &p) == 2) {
                queue = static_cast<std::uint16_t>(q);
                portid = p;
            }
        }
        if (buf.size() > 4096) buf.clear();
    }

    // The daemon died. Its queue binding goes away as its sockets are released;
    // wait for that (bounded), and stop if another daemon took the queue.
    for (int i = 0; i < 100; ++i) {
        std::uint32_t owner = queue_owner(queue);
        if (owner == 0) break;
        if (owner != portid) _exit(0);  // a new daemon runs
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    try {
        netfilter::NetlinkSocket nl(NETLINK_NETFILTER);
        auto problems = park_helpers(nl);
        // A new daemon may have bound the queue and enabled the helper just
        // before our park landed: give it its helper back.
        std::uint32_t owner = queue_owner(queue);
        if (owner != 0 && owner != portid) netfilter::set_helpers_enabled(nl, wanted_helpers(Config{}), true);
        if (problems.empty())
            log_warning("watchdog: tbhelperd (pid {}) died; helper {} disabled, so connections on its ports pass "
                        "unexamined (fail-open) until tbhelperd runs again",
                        daemon_pid, kHelperName);
        else
            for (const auto& p : problems) log_error("watchdog: {}", p);
    } catch (const std::exception& e) {
        log_error("watchdog: tbhelperd (pid {}) died and the helper could not be disabled: {}", daemon_pid, e.what());
    }
    _exit(0);
}

}  // namespace

std::optional<CrashWatchdog> CrashWatchdog::start(std::uint16_t queue, std::uint32_t portid) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        log_warning("no crash watchdog (pipe: {}): after a crash the helper stays enabled", std::strerror(errno));
        return std::nullopt;
    }
    const pid_t daemon_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        log_warning("no crash watchdog (fork: {}): after a crash the helper stays enabled", std::strerror(errno));
        return std::nullopt;
    }
    if (pid == 0) {
        // Keep only stdio and the read end: the daemon's sockets (queue,
        // control) must die with the daemon, not live on in the watchdog.
        int rd = p[0];
        for (int fd = 3; fd < 65536; ++fd)
            if (fd != rd) close(fd);
        watchdog_main(rd, queue, portid, daemon_pid);
    }
    close(p[0]);
    return CrashWatchdog(sys::UniqueFd(p[1]), pid);
}

void CrashWatchdog::tell_queue(std::uint16_t queue, std::uint32_t portid) {
    std::string msg = fmt::format("Q {} {}\n", queue, portid);
    if (write(fd_.get(), msg.data(), msg.size()) < 0) { /* the watchdog is gone: nothing to tell */ }
}

void CrashWatchdog::disarm() {
    if (write(fd_.get(), "C\n", 2) < 0) { /* already gone */ }
    fd_.reset();
}

}  // namespace tb::daemon
