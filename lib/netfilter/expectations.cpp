#include "expectations.hpp"
#include "netfilter/c_handle.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

namespace tb::netfilter {

namespace {

using CtPtr = CHandle<nf_conntrack, nfct_destroy>;
using ExpPtr = CHandle<nf_expect, nfexp_destroy>;

// The kernel's expectation function that gives an expected connection its
// master's NAT (nf_nat_core registers it).
constexpr const char* kNatFollowMaster = "nat-follow-master";

CtPtr new_ct() {
    CtPtr ct(nfct_new());
    if (!ct) throw std::bad_alloc();
    return ct;
}

void set_addrs(nf_conntrack* ct, std::uint8_t l3, const IpAddress& src, const IpAddress& dst) {
    nfct_set_attr_u8(ct, ATTR_L3PROTO, l3);
    if (l3 == AF_INET) {
        std::uint32_t s, d;
        std::memcpy(&s, src.bytes.data(), 4);
        std::memcpy(&d, dst.bytes.data(), 4);
        nfct_set_attr_u32(ct, ATTR_IPV4_SRC, s);
        nfct_set_attr_u32(ct, ATTR_IPV4_DST, d);
    } else {
        nfct_set_attr(ct, ATTR_IPV6_SRC, src.bytes.data());
        nfct_set_attr(ct, ATTR_IPV6_DST, dst.bytes.data());
    }
}

void set_ports(nf_conntrack* ct, std::uint8_t l4, std::uint16_t sport_be, std::uint16_t dport_be) {
    nfct_set_attr_u8(ct, ATTR_L4PROTO, l4);
    nfct_set_attr_u16(ct, ATTR_PORT_SRC, sport_be);
    nfct_set_attr_u16(ct, ATTR_PORT_DST, dport_be);
}

IpAddress all_ones(std::uint8_t l3) {
    IpAddress a;
    a.family = l3 == AF_INET ? IpAddress::Family::v4 : IpAddress::Family::v6;
    a.bytes.fill(0xff);
    return a;
}

void put_tuple(nlmsghdr* nlh, std::uint16_t type, std::uint8_t l3, const IpAddress& src, const IpAddress& dst,
               std::uint8_t l4, std::uint16_t sport, std::uint16_t dport) {
    nlattr* tuple = mnl_attr_nest_start(nlh, type);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    if (l3 == AF_INET) {
        mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, src.bytes.data());
        mnl_attr_put(nlh, CTA_IP_V4_DST, 4, dst.bytes.data());
    } else {
        mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, src.bytes.data());
        mnl_attr_put(nlh, CTA_IP_V6_DST, 16, dst.bytes.data());
    }
    mnl_attr_nest_end(nlh, ip);
    nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, l4);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, tuple);
}

// CTA_EXPECT_FN "nat-follow-master" and the CTA_EXPECT_NAT it depends on.
// nat-follow-master maps the new connection's source to where the master's
// replies go (G') and its destination to where they come from (H), read from
// the master's tuple opposite to the expectation's direction, and the
// destination port to the saved one. ctnetlink sets that direction and port
// only from CTA_EXPECT_NAT; without it they are left uninitialised. Direction
// ORIGINAL: the stream goes the way the contact went (guest to host), so the
// master's reply tuple supplies H and G'. The saved port is the offered one:
// the host listens where it said (the forward maps addresses, not ports).
void append_nat_follow(nlmsghdr* nlh, const ConntrackFacts& master, std::uint8_t l4, const timbuktu::Expect& e) {
    mnl_attr_put_strz(nlh, CTA_EXPECT_FN, kNatFollowMaster);
    nlattr* nat = mnl_attr_nest_start(nlh, CTA_EXPECT_NAT);
    mnl_attr_put_u32(nlh, CTA_EXPECT_NAT_DIR, htonl(IP_CT_DIR_ORIGINAL));
    // saved_addr = tuple source address (unused by nat-follow-master),
    // saved_proto = tuple source port.
    put_tuple(nlh, CTA_EXPECT_NAT_TUPLE, master.l3, master.reply.src, e.address, l4, e.port, e.port);
    mnl_attr_nest_end(nlh, nat);
}

}  // namespace

ExpectationMaker::ExpectationMaker() : nl_(NETLINK_NETFILTER) { nl_.set_receive_timeout_ms(1000); }

int ExpectationMaker::send(const ConntrackFacts& master, const timbuktu::Expect& e, bool create, bool with_fn,
                           std::uint32_t timeout) {
    const std::uint8_t l4 = e.transport == Transport::tcp ? IPPROTO_TCP : IPPROTO_UDP;

    auto m = new_ct();  // the master: this contact connection, by its original tuple
    set_addrs(m.get(), master.l3, master.orig.src, master.orig.dst);
    set_ports(m.get(), master.l4, htons(master.orig.sport), htons(master.orig.dport));

    auto x = new_ct();  // the expected stream: G, any port -> D, offered port
    set_addrs(x.get(), master.l3, e.guest, e.address);
    set_ports(x.get(), l4, 0, htons(e.port));

    auto k = new_ct();  // mask: addresses exact, source port any, destination port exact
    set_addrs(k.get(), master.l3, all_ones(master.l3), all_ones(master.l3));
    set_ports(k.get(), l4, 0, 0xffff);

    ExpPtr exp(nfexp_new());
    if (!exp) throw std::bad_alloc();
    nfexp_set_attr(exp.get(), ATTR_EXP_MASTER, m.get());
    nfexp_set_attr(exp.get(), ATTR_EXP_EXPECTED, x.get());
    nfexp_set_attr(exp.get(), ATTR_EXP_MASK, k.get());
    nfexp_set_attr_u32(exp.get(), ATTR_EXP_TIMEOUT, timeout);
    // No helper name: that would attach the timbuktu helper to the expected
    // (data) connection. Class 0 and no flags are the kernel's defaults.
    if (master.zone) nfexp_set_attr_u16(exp.get(), ATTR_EXP_ZONE, master.zone);

    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_NEW;
    // NEW with CREATE and without EXCL: create, or, when an expectation of this
    // tuple exists, update its timeout (ctnetlink_change_expect). Without
    // CREATE: only the update.
    nlh->nlmsg_flags = NLM_F_REQUEST | (create ? NLM_F_CREATE : 0);
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = master.l3;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    if (nfexp_nlmsg_build(nlh, exp.get()) < 0) return EINVAL;
    // libnetfilter_conntrack 1.0.9's nfexp_nlmsg_build silently omits
    // CTA_EXPECT_FN and CTA_EXPECT_NAT (verified by dumping its message), so
    // those two are appended here.
    if (with_fn) append_nat_follow(nlh, master, l4, e);
    return nl_.request(nlh);
}

int ExpectationMaker::create(const ConntrackFacts& master, const timbuktu::Expect& e, std::uint32_t policy_timeout,
                             int& timeout_error) {
    timeout_error = 0;
    if (e.guest.family != e.address.family ||
        (master.l3 == AF_INET) != e.address.is_v4())
        return EAFNOSUPPORT;
    // With NAT following or without, one message: a NATed master's
    // expectation is never retried without its NAT attributes
    // (expect_outcome.hpp, docs/daemon.md#nat-no-fallback).
    const bool with_fn = e.follow_nat;
    int err = send(master, e, true, with_fn, e.timeout_seconds);
    if (err) return err;
    // A new expectation got the policy's timeout; a shorter one from the offer's
    // lifetime hint is applied by updating the (now existing) expectation.
    if (e.timeout_seconds != policy_timeout) {
        timeout_error = send(master, e, false, with_fn, e.timeout_seconds);
    }
    const CreatedExpectation c{expected_stream(e), e.service, static_cast<std::int64_t>(std::time(nullptr))};
    // A refreshed offer replaces its older entry in the table too.
    std::erase_if(recent_, [&](const CreatedExpectation& x) { return x.same_stream(c); });
    recent_.push_back(c);
    while (recent_.size() > kRecentLimit) recent_.pop_front();
    return 0;
}

}  // namespace tb::netfilter
