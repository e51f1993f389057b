// One contact connection as conntrack describes it, and one packet of it:
// the engine's input besides the bytes.
#pragma once

#include <cstdint>
#include <span>

#include "net/address.hpp"
#include "timbuktu/decisions.hpp"

namespace tb::timbuktu {

// Facts about the contact connection, from conntrack: original tuple G:gport ->
// D:dport and reply tuple H:hport -> G':g'port. Without NAT, H == D and G' == G.
struct ConnectionFacts {
    Transport transport = Transport::tcp;
    IpAddress guest;           // G, original source
    std::uint16_t guest_port = 0;
    IpAddress contact_address; // D, original destination
    std::uint16_t contact_port = 0;
    IpAddress host;            // H, reply source
    IpAddress guest_translated;// G', reply destination
};

enum class PacketDirection : std::uint8_t { original, reply };  // guest->host, host->guest
constexpr Side side_of(PacketDirection d) { return d == PacketDirection::original ? Side::guest : Side::host; }

struct Packet {
    PacketDirection direction = PacketDirection::original;
    std::uint32_t tcp_seq = 0;  // sequence number of payload[0]; ignored for UDP
    std::span<const std::uint8_t> payload;  // L4 payload
    // TCP SYN flag. When the kernel layer passes the SYN (with or without
    // payload), the stream's first byte is tcp_seq + 1; otherwise the first
    // segment with payload defines the start of that direction's stream.
    bool tcp_syn = false;
};

// What NAT did to the contact connection (docs/protocol-model.md#nat-rewrites).
inline bool is_v4(const ConnectionFacts& f) {
    return f.guest.is_v4() && f.contact_address.is_v4() && f.host.is_v4();
}
inline bool dnat(const ConnectionFacts& f) {
    return f.host.family != IpAddress::Family::none && f.host != f.contact_address;
}
inline bool snat(const ConnectionFacts& f) {
    return f.guest_translated.family != IpAddress::Family::none && f.guest_translated != f.guest;
}
inline bool natted(const ConnectionFacts& f) { return dnat(f) || snat(f); }

}  // namespace tb::timbuktu
