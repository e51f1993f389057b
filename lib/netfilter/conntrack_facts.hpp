// What the kernel says about the connection of a queued packet: the NFQA_CT
// nest (parsed with libnetfilter_conntrack, CTA_HELP by hand, see
// netfilter/ct_attrs.hpp) and NFQA_CT_INFO (the packet's direction).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "net/address.hpp"
#include "timbuktu/session.hpp"
#include "netfilter/ct_attrs.hpp"

namespace tb::netfilter {

struct Tuple {
    IpAddress src;
    IpAddress dst;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    friend bool operator==(const Tuple&, const Tuple&) = default;
};

struct ConntrackFacts {
    std::uint32_t id = 0;        // CTA_ID: stable for the conntrack's life
    std::uint16_t zone = 0;
    std::uint8_t l3 = 0;         // AF_INET / AF_INET6
    std::uint8_t l4 = 0;         // IPPROTO_TCP / IPPROTO_UDP
    Tuple orig;                  // G:gport -> D:dport
    Tuple reply;                 // H:hport -> G':g'port
    std::optional<std::uint8_t> tcp_state;  // TCP_CONNTRACK_*, when the kernel sent it
    bool confirmed = true;                  // IPS_CONFIRMED (false on a connection's first packet)
    std::optional<netfilter::CtHelp> help;      // helper name and private data

    timbuktu::ConnectionFacts engine_facts() const;
    std::string describe() const;  // "tcp 198.51.100.2:40000 -> 203.0.113.2:407"
};

// Parses an NFQA_CT payload of a packet of family `l3` (AF_INET/AF_INET6).
// nullopt when the nest lacks the tuples or names a transport we do not handle.
std::optional<ConntrackFacts> parse_conntrack(std::span<const std::uint8_t> nfqa_ct_payload, std::uint8_t l3);

// NFQA_CT_INFO value -> direction (IP_CT_IS_REPLY and above are replies).
timbuktu::PacketDirection direction_from_ctinfo(std::uint32_t ctinfo);

}  // namespace tb::netfilter
