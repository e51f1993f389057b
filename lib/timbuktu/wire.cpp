#include "timbuktu/wire.hpp"

#include <algorithm>

namespace tb::timbuktu {
namespace {

WireError bad(WireReason reason, std::size_t value = 0, std::size_t have = 0) {
    return WireError{reason, static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(have), 0, false};
}

// Reads an optional or mandatory Pascal string at `offset`; returns the offset
// after it, or nullopt when the string does not end inside the body.
std::optional<std::size_t> read_pascal(std::span<const std::uint8_t> body, std::size_t offset,
                                       std::string& out) {
    if (offset >= body.size()) return std::nullopt;
    const std::size_t len = body[offset];
    if (body.size() - offset - 1 < len) return std::nullopt;
    out.assign(reinterpret_cast<const char*>(body.data() + offset + 1), len);
    return offset + 1 + len;
}

void append_pascal(std::vector<std::uint8_t>& out, const std::string& s) {
    const std::size_t len = std::min<std::size_t>(s.size(), 255);
    out.push_back(static_cast<std::uint8_t>(len));
    out.insert(out.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(len));
}

void append_be16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}
void append_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    append_be16(out, static_cast<std::uint16_t>(v >> 16));
    append_be16(out, static_cast<std::uint16_t>(v));
}

}  // namespace

Parsed<std::vector<FrameView>> split_datagram(std::span<const std::uint8_t> datagram) {
    std::vector<FrameView> frames;
    if (datagram.empty()) return bad(WireReason::datagram_empty);
    std::size_t pos = 0;
    while (pos < datagram.size()) {
        auto rest = datagram.subspan(pos);
        if (rest.size() < kHeaderSize) {
            auto e = bad(WireReason::datagram_header_cut, 0, rest.size());
            e.offset = static_cast<std::uint32_t>(pos);
            return e;
        }
        auto header = decode_header(rest);
        if (auto* err = parsed_error(header)) {
            WireError e = *err;
            e.offset = static_cast<std::uint32_t>(pos);
            e.in_datagram = true;
            return e;
        }
        const auto& h = std::get<FrameHeader>(header);
        if (rest.size() - kHeaderSize < h.length) {
            auto e = bad(WireReason::datagram_frame_cut, h.length, rest.size() - kHeaderSize);
            e.offset = static_cast<std::uint32_t>(pos);
            return e;
        }
        frames.push_back(FrameView{h, rest.subspan(kHeaderSize, h.length)});
        pos += kHeaderSize + h.length;
    }
    return frames;
}

Parsed<Hello> parse_hello(std::span<const std::uint8_t> body) {
    if (body.size() < kHelloMinBody)
        return bad(WireReason::hello_short, 0, body.size());
    if (load_be16(body.data()) != kOpHello) return bad(WireReason::hello_opcode);
    Hello m;
    m.version_major = body[2];
    m.version_minor = body[3];
    m.service = body[4];
    m.flags = body[5];
    m.guest_address = load_be32(body.data() + 6);
    std::copy_n(body.begin() + 10, m.opaque.size(), m.opaque.begin());
    if (body.size() > kHelloMinBody) {
        std::string name;
        auto end = read_pascal(body, kHelloMinBody, name);
        if (!end)
            return bad(WireReason::hello_name_cut, body[kHelloMinBody], body.size());
        m.guest_name = std::move(name);
        m.trailer.assign(body.begin() + static_cast<std::ptrdiff_t>(*end), body.end());
    }
    return m;
}

Parsed<HelloAck> parse_hello_ack(std::span<const std::uint8_t> body) {
    if (body.size() < kHelloAckNameOffset + 1)
        return bad(WireReason::hello_ack_short, 0, body.size());
    if (load_be16(body.data()) != kOpHello) return bad(WireReason::hello_ack_opcode);
    HelloAck m;
    m.version_major = body[2];
    m.version_minor = body[3];
    m.service = body[4];
    m.flags = body[5];
    m.host_address = load_be32(body.data() + 6);
    std::copy_n(body.begin() + 10, m.opaque.size(), m.opaque.begin());
    auto end = read_pascal(body, kHelloAckNameOffset, m.host_name);
    if (!end)
        return bad(WireReason::hello_ack_name_cut, body[kHelloAckNameOffset], body.size());
    m.trailer.assign(body.begin() + static_cast<std::ptrdiff_t>(*end), body.end());
    return m;
}

Parsed<PortOffer> parse_port_offer(std::span<const std::uint8_t> body, bool ipv6_contact) {
    if (body.size() != kPortOfferBody)
        return bad(WireReason::port_offer_size, 0, body.size());
    if (load_be16(body.data()) != kOpPortOffer) return bad(WireReason::port_offer_opcode);
    PortOffer m;
    m.service = body[2];
    auto transport = transport_from_number(body[3]);
    if (!transport) return bad(WireReason::port_offer_transport, body[3]);
    m.transport = *transport;
    m.port = load_be16(body.data() + 4);
    if (m.port == 0) return bad(WireReason::port_offer_port_zero);
    m.address = load_be32(body.data() + 6);
    if (ipv6_contact && m.address != 0)
        return bad(WireReason::port_offer_v4_on_v6, m.address);
    m.lifetime = load_be16(body.data() + 10);
    return m;
}

std::vector<std::uint8_t> encode_frame(std::uint16_t frame_class, std::uint8_t flags,
                                       std::span<const std::uint8_t> body) {
    // Sized once and copied into, rather than grown by insert(): one
    // allocation, and g++ 12 does not misreport array bounds on it.
    std::vector<std::uint8_t> out(kHeaderSize + body.size());
    store_be16(out.data(), frame_class);
    out[2] = flags;
    store_be24(out.data() + 3, static_cast<std::uint32_t>(std::min<std::size_t>(body.size(), 0xFFFFFF)));
    std::copy(body.begin(), body.end(), out.begin() + static_cast<std::ptrdiff_t>(kHeaderSize));
    return out;
}

std::vector<std::uint8_t> encode_hello_body(const Hello& m) {
    std::vector<std::uint8_t> out;
    append_be16(out, kOpHello);
    out.insert(out.end(), {m.version_major, m.version_minor, m.service, m.flags});
    append_be32(out, m.guest_address);
    out.insert(out.end(), m.opaque.begin(), m.opaque.end());
    if (m.guest_name) {
        append_pascal(out, *m.guest_name);
        out.insert(out.end(), m.trailer.begin(), m.trailer.end());
    }
    return out;
}

std::vector<std::uint8_t> encode_hello_ack_body(const HelloAck& m) {
    std::vector<std::uint8_t> out;
    append_be16(out, kOpHello);
    out.insert(out.end(), {m.version_major, m.version_minor, m.service, m.flags});
    append_be32(out, m.host_address);
    out.insert(out.end(), m.opaque.begin(), m.opaque.end());
    append_pascal(out, m.host_name);
    out.insert(out.end(), m.trailer.begin(), m.trailer.end());
    return out;
}

std::vector<std::uint8_t> encode_port_offer_body(const PortOffer& m) {
    std::vector<std::uint8_t> out;
    append_be16(out, kOpPortOffer);
    out.push_back(m.service);
    out.push_back(static_cast<std::uint8_t>(m.transport));
    append_be16(out, m.port);
    append_be32(out, m.address);
    append_be16(out, m.lifetime);
    return out;
}

std::vector<std::uint8_t> hello_frame(const Hello& m) { return encode_frame(kClassGuest, 0, encode_hello_body(m)); }
std::vector<std::uint8_t> hello_ack_frame(const HelloAck& m) {
    return encode_frame(kClassHost, 0, encode_hello_ack_body(m));
}
std::vector<std::uint8_t> port_offer_frame(const PortOffer& m) {
    return encode_frame(kClassHost, 0, encode_port_offer_body(m));
}

std::vector<std::uint8_t> public_probe_frame() {
    std::vector<std::uint8_t> out = {0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x23};
    out.resize(kHeaderSize + 16, 0x00);
    return out;
}

}  // namespace tb::timbuktu
