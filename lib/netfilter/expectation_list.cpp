#include "netfilter/expectation_list.hpp"
#include "netfilter/c_handle.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

namespace tb::netfilter {

namespace {


// Events come one skb at a time; 64 KiB holds the largest the kernel sends.
constexpr std::size_t kEventBuffer = 64 * 1024;
constexpr int kEventSocketBuffer = 4 * 1024 * 1024;

IpAddress tuple_address(const nf_conntrack* ct, bool src) {
    if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) == AF_INET6) {
        const void* p = nfct_get_attr(ct, src ? ATTR_ORIG_IPV6_SRC : ATTR_ORIG_IPV6_DST);
        return p ? IpAddress::v6_bytes(static_cast<const std::uint8_t*>(p)) : IpAddress{};
    }
    const std::uint32_t net = nfct_get_attr_u32(ct, src ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV4_DST);
    return IpAddress::v4(ntohl(net));
}

Transport tuple_transport(const nf_conntrack* ct) {
    return nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) == IPPROTO_UDP ? Transport::udp : Transport::tcp;
}

// False for a message that is not an expectation, or one that is neither TCP
// nor UDP (not ours anyway).
bool parse_expectation(const nlmsghdr* nlh, ListedExpectation& x) {
    CHandle<nf_expect, nfexp_destroy> exp(nfexp_new());
    if (!exp || nfexp_nlmsg_parse(nlh, exp.get()) < 0) return false;
    if (!nfexp_attr_is_set(exp.get(), ATTR_EXP_EXPECTED) || !nfexp_attr_is_set(exp.get(), ATTR_EXP_MASTER))
        return false;
    auto* expected = static_cast<const nf_conntrack*>(nfexp_get_attr(exp.get(), ATTR_EXP_EXPECTED));
    auto* master = static_cast<const nf_conntrack*>(nfexp_get_attr(exp.get(), ATTR_EXP_MASTER));
    const auto l4 = nfct_get_attr_u8(expected, ATTR_ORIG_L4PROTO);
    if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP) return false;
    x.proto = tuple_transport(expected);
    x.src = tuple_address(expected, true);
    x.dst = tuple_address(expected, false);
    x.dport = ntohs(nfct_get_attr_u16(expected, ATTR_ORIG_PORT_DST));
    x.timeout = nfexp_attr_is_set(exp.get(), ATTR_EXP_TIMEOUT) ? nfexp_get_attr_u32(exp.get(), ATTR_EXP_TIMEOUT) : 0;
    x.master.proto = tuple_transport(master);
    x.master.src = tuple_address(master, true);
    x.master.dst = tuple_address(master, false);
    x.master.sport = ntohs(nfct_get_attr_u16(master, ATTR_ORIG_PORT_SRC));
    x.master.dport = ntohs(nfct_get_attr_u16(master, ATTR_ORIG_PORT_DST));
    if (nfexp_attr_is_set(exp.get(), ATTR_EXP_HELPER_NAME))
        if (auto* name = static_cast<const char*>(nfexp_get_attr(exp.get(), ATTR_EXP_HELPER_NAME))) x.helper = name;
    return true;
}

}  // namespace

int list_expectations(NetlinkSocket& nl, std::vector<ListedExpectation>& out) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_GET;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;  // IPv4 and IPv6
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    return nl.dump(nlh, [&](const nlmsghdr* m) {
        ListedExpectation x;
        if (out.size() < kMaxListedExpectations && parse_expectation(m, x)) out.push_back(std::move(x));
    });
}

ExpectationEvents::ExpectationEvents() : nl_(NETLINK_NETFILTER), buf_(kEventBuffer) {
    for (unsigned group : {NFNLGRP_CONNTRACK_EXP_NEW, NFNLGRP_CONNTRACK_EXP_DESTROY})
        if (int e = nl_.join_group(group)) throw KernelError("cannot subscribe to ctnetlink expectation events", e);
    nl_.set_receive_buffer(kEventSocketBuffer);  // best effort: a loss is reported as ENOBUFS
}

int ExpectationEvents::read(const Callback& on_event) {
    const long n = nl_.recv(buf_, true);
    if (n < 0) return static_cast<int>(-n);
    // Events are not answers to a request: walk the messages by hand.
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data()); message_fits(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_CTNETLINK_EXP) continue;
        const int type = nlh->nlmsg_type & 0xff;
        if (type != IPCTNL_MSG_EXP_NEW && type != IPCTNL_MSG_EXP_DELETE) continue;
        ListedExpectation x;
        if (parse_expectation(nlh, x)) on_event(type == IPCTNL_MSG_EXP_NEW ? Kind::created : Kind::destroyed, x);
    }
    return 0;
}

}  // namespace tb::netfilter
