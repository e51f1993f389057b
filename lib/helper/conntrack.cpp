#include "helper/conntrack.hpp"

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>

#include <fmt/format.h>

namespace tb::helper {

bool tcp_state_closed(std::uint8_t s) { return s == TCP_CONNTRACK_TIME_WAIT || s == TCP_CONNTRACK_CLOSE; }

timbuktu::PacketDirection direction_from_ctinfo(std::uint32_t ctinfo) {
    // enum ip_conntrack_info: the reply variants are IP_CT_IS_REPLY and above.
    return ctinfo >= IP_CT_IS_REPLY ? timbuktu::PacketDirection::reply : timbuktu::PacketDirection::original;
}

timbuktu::ConnectionFacts ConntrackFacts::engine_facts() const {
    timbuktu::ConnectionFacts e;
    e.transport = l4 == IPPROTO_TCP ? Transport::tcp : Transport::udp;
    e.guest = orig.src;
    e.guest_port = orig.sport;
    e.contact_address = orig.dst;
    e.contact_port = orig.dport;
    e.host = reply.src;
    e.guest_translated = reply.dst;
    return e;
}

std::string ConntrackFacts::describe() const {
    std::string s = fmt::format("{} {} -> {}", l4 == IPPROTO_TCP ? "tcp" : "udp", format_endpoint(orig.src, orig.sport),
                                format_endpoint(orig.dst, orig.dport));
    if (reply.src != orig.dst || reply.sport != orig.dport)
        s += fmt::format(" (host {})", format_endpoint(reply.src, reply.sport));
    if (reply.dst != orig.src || reply.dport != orig.sport)
        s += fmt::format(" (guest seen as {})", format_endpoint(reply.dst, reply.dport));
    return s;
}

}  // namespace tb::helper
