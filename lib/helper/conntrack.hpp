// What the kernel says about the connection of a queued packet, as plain
// values: the tuples, the conntrack id, whether it is confirmed, its TCP
// state and the helper's name and private data. tbhelperd fills it from the
// NFQA_CT nest (lib/netfilter/conntrack_facts.cpp, libnetfilter_conntrack);
// tbhelperctl analyze synthesizes it per captured flow; the helper runtime
// (helper/runtime.hpp) reads only this.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "net/address.hpp"
#include "netfilter/ct_attrs.hpp"  // CtHelp: pure (no netfilter library behind it)
#include "timbuktu/session.hpp"

namespace tb::helper {

struct Tuple {
    IpAddress src;
    IpAddress dst;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    friend bool operator==(const Tuple&, const Tuple&) = default;
};

using CtHelp = netfilter::CtHelp;

struct ConntrackFacts {
    std::uint32_t id = 0;        // CTA_ID: stable for the conntrack's life
    std::uint16_t zone = 0;
    std::uint8_t l3 = 0;         // AF_INET / AF_INET6
    std::uint8_t l4 = 0;         // IPPROTO_TCP / IPPROTO_UDP
    Tuple orig;                  // G:gport -> D:dport
    Tuple reply;                 // H:hport -> G':g'port
    std::optional<std::uint8_t> tcp_state;  // TCP_CONNTRACK_*, when the kernel sent it
    bool confirmed = true;                  // IPS_CONFIRMED (false on a connection's first packet)
    std::optional<CtHelp> help;             // helper name and private data

    timbuktu::ConnectionFacts engine_facts() const;
    std::string describe() const;  // "tcp 198.51.100.2:40000 -> 203.0.113.2:407"
};

// The kernel's TCP states after which the connection carries no more data
// (TCP_CONNTRACK_TIME_WAIT, TCP_CONNTRACK_CLOSE).
bool tcp_state_closed(std::uint8_t tcp_state);

// NFQA_CT_INFO value -> direction (IP_CT_IS_REPLY and above are replies).
timbuktu::PacketDirection direction_from_ctinfo(std::uint32_t ctinfo);


}  // namespace tb::helper
