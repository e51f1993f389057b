#include "conntrack_facts.hpp"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "netfilter/ct_attrs.hpp"

namespace tb::netfilter {

// One pass over the nest with the bounds-checked attribute walker of
// ct_attrs (docs/daemon.md#figures: libnetfilter_conntrack's
// nfct_new + nfct_payload_parse, which allocates a conntrack object and
// parses every attribute the kernel sends, counters and timestamps
// included, was 44% of the daemon's work per packet). Only what
// ConntrackFacts holds is read; the reading follows libnetfilter_conntrack's
// (network byte order attributes, the same required parts), and a unit test
// compares the two on the kernel's nest shapes
// (tests/unit/daemon_conntrack_facts_test.cpp).
namespace {

using Area = std::span<const std::uint8_t>;

bool load_u8(Area p, std::uint8_t& v) {
    if (p.size() < 1) return false;
    v = p[0];
    return true;
}
bool load_be16(Area p, std::uint16_t& v) {
    if (p.size() < 2) return false;
    std::uint16_t x;
    std::memcpy(&x, p.data(), 2);
    v = ntohs(x);
    return true;
}
bool load_be32(Area p, std::uint32_t& v) {
    if (p.size() < 4) return false;
    std::uint32_t x;
    std::memcpy(&x, p.data(), 4);
    v = ntohl(x);
    return true;
}

struct TupleIn {
    IpAddress src, dst;
    std::uint8_t l4 = 0;
    bool have_l4 = false, have_sport = false;
    std::uint16_t sport = 0, dport = 0;
};

bool parse_tuple(Area area, std::uint8_t l3, TupleIn& t) {
    bool ok = true;
    const bool walked = walk_attributes(area, [&](std::uint16_t type, Area p) {
        if (type == CTA_TUPLE_IP) {
            ok = ok && walk_attributes(p, [&](std::uint16_t ip, Area a) {
                const bool v4 = ip == CTA_IP_V4_SRC || ip == CTA_IP_V4_DST;
                const bool v6 = ip == CTA_IP_V6_SRC || ip == CTA_IP_V6_DST;
                if ((v4 && l3 != AF_INET) || (v6 && l3 != AF_INET6) || (!v4 && !v6)) return;
                const std::size_t n = v4 ? 4 : 16;
                if (a.size() < n) {
                    ok = false;
                    return;
                }
                const IpAddress addr = v4 ? IpAddress::v4_bytes(a.data()) : IpAddress::v6_bytes(a.data());
                (ip == CTA_IP_V4_SRC || ip == CTA_IP_V6_SRC ? t.src : t.dst) = addr;
            });
        } else if (type == CTA_TUPLE_PROTO) {
            ok = ok && walk_attributes(p, [&](std::uint16_t pr, Area a) {
                if (pr == CTA_PROTO_NUM) ok = ok && (t.have_l4 = load_u8(a, t.l4));
                else if (pr == CTA_PROTO_SRC_PORT) ok = ok && (t.have_sport = load_be16(a, t.sport));
                else if (pr == CTA_PROTO_DST_PORT) ok = ok && load_be16(a, t.dport);
            });
        }
    });
    return walked && ok;
}

}  // namespace

std::optional<ConntrackFacts> parse_conntrack(std::span<const std::uint8_t> payload, std::uint8_t l3) {
    if (l3 != AF_INET && l3 != AF_INET6) return std::nullopt;
    ConntrackFacts f;
    f.l3 = l3;
    TupleIn orig, reply;
    bool have_orig = false, have_reply = false, ok = true;
    std::optional<std::uint32_t> status;
    const bool walked = walk_attributes(payload, [&](std::uint16_t type, Area p) {
        if (!ok) return;
        switch (type) {
            case CTA_TUPLE_ORIG: ok = !have_orig && parse_tuple(p, l3, orig); have_orig = true; break;
            case CTA_TUPLE_REPLY: ok = !have_reply && parse_tuple(p, l3, reply); have_reply = true; break;
            case CTA_ID: ok = load_be32(p, f.id); break;
            case CTA_ZONE: ok = load_be16(p, f.zone); break;
            case CTA_STATUS: {
                std::uint32_t s = 0;
                ok = load_be32(p, s);
                status = s;
                break;
            }
            case CTA_PROTOINFO:
                ok = walk_attributes(p, [&](std::uint16_t pi, Area tcp) {
                    if (pi != CTA_PROTOINFO_TCP) return;
                    ok = ok && walk_attributes(tcp, [&](std::uint16_t k, Area a) {
                        if (k != CTA_PROTOINFO_TCP_STATE) return;
                        std::uint8_t st = 0;
                        if (load_u8(a, st)) f.tcp_state = st;
                        else ok = false;
                    });
                }) && ok;
                break;
            case CTA_HELP:
                // As parse_ct_help: a malformed help nest is no help (the
                // connection is then not ours), not a malformed conntrack.
                if (!f.help) f.help = parse_ct_help_nest(p);
                break;
            default: break;
        }
    });
    if (!walked || !ok || !have_orig || !have_reply) return std::nullopt;
    if (!orig.have_l4 || !orig.have_sport || !reply.have_sport) return std::nullopt;
    f.l4 = orig.l4;
    if (f.l4 != IPPROTO_TCP && f.l4 != IPPROTO_UDP) return std::nullopt;
    if (f.l4 != IPPROTO_TCP) f.tcp_state.reset();
    f.orig = Tuple{orig.src, orig.dst, orig.sport, orig.dport};
    f.reply = Tuple{reply.src, reply.dst, reply.sport, reply.dport};
    if (f.orig.src.family == IpAddress::Family::none || f.orig.dst.family == IpAddress::Family::none ||
        f.reply.src.family == IpAddress::Family::none || f.reply.dst.family == IpAddress::Family::none)
        return std::nullopt;
    if (status) f.confirmed = (*status & IPS_CONFIRMED) != 0;
    return f;
}

}  // namespace tb::netfilter
