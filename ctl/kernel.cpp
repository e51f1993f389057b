#include "kernel.hpp"

#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cstring>

#include "common.hpp"
#include "netfilter/expectation_list.hpp"
#include "netfilter/netlink_socket.hpp"

namespace tb::ctl {

namespace {

// A netfilter netlink socket, or CtlError(3).
netfilter::NetlinkSocket open_netfilter_socket() {
    try {
        return netfilter::NetlinkSocket(NETLINK_NETFILTER);
    } catch (const netfilter::KernelError& e) {
        kernel_failure("cannot open a netfilter netlink socket", e.error());
    }
}

ExpectationRow row_of(const netfilter::ListedExpectation& x) { return ExpectationRow{x, std::nullopt}; }

}  // namespace

std::vector<ExpectationRow> dump_expectations() {
    auto nl = open_netfilter_socket();
    std::vector<netfilter::ListedExpectation> listed;
    if (int err = netfilter::list_expectations(nl, listed))
        kernel_failure("cannot dump expectations through ctnetlink (nf_conntrack_netlink)", err);
    std::vector<ExpectationRow> rows;
    rows.reserve(listed.size());
    for (const auto& x : listed) rows.push_back(row_of(x));
    return rows;
}

void watch_expectations(const std::function<void(const std::string&, const ExpectationRow&)>& on_event,
                        const std::function<void()>& on_lost) {
    std::optional<netfilter::ExpectationEvents> events;
    try {
        events.emplace();
    } catch (const netfilter::KernelError& e) {
        kernel_failure("cannot subscribe to ctnetlink expectation events", e.error());
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0)
        throw CtlError(kExitUnreachable, std::string("cannot block signals: ") + std::strerror(errno));
    Fd sfd(signalfd(-1, &mask, SFD_CLOEXEC));
    if (!sfd) throw CtlError(kExitUnreachable, std::string("cannot create a signalfd: ") + std::strerror(errno));

    const auto forward = [&](netfilter::ExpectationEvents::Kind kind, const netfilter::ListedExpectation& x) {
        on_event(kind == netfilter::ExpectationEvents::Kind::created ? "new" : "destroy", row_of(x));
    };
    for (;;) {
        pollfd fds[2] = {{events->fd(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
        int pr = poll(fds, 2, -1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            throw CtlError(kExitUnreachable, std::string("poll: ") + std::strerror(errno));
        }
        if (fds[1].revents & POLLIN) return;  // SIGINT / SIGTERM
        if (!(fds[0].revents & (POLLIN | POLLERR))) continue;
        const int err = events->read(forward);
        if (err == 0 || err == EINTR || err == EAGAIN || err == EWOULDBLOCK) continue;
        if (err == ENOBUFS) {
            on_lost();
            continue;
        }
        kernel_failure("cannot read ctnetlink events", err);
    }
}

HelperDump dump_helpers() {
    HelperDump out;
    auto nl = open_netfilter_socket();
    const int err = netfilter::list_helpers(nl, out.helpers);
    if (err == EPERM || err == EACCES) kernel_failure("", err);
    out.ok = err == 0;
    out.error = err;
    return out;
}

std::string helper_text(const HelperEntry& h) { return h.name + " " + netfilter::entry_name(h); }

}  // namespace tb::ctl
