// Expectations through ctnetlink: libmnl for the socket, libnetfilter_conntrack
// to parse each message.
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "common.hpp"
#include "kernel.hpp"
#include "netlink.hpp"

namespace tb::ctl {

namespace {

struct ExpDestroy {
    void operator()(nf_expect* e) const { nfexp_destroy(e); }
};
using Expect = std::unique_ptr<nf_expect, ExpDestroy>;

Expect new_expect() {
    Expect e(nfexp_new());
    if (!e) throw CtlError(kExitUnreachable, "out of memory");
    return e;
}

IpAddress tuple_address(const nf_conntrack* ct, bool src) {
    const auto l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
    if (l3 == AF_INET6) {
        const void* p = nfct_get_attr(ct, src ? ATTR_ORIG_IPV6_SRC : ATTR_ORIG_IPV6_DST);
        return p ? IpAddress::v6_bytes(static_cast<const std::uint8_t*>(p)) : IpAddress{};
    }
    std::uint32_t net = nfct_get_attr_u32(ct, src ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV4_DST);
    return IpAddress::v4(ntohl(net));
}

Transport tuple_transport(const nf_conntrack* ct) {
    return nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) == IPPROTO_UDP ? Transport::udp : Transport::tcp;
}

// False for an expectation that is neither TCP nor UDP (not ours anyway).
bool to_row(const nf_expect* exp, ExpectationRow& row) {
    if (!nfexp_attr_is_set(exp, ATTR_EXP_EXPECTED) || !nfexp_attr_is_set(exp, ATTR_EXP_MASTER)) return false;
    auto* expected = static_cast<const nf_conntrack*>(nfexp_get_attr(exp, ATTR_EXP_EXPECTED));
    auto* master = static_cast<const nf_conntrack*>(nfexp_get_attr(exp, ATTR_EXP_MASTER));
    auto l4 = nfct_get_attr_u8(expected, ATTR_ORIG_L4PROTO);
    if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP) return false;
    row.proto = tuple_transport(expected);
    row.src = tuple_address(expected, true);
    row.dst = tuple_address(expected, false);
    row.dport = ntohs(nfct_get_attr_u16(expected, ATTR_ORIG_PORT_DST));
    row.timeout = nfexp_attr_is_set(exp, ATTR_EXP_TIMEOUT) ? nfexp_get_attr_u32(exp, ATTR_EXP_TIMEOUT) : 0;
    row.master.proto = tuple_transport(master);
    row.master.src = tuple_address(master, true);
    row.master.dst = tuple_address(master, false);
    row.master.sport = ntohs(nfct_get_attr_u16(master, ATTR_ORIG_PORT_SRC));
    row.master.dport = ntohs(nfct_get_attr_u16(master, ATTR_ORIG_PORT_DST));
    if (nfexp_attr_is_set(exp, ATTR_EXP_HELPER_NAME))
        if (auto* name = static_cast<const char*>(nfexp_get_attr(exp, ATTR_EXP_HELPER_NAME))) row.helper = name;
    return true;
}

bool parse_message(const nlmsghdr* nlh, ExpectationRow& row) {
    auto exp = new_expect();
    if (nfexp_nlmsg_parse(nlh, exp.get()) < 0) return false;
    return to_row(exp.get(), row);
}

}  // namespace

std::vector<ExpectationRow> dump_expectations() {
    auto nl = open_netfilter_socket();
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_GET;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = 1;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;  // IPv4 and IPv6
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    std::vector<ExpectationRow> rows;
    int err = netlink_dump(nl.get(), nlh, [&](const nlmsghdr* m) {
        ExpectationRow row;
        if (parse_message(m, row)) rows.push_back(std::move(row));
    });
    if (err) kernel_failure("cannot dump expectations through ctnetlink (nf_conntrack_netlink)", err);
    return rows;
}

void watch_expectations(const std::function<void(const std::string&, const ExpectationRow&)>& on_event,
                        const std::function<void()>& on_lost) {
    auto nl = open_netfilter_socket();
    for (int group : {NFNLGRP_CONNTRACK_EXP_NEW, NFNLGRP_CONNTRACK_EXP_DESTROY})
        if (mnl_socket_setsockopt(nl.get(), NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
            kernel_failure("cannot subscribe to ctnetlink expectation events", errno);
    int rcvbuf = 4 * 1024 * 1024;
    (void)setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);  // best effort

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0)
        throw CtlError(kExitUnreachable, std::string("cannot block signals: ") + std::strerror(errno));
    Fd sfd(signalfd(-1, &mask, SFD_CLOEXEC));
    if (!sfd) throw CtlError(kExitUnreachable, std::string("cannot create a signalfd: ") + std::strerror(errno));

    std::vector<char> buf(kNetlinkRecvSize);
    const int nlfd = mnl_socket_get_fd(nl.get());
    for (;;) {
        pollfd fds[2] = {{nlfd, POLLIN, 0}, {sfd.get(), POLLIN, 0}};
        int pr = poll(fds, 2, -1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            throw CtlError(kExitUnreachable, std::string("poll: ") + std::strerror(errno));
        }
        if (fds[1].revents & POLLIN) return;  // SIGINT / SIGTERM
        if (!(fds[0].revents & (POLLIN | POLLERR))) continue;
        ssize_t n = mnl_socket_recvfrom(nl.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                on_lost();
                continue;
            }
            kernel_failure("cannot read ctnetlink events", errno);
        }
        // Events are not answers to a request: walk the messages by hand.
        auto len = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
            if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_CTNETLINK_EXP) continue;
            const int type = nlh->nlmsg_type & 0xff;
            const char* event = type == IPCTNL_MSG_EXP_NEW ? "new" : type == IPCTNL_MSG_EXP_DELETE ? "destroy" : nullptr;
            if (!event) continue;
            ExpectationRow row;
            if (parse_message(nlh, row)) on_event(event, row);
        }
    }
}

}  // namespace tb::ctl
