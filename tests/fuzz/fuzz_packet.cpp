// libFuzzer target: the packet-header walk of tbhelperd (lib/net/packet.cpp):
// IPv4 and IPv6 with extension headers and AH, then TCP or UDP. Whatever it
// accepts, every offset it returns lies inside the packet; the checksum and
// the same-length rewrite never read or write outside it, and a rewrite that
// is undone gives the original bytes back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "invariant.hpp"
#include "net/packet.hpp"

using namespace tb;
using namespace tb::net;


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::uint8_t> pkt(data, data + size);
    ParsedPacket p;
    const ParseError err = parse_packet(pkt, p);
    INVARIANT(!parse_error_name(err).empty());
    if (err != ParseError::none) return 0;
    INVARIANT(p.l4proto == 6 || p.l4proto == 17);
    INVARIANT(p.l4_offset < pkt.size());
    INVARIANT(p.payload_offset >= p.l4_offset);
    INVARIANT(p.payload_offset <= pkt.size());
    INVARIANT(p.payload_length <= pkt.size() - p.payload_offset);
    INVARIANT(p.checksum_offset + 2 <= p.payload_offset);
    INVARIANT(p.src.family == p.dst.family);

    const std::uint16_t sum = l4_checksum(pkt, p);
    (void)sum;
    if (p.payload_length >= 4) {
        // Rewrite the first and the last 4 payload bytes, then undo it.
        const std::vector<std::uint8_t> original = pkt;
        for (std::size_t pos : {std::size_t{0}, p.payload_length - 4}) {
            std::array<std::uint8_t, 4> old_bytes{};
            for (int i = 0; i < 4; ++i) old_bytes[i] = pkt[p.payload_offset + pos + i];
            const std::array<std::uint8_t, 4> new_bytes{0xc6, 0x33, 0x64, 0x4d};
            INVARIANT(rewrite_payload4(pkt, p, pos, old_bytes, new_bytes) == RewriteResult::done);
            INVARIANT(rewrite_payload4(pkt, p, pos, new_bytes, old_bytes) == RewriteResult::done);
        }
        // Byte for byte, unless a UDP checksum of 0 / 0xffff aliased (both mean the same sum).
        for (std::size_t i = 0; i < pkt.size(); ++i)
            if (i != p.checksum_offset && i != p.checksum_offset + 1) INVARIANT(pkt[i] == original[i]);
    }
    // Out-of-range and mismatching rewrites change nothing.
    const std::array<std::uint8_t, 4> a{1, 2, 3, 4}, b{5, 6, 7, 8};
    const std::vector<std::uint8_t> before = pkt;
    auto r = rewrite_payload4(pkt, p, p.payload_length, a, b);
    INVARIANT(r == RewriteResult::out_of_range);
    INVARIANT(pkt == before);
    return 0;
}
