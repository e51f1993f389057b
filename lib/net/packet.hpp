// Pure packet code for tbhelperd: the IPv4/IPv6 + TCP/UDP header walk that
// finds the L4 payload of a queued packet, and the same-length payload rewrite
// with an incremental checksum fix (RFC 1624). No sockets, no libraries, so the
// unit tests and the fuzzers can reach it.
#pragma once

#include <netinet/tcp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "net/address.hpp"

namespace tb::net {

struct ParsedPacket {
    IpAddress src;
    IpAddress dst;
    std::uint8_t l4proto = 0;      // IPPROTO_TCP / IPPROTO_UDP
    std::size_t l4_offset = 0;     // start of the TCP/UDP header in the packet
    std::size_t payload_offset = 0;
    std::size_t payload_length = 0;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    std::uint32_t tcp_seq = 0;
    std::uint8_t tcp_flags = 0;    // TH_FIN, TH_SYN, TH_RST ... (<netinet/tcp.h>)
    std::size_t checksum_offset = 0;  // of the L4 checksum field
};

constexpr std::uint8_t kTcpFin = TH_FIN, kTcpSyn = TH_SYN, kTcpRst = TH_RST;

enum class ParseError {
    none,
    truncated,      // shorter than its own headers or length fields say
    bad_version,    // not IPv4 / IPv6
    fragment,       // a fragment (conntrack reassembles before helpers; never expected here)
    not_tcp_udp,    // other transport, or an IPv6 extension chain we do not walk
};
std::string parse_error_name(ParseError e);

// Why a packet was not parsed, as data for whoever explains it (tbhelperctl
// analyze says "TCP header needs 20 bytes, 12 captured"; the daemon only
// counts). `what` names the header or field (a static string);
// for a short buffer (`bad_field` false) `need` bytes were needed and `have`
// were there; for a field that contradicts the packet (`bad_field` true),
// `have` is the field's value and `need` the bound it broke. For
// bad_version, `have` is the version nibble.
struct ParseDetail {
    const char* what = "";
    std::size_t need = 0;
    std::size_t have = 0;
    bool bad_field = false;
};

// Walks the headers of `packet` (starting at the IP header). On success fills
// `out` and returns ParseError::none. Every offset it returns lies inside the
// packet; payload_offset + payload_length <= packet.size(). On failure, and
// when `detail` is given, says why there. tbhelperd and tbhelperctl analyze
// both decode with this one function (docs/architecture.md).
ParseError parse_packet(std::span<const std::uint8_t> packet, ParsedPacket& out, ParseDetail* detail = nullptr);

// A copy cut short (NFQUEUE copies at most 65531 bytes; a GSO super-packet
// can be longer, BIG TCP ones say 0 in their length field): sets the IPv4
// total length or the IPv6 payload length to what `copy` holds, so that
// parse_packet reads its headers and the payload that was copied. False
// when it is neither IPv4 nor IPv6 or too short for the fixed header.
bool fit_length_to_copy(std::span<std::uint8_t> copy);

// RFC 1071 one's-complement sum of `data`, folded to 16 bits, as if `data`
// started at an even (odd_start == false) or odd offset of the summed region.
std::uint16_t ones_sum(std::span<const std::uint8_t> data, bool odd_start = false);

// The full L4 checksum of a parsed packet (pseudo-header included), as the
// wire would carry it; for tests and for verifying a rewrite.
std::uint16_t l4_checksum(std::span<const std::uint8_t> packet, const ParsedPacket& p);

enum class RewriteResult { done, out_of_range, mismatch };

// Replaces 4 bytes at `payload_pos` of the L4 payload, if they still hold
// `old_bytes`, and fixes the L4 checksum incrementally so that a checksum that
// was wrong stays wrong (we must not launder corrupt packets). An IPv4 UDP
// checksum of 0 ("none") stays 0. The IP header does not change: same length.
RewriteResult rewrite_payload4(std::span<std::uint8_t> packet, const ParsedPacket& p, std::size_t payload_pos,
                               const std::array<std::uint8_t, 4>& old_bytes,
                               const std::array<std::uint8_t, 4>& new_bytes);

}  // namespace tb::net
