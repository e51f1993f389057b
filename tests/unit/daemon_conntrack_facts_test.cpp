// netfilter::parse_conntrack (lib/netfilter/conntrack_facts.cpp) reads a
// queued packet's NFQA_CT nest by hand; these tests build the nest as the
// kernel's ctnetlink glue does and compare the facts with what
// libnetfilter_conntrack's parser (nfct_payload_parse, which the daemon used
// before) reads from the same bytes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <random>
#include <vector>

#include "netfilter/conntrack_facts.hpp"

using namespace tb;
using Bytes = std::vector<std::uint8_t>;

namespace {

struct NestSpec {
    std::uint8_t l3 = AF_INET;
    std::uint8_t l4 = IPPROTO_TCP;
    Bytes osrc{198, 51, 100, 2}, odst{203, 0, 113, 2}, rsrc{10, 0, 0, 5}, rdst{198, 51, 100, 2};
    std::uint16_t osport = 40000, odport = 407, rsport = 407, rdport = 40000;
    std::optional<std::uint32_t> status = IPS_CONFIRMED | IPS_SEEN_REPLY;
    std::optional<std::uint32_t> id = 0x1234abcd;
    std::optional<std::uint16_t> zone;
    std::optional<std::uint8_t> tcp_state = TCP_CONNTRACK_ESTABLISHED;
    bool help = true;
    bool reply_tuple = true;
};

void put_tuple(nlmsghdr* nlh, int type, const NestSpec& s, const Bytes& src, const Bytes& dst, std::uint16_t sport,
               std::uint16_t dport) {
    nlattr* t = mnl_attr_nest_start(nlh, type);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    const bool v4 = s.l3 == AF_INET;
    mnl_attr_put(nlh, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, src.size(), src.data());
    mnl_attr_put(nlh, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, dst.size(), dst.data());
    mnl_attr_nest_end(nlh, ip);
    nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, s.l4);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, t);
}

// The NFQA_CT payload (the CTA_* attributes), in ctnetlink_glue_build's order.
Bytes nest(const NestSpec& s) {
    std::vector<char> buf(4096);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    const std::size_t start = nlh->nlmsg_len;
    put_tuple(nlh, CTA_TUPLE_ORIG, s, s.osrc, s.odst, s.osport, s.odport);
    if (s.reply_tuple) put_tuple(nlh, CTA_TUPLE_REPLY, s, s.rsrc, s.rdst, s.rsport, s.rdport);
    if (s.zone) mnl_attr_put_u16(nlh, CTA_ZONE, htons(*s.zone));
    if (s.status) mnl_attr_put_u32(nlh, CTA_STATUS, htonl(*s.status));
    mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(431999));
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(7));
    if (s.help) {
        nlattr* h = mnl_attr_nest_start(nlh, CTA_HELP);
        mnl_attr_put_strz(nlh, CTA_HELP_NAME, "timbuktu");
        std::uint8_t info[32];
        for (int i = 0; i < 32; ++i) info[i] = static_cast<std::uint8_t>(i * 7);
        mnl_attr_put(nlh, CTA_HELP_INFO, sizeof info, info);
        mnl_attr_nest_end(nlh, h);
    }
    if (s.tcp_state) {
        nlattr* pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
        nlattr* tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, *s.tcp_state);
        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
        mnl_attr_nest_end(nlh, tcp);
        mnl_attr_nest_end(nlh, pi);
    }
    mnl_attr_put_u32(nlh, CTA_USE, htonl(1));
    if (s.id) mnl_attr_put_u32(nlh, CTA_ID, htonl(*s.id));
    return Bytes(buf.begin() + start, buf.begin() + nlh->nlmsg_len);
}

IpAddress addr(const nf_conntrack* ct, std::uint8_t l3, nf_conntrack_attr v4, nf_conntrack_attr v6) {
    if (l3 == AF_INET) {
        if (!nfct_attr_is_set(ct, v4)) return {};
        std::uint32_t be = nfct_get_attr_u32(ct, v4);
        return IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&be));
    }
    if (!nfct_attr_is_set(ct, v6)) return {};
    return IpAddress::v6_bytes(static_cast<const std::uint8_t*>(nfct_get_attr(ct, v6)));
}

// What the daemon read with libnetfilter_conntrack before (the same rules).
std::optional<helper::ConntrackFacts> reference(const Bytes& payload, std::uint8_t l3) {
    nf_conntrack* ct = nfct_new();
    REQUIRE(ct);
    struct Free {
        nf_conntrack* c;
        ~Free() { nfct_destroy(c); }
    } guard{ct};
    if (nfct_payload_parse(payload.data(), payload.size(), l3, ct) < 0) return std::nullopt;
    if (!nfct_attr_is_set(ct, ATTR_ORIG_L4PROTO) || !nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) ||
        !nfct_attr_is_set(ct, ATTR_REPL_PORT_SRC))
        return std::nullopt;
    helper::ConntrackFacts f;
    f.l3 = l3;
    f.l4 = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
    if (f.l4 != IPPROTO_TCP && f.l4 != IPPROTO_UDP) return std::nullopt;
    f.orig.src = addr(ct, l3, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC);
    f.orig.dst = addr(ct, l3, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
    f.reply.src = addr(ct, l3, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
    f.reply.dst = addr(ct, l3, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST);
    if (f.orig.src.family == IpAddress::Family::none || f.orig.dst.family == IpAddress::Family::none ||
        f.reply.src.family == IpAddress::Family::none || f.reply.dst.family == IpAddress::Family::none)
        return std::nullopt;
    f.orig.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
    f.orig.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    f.reply.sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
    f.reply.dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
    if (nfct_attr_is_set(ct, ATTR_ID)) f.id = nfct_get_attr_u32(ct, ATTR_ID);
    if (nfct_attr_is_set(ct, ATTR_ZONE)) f.zone = nfct_get_attr_u16(ct, ATTR_ZONE);
    if (f.l4 == IPPROTO_TCP && nfct_attr_is_set(ct, ATTR_TCP_STATE)) f.tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
    if (nfct_attr_is_set(ct, ATTR_STATUS)) f.confirmed = (nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_CONFIRMED) != 0;
    f.help = netfilter::parse_ct_help(payload);
    return f;
}

void same(const helper::ConntrackFacts& a, const helper::ConntrackFacts& b) {
    CHECK(a.id == b.id);
    CHECK(a.zone == b.zone);
    CHECK(a.l3 == b.l3);
    CHECK(a.l4 == b.l4);
    CHECK(a.orig == b.orig);
    CHECK(a.reply == b.reply);
    CHECK(a.tcp_state == b.tcp_state);
    CHECK(a.confirmed == b.confirmed);
    REQUIRE(a.help.has_value() == b.help.has_value());
    if (a.help) {
        CHECK(a.help->name == b.help->name);
        CHECK(a.help->info == b.help->info);
        CHECK(a.help->has_info == b.help->has_info);
    }
}

}  // namespace

TEST_CASE("parse_conntrack reads the kernel's nest as libnetfilter_conntrack does", "[daemon][conntrack]") {
    NestSpec v4;
    NestSpec v6;
    v6.l3 = AF_INET6;
    v6.l4 = IPPROTO_UDP;
    v6.tcp_state.reset();
    v6.osrc = v6.rdst = Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    v6.odst = v6.rsrc = Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    NestSpec unconfirmed;
    unconfirmed.status = IPS_SEEN_REPLY;
    unconfirmed.zone = 3;
    NestSpec bare;  // no status, id, TCP state or helper
    bare.status.reset();
    bare.id.reset();
    bare.tcp_state.reset();
    bare.help = false;
    NestSpec udp_with_state = v4;  // a TCP state on UDP is not read
    udp_with_state.l4 = IPPROTO_UDP;
    for (const NestSpec* s : {&v4, &v6, &unconfirmed, &bare, &udp_with_state}) {
        const Bytes n = nest(*s);
        auto mine = netfilter::parse_conntrack(n, s->l3);
        auto ref = reference(n, s->l3);
        REQUIRE(mine.has_value());
        REQUIRE(ref.has_value());
        same(*mine, *ref);
    }
    auto f = netfilter::parse_conntrack(nest(v4), AF_INET);
    REQUIRE(f);
    CHECK(f->id == 0x1234abcd);
    CHECK(f->orig.sport == 40000);
    CHECK(f->reply.src == IpAddress::v4(0x0A000005));
    CHECK(f->tcp_state == TCP_CONNTRACK_ESTABLISHED);
    CHECK(f->confirmed);
    REQUIRE(f->help);
    CHECK(f->help->name == "timbuktu");
    CHECK(f->help->info.size() == 32);
    CHECK(netfilter::parse_conntrack(nest(unconfirmed), AF_INET)->zone == 3);
    CHECK_FALSE(netfilter::parse_conntrack(nest(unconfirmed), AF_INET)->confirmed);
}

TEST_CASE("parse_conntrack refuses what libnetfilter_conntrack's reading refused", "[daemon][conntrack]") {
    NestSpec no_reply;
    no_reply.reply_tuple = false;
    NestSpec sctp;
    sctp.l4 = IPPROTO_SCTP;
    NestSpec v4;
    for (auto [s, l3] : {std::pair{&no_reply, AF_INET}, std::pair{&sctp, AF_INET}, std::pair{&v4, AF_INET6}}) {
        const Bytes n = nest(*s);
        CHECK_FALSE(reference(n, static_cast<std::uint8_t>(l3)).has_value());
        CHECK_FALSE(netfilter::parse_conntrack(n, static_cast<std::uint8_t>(l3)).has_value());
    }
    // Cut anywhere, or bytes flipped: never read past the end (ASan in the
    // fuzzer, fuzz_ct_attrs, checks the same), and a nest cut before its reply
    // tuple is refused. (libnetfilter_conntrack cannot be the reference here:
    // on some malformed nests it prints "ctnetlink kernel ABI is broken" and
    // exits the process.)
    const Bytes whole = nest(v4);
    std::size_t accepted = 0;
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
        const Bytes part(whole.begin(), whole.begin() + static_cast<long>(cut));
        accepted += netfilter::parse_conntrack(part, AF_INET).has_value();
    }
    CHECK(accepted < whole.size() / 2);  // the reply tuple ends halfway or later
    std::mt19937 rng(14);
    for (int round = 0; round < 3000; ++round) {
        Bytes b = whole;
        for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
        auto mine = netfilter::parse_conntrack(b, AF_INET);
        if (mine) CHECK((mine->l4 == IPPROTO_TCP || mine->l4 == IPPROTO_UDP));
    }
}
