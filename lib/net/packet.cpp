#include "net/packet.hpp"

#include <netinet/in.h>

#include <cstring>

namespace tb::net {

namespace {

constexpr std::uint8_t kProtoTcp = IPPROTO_TCP, kProtoUdp = IPPROTO_UDP;

std::uint32_t fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

std::uint16_t swap16(std::uint16_t v) { return static_cast<std::uint16_t>((v << 8) | (v >> 8)); }

// The failure and, when asked for, why.
ParseError short_of(ParseDetail* d, const char* what, std::size_t need, std::size_t have) {
    if (d) *d = ParseDetail{what, need, have, false};
    return ParseError::truncated;
}
ParseError bad_field(ParseDetail* d, const char* what, std::size_t bound, std::size_t value) {
    if (d) *d = ParseDetail{what, bound, value, true};
    return ParseError::truncated;
}

ParseError parse_l4(std::span<const std::uint8_t> pkt, std::size_t l4, std::size_t end, std::uint8_t proto,
                    ParsedPacket& out, ParseDetail* d) {
    out.l4proto = proto;
    out.l4_offset = l4;
    if (proto == kProtoTcp) {
        if (end - l4 < 20) return short_of(d, "TCP header", 20, end - l4);
        const std::uint8_t* t = pkt.data() + l4;
        std::size_t doff = std::size_t{static_cast<std::uint8_t>(t[12] >> 4)} * 4;
        if (doff < 20) return bad_field(d, "TCP header length", 20, doff);
        if (doff > end - l4) return bad_field(d, "TCP header length", end - l4, doff);  // longer than its segment
        out.sport = load_be16(t);
        out.dport = load_be16(t + 2);
        out.tcp_seq = load_be32(t + 4);
        out.tcp_flags = t[13];
        out.checksum_offset = l4 + 16;
        out.payload_offset = l4 + doff;
        out.payload_length = end - out.payload_offset;
        return ParseError::none;
    }
    if (proto == kProtoUdp) {
        if (end - l4 < 8) return short_of(d, "UDP header", 8, end - l4);
        const std::uint8_t* u = pkt.data() + l4;
        std::size_t ulen = load_be16(u + 4);
        if (ulen < 8) return bad_field(d, "UDP length", 8, ulen);
        if (ulen > end - l4) return bad_field(d, "UDP length", end - l4, ulen);  // longer than the IP payload
        out.sport = load_be16(u);
        out.dport = load_be16(u + 2);
        out.checksum_offset = l4 + 6;
        out.payload_offset = l4 + 8;
        out.payload_length = ulen - 8;
        return ParseError::none;
    }
    return ParseError::not_tcp_udp;
}

// End of the L4 segment the checksum covers.
std::size_t l4_end(const ParsedPacket& p) { return p.payload_offset + p.payload_length; }

}  // namespace

std::string parse_error_name(ParseError e) {
    switch (e) {
        case ParseError::none: return "none";
        case ParseError::truncated: return "truncated";
        case ParseError::bad_version: return "not IPv4/IPv6";
        case ParseError::fragment: return "fragment";
        case ParseError::not_tcp_udp: return "not TCP/UDP";
    }
    return "unknown";
}

bool fit_length_to_copy(std::span<std::uint8_t> copy) {
    if (copy.empty() || copy.size() > 0xffff) return false;
    const std::uint8_t version = copy[0] >> 4;
    std::size_t length = 0, at = 0;
    if (version == 4 && copy.size() >= 20) length = copy.size(), at = 2;
    else if (version == 6 && copy.size() >= 40) length = copy.size() - 40, at = 4;
    else return false;
    copy[at] = static_cast<std::uint8_t>(length >> 8);
    copy[at + 1] = static_cast<std::uint8_t>(length);
    return true;
}

ParseError parse_packet(std::span<const std::uint8_t> pkt, ParsedPacket& out, ParseDetail* d) {
    out = ParsedPacket{};
    if (pkt.empty()) return short_of(d, "IP header", 1, 0);
    const std::uint8_t version = pkt[0] >> 4;
    if (version == 4) {
        if (pkt.size() < 20) return short_of(d, "IPv4 header", 20, pkt.size());
        std::size_t ihl = std::size_t{static_cast<std::uint8_t>(pkt[0] & 0x0f)} * 4;
        std::size_t total = load_be16(pkt.data() + 2);
        if (ihl < 20) return bad_field(d, "IPv4 header length", 20, ihl);
        if (total < ihl) return bad_field(d, "IPv4 total length", ihl, total);
        if (ihl > pkt.size()) return short_of(d, "IPv4 header", ihl, pkt.size());
        if ((load_be16(pkt.data() + 6) & 0x3fff) != 0) return ParseError::fragment;  // MF or offset
        if (total > pkt.size()) return short_of(d, "IPv4 packet", total, pkt.size());
        out.src = IpAddress::v4_bytes(pkt.data() + 12);
        out.dst = IpAddress::v4_bytes(pkt.data() + 16);
        return parse_l4(pkt, ihl, total, pkt[9], out, d);
    }
    if (version == 6) {
        if (pkt.size() < 40) return short_of(d, "IPv6 header", 40, pkt.size());
        std::size_t end = 40 + std::size_t{load_be16(pkt.data() + 4)};
        if (end == 40) return bad_field(d, "IPv6 payload length (0: jumbogram)", 1, 0);  // not ours
        if (end > pkt.size()) return short_of(d, "IPv6 packet", end, pkt.size());
        out.src = IpAddress::v6_bytes(pkt.data() + 8);
        out.dst = IpAddress::v6_bytes(pkt.data() + 24);
        std::uint8_t next = pkt[6];
        std::size_t off = 40;
        // The whole chain, however long, as the kernel's ipv6_skip_exthdr walks
        // it: conntrack tracks a packet behind any number of extension headers,
        // so a count limit here would let a guest hide segments from the engine
        // (docs/daemon.md#trust). Each header takes at least 8 bytes of the
        // packet, so the walk is bounded by the packet's length.
        for (;;) {
            switch (next) {
                case kProtoTcp:
                case kProtoUdp: return parse_l4(pkt, off, end, next, out, d);
                case IPPROTO_HOPOPTS:
                case IPPROTO_ROUTING:
                case IPPROTO_DSTOPTS: {
                    if (end - off < 8) return short_of(d, "IPv6 extension header", 8, end - off);
                    std::size_t len = (std::size_t{pkt[off + 1]} + 1) * 8;
                    if (len > end - off) return short_of(d, "IPv6 extension header", len, end - off);
                    next = pkt[off];
                    off += len;
                    break;
                }
                case IPPROTO_AH: {  // its length counts 4-byte words, less 2
                    if (end - off < 8) return short_of(d, "IPv6 authentication header", 8, end - off);
                    std::size_t len = (std::size_t{pkt[off + 1]} + 2) * 4;
                    if (len > end - off) return short_of(d, "IPv6 authentication header", len, end - off);
                    next = pkt[off];
                    off += len;
                    break;
                }
                case IPPROTO_FRAGMENT: return ParseError::fragment;
                case IPPROTO_NONE: return ParseError::not_tcp_udp;  // no next header: no transport at all
                default: return ParseError::not_tcp_udp;
            }
        }
    }
    if (d) *d = ParseDetail{"IP version", 0, version, true};
    return ParseError::bad_version;
}

std::uint16_t ones_sum(std::span<const std::uint8_t> data, bool odd_start) {
    std::uint32_t sum = 0;
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2) sum += load_be16(data.data() + i);
    if (i < data.size()) sum += std::uint32_t{data[i]} << 8;
    auto folded = static_cast<std::uint16_t>(fold(sum));
    // RFC 1071: summing a byte-shifted sequence gives the byte-swapped sum.
    return odd_start ? swap16(folded) : folded;
}

std::uint16_t l4_checksum(std::span<const std::uint8_t> pkt, const ParsedPacket& p) {
    std::uint32_t sum = 0;
    const std::size_t len = l4_end(p) - p.l4_offset;
    if (p.src.is_v4()) {
        sum += ones_sum(std::span(p.src.bytes.data(), 4));
        sum += ones_sum(std::span(p.dst.bytes.data(), 4));
        sum += p.l4proto;
        sum += static_cast<std::uint32_t>(len);
    } else {
        sum += ones_sum(std::span(p.src.bytes.data(), 16));
        sum += ones_sum(std::span(p.dst.bytes.data(), 16));
        sum += static_cast<std::uint32_t>(len >> 16) + static_cast<std::uint32_t>(len & 0xffff);
        sum += p.l4proto;
    }
    // The checksum field itself counts as zero; it sits at an even offset of the
    // segment (16 for TCP, 6 for UDP), so both pieces start word-aligned.
    sum += ones_sum(pkt.subspan(p.l4_offset, p.checksum_offset - p.l4_offset));
    sum += ones_sum(pkt.subspan(p.checksum_offset + 2, l4_end(p) - p.checksum_offset - 2));
    auto c = static_cast<std::uint16_t>(~fold(sum));
    if (p.l4proto == kProtoUdp && c == 0) c = 0xffff;  // 0 means "no checksum" for UDP
    return c;
}

RewriteResult rewrite_payload4(std::span<std::uint8_t> pkt, const ParsedPacket& p, std::size_t payload_pos,
                               const std::array<std::uint8_t, 4>& old_bytes,
                               const std::array<std::uint8_t, 4>& new_bytes) {
    if (payload_pos > p.payload_length || p.payload_length - payload_pos < 4 || l4_end(p) > pkt.size() ||
        p.checksum_offset + 2 > pkt.size())
        return RewriteResult::out_of_range;
    std::uint8_t* at = pkt.data() + p.payload_offset + payload_pos;
    if (std::memcmp(at, old_bytes.data(), 4) != 0) return RewriteResult::mismatch;
    std::memcpy(at, new_bytes.data(), 4);

    std::uint8_t* cks = pkt.data() + p.checksum_offset;
    const std::uint16_t old_check = load_be16(cks);
    if (p.l4proto == kProtoUdp && p.src.is_v4() && old_check == 0) return RewriteResult::done;  // no checksum
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), with m and m' the sums of the old
    // and new bytes at their word alignment inside the segment.
    const bool odd = ((p.payload_offset - p.l4_offset + payload_pos) & 1) != 0;
    const std::uint16_t m = ones_sum(old_bytes, odd);
    const std::uint16_t m2 = ones_sum(new_bytes, odd);
    std::uint32_t sum = static_cast<std::uint16_t>(~old_check) + std::uint32_t{static_cast<std::uint16_t>(~m)} + m2;
    auto c = static_cast<std::uint16_t>(~fold(sum));
    if (p.l4proto == kProtoUdp && c == 0) c = 0xffff;
    store_be16(cks, c);
    return RewriteResult::done;
}

}  // namespace tb::net
