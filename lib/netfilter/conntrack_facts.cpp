#include "conntrack_facts.hpp"
#include "netfilter/c_handle.hpp"

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>

namespace tb::netfilter {

namespace {

using CtPtr = CHandle<nf_conntrack, nfct_destroy>;

IpAddress addr_of(const nf_conntrack* ct, std::uint8_t l3, nf_conntrack_attr v4, nf_conntrack_attr v6) {
    if (l3 == AF_INET) {
        if (!nfct_attr_is_set(ct, v4)) return {};
        std::uint32_t be = nfct_get_attr_u32(ct, v4);
        return IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&be));
    }
    if (!nfct_attr_is_set(ct, v6)) return {};
    return IpAddress::v6_bytes(static_cast<const std::uint8_t*>(nfct_get_attr(ct, v6)));
}

}  // namespace

std::optional<ConntrackFacts> parse_conntrack(std::span<const std::uint8_t> payload, std::uint8_t l3) {
    CtPtr ct(nfct_new());
    if (!ct) return std::nullopt;
    if (nfct_payload_parse(payload.data(), payload.size(), l3, ct.get()) < 0) return std::nullopt;
    ConntrackFacts f;
    f.l3 = l3;
    if (!nfct_attr_is_set(ct.get(), ATTR_ORIG_L4PROTO) || !nfct_attr_is_set(ct.get(), ATTR_ORIG_PORT_SRC) ||
        !nfct_attr_is_set(ct.get(), ATTR_REPL_PORT_SRC))
        return std::nullopt;
    f.l4 = nfct_get_attr_u8(ct.get(), ATTR_ORIG_L4PROTO);
    if (f.l4 != IPPROTO_TCP && f.l4 != IPPROTO_UDP) return std::nullopt;
    f.orig.src = addr_of(ct.get(), l3, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC);
    f.orig.dst = addr_of(ct.get(), l3, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
    f.reply.src = addr_of(ct.get(), l3, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
    f.reply.dst = addr_of(ct.get(), l3, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST);
    if (f.orig.src.family == IpAddress::Family::none || f.orig.dst.family == IpAddress::Family::none ||
        f.reply.src.family == IpAddress::Family::none || f.reply.dst.family == IpAddress::Family::none)
        return std::nullopt;
    f.orig.sport = ntohs(nfct_get_attr_u16(ct.get(), ATTR_ORIG_PORT_SRC));
    f.orig.dport = ntohs(nfct_get_attr_u16(ct.get(), ATTR_ORIG_PORT_DST));
    f.reply.sport = ntohs(nfct_get_attr_u16(ct.get(), ATTR_REPL_PORT_SRC));
    f.reply.dport = ntohs(nfct_get_attr_u16(ct.get(), ATTR_REPL_PORT_DST));
    if (nfct_attr_is_set(ct.get(), ATTR_ID)) f.id = nfct_get_attr_u32(ct.get(), ATTR_ID);
    if (nfct_attr_is_set(ct.get(), ATTR_ZONE)) f.zone = nfct_get_attr_u16(ct.get(), ATTR_ZONE);
    if (f.l4 == IPPROTO_TCP && nfct_attr_is_set(ct.get(), ATTR_TCP_STATE))
        f.tcp_state = nfct_get_attr_u8(ct.get(), ATTR_TCP_STATE);
    if (nfct_attr_is_set(ct.get(), ATTR_STATUS))
        f.confirmed = (nfct_get_attr_u32(ct.get(), ATTR_STATUS) & IPS_CONFIRMED) != 0;
    f.help = netfilter::parse_ct_help(payload);
    return f;
}

}  // namespace tb::netfilter
