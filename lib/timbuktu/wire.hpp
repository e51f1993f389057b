// Timbuktu contact frames and the messages they carry (docs/protocol-model.md#model;
// what each one means: timbuktu/messages.hpp, docs/protocol-model.md#dispatch).
// Pure functions over byte spans: no allocation beyond the results, every
// read bounds-checked, every rejection a typed WireError.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "net/address.hpp"

namespace tb::timbuktu {

constexpr std::uint16_t kClassGuest = 0x0001;  // guest to host
constexpr std::uint16_t kClassHost = 0x0101;   // host to guest
constexpr std::uint16_t kOpHello = 0x0023;     // HELLO (guest) / HELLO-ACK (host)
constexpr std::uint16_t kOpPortOffer = 0x0031;

constexpr std::size_t kHeaderSize = 6;
constexpr std::uint32_t kMinBodyLength = 2;
constexpr std::uint32_t kMaxBodyLength = 65535;
constexpr std::size_t kHelloMinBody = 16;
constexpr std::size_t kHelloAckNameOffset = 38;
constexpr std::size_t kPortOfferBody = 12;
// docs/protocol-model.md#nat-rewrites: offsets 6 to 9 of HELLO, HELLO-ACK and PORT-OFFER hold an IPv4 address.
constexpr std::size_t kEmbeddedAddressOffset = 6;
// docs/protocol-model.md#b3-second-address: a HELLO body of 164 bytes or more carries a second copy of the
// guest's address at offsets 160 to 163 (docs/protocol-model.md#b3-second-address).
constexpr std::size_t kHelloSecondAddressOffset = 160;
constexpr std::size_t kHelloSecondAddressMinBody = kHelloSecondAddressOffset + 4;
// The largest body prefix any message needs: a HELLO-ACK up to the end of a
// 255-byte host name. A HELLO needs at most 16 + 1 + 255 bytes (this also
// covers its second address).
constexpr std::size_t kHelloRetainedBody = kHelloMinBody + 1 + 255;
constexpr std::size_t kHelloAckRetainedBody = kHelloAckNameOffset + 1 + 255;
constexpr std::size_t kMaxRetainedBody = kHelloAckRetainedBody;

struct FrameHeader {
    std::uint16_t frame_class = 0;
    std::uint8_t flags = 0;
    std::uint32_t length = 0;  // body length (u24 on the wire)
};

// Why a header or a message was rejected, as a value: the reason and the
// numbers it is about. The words are rendered only at the edge, by
// wire_error_text() in timbuktu/event_text.hpp (one string table; a reason
// without words fails its static_assert and the unit test).
enum class WireReason : std::uint8_t {
    header_short,           // have: the bytes there are
    class_unknown,          // value: the class
    length_below_minimum,   // value: the body length
    length_above_maximum,   // value: the body length
    datagram_empty,
    datagram_header_cut,    // have: header bytes in the datagram, offset
    datagram_frame_cut,     // value: declared body length, have: body bytes in the datagram, offset
    hello_short,            // have: the body size
    hello_opcode,
    hello_name_cut,         // value: the name's length byte, have: the body size
    hello_ack_short,        // have: the body size
    hello_ack_opcode,
    hello_ack_name_cut,     // value: the name's length byte, have: the body size
    port_offer_size,        // have: the body size
    port_offer_opcode,
    port_offer_transport,   // value: the transport byte
    port_offer_port_zero,
    port_offer_v4_on_v6,    // value: the IPv4 address (host order)
    count                   // not a reason: how many there are (systemd's _MAX)
};
struct WireError {
    WireReason reason = WireReason::header_short;
    std::uint32_t value = 0;
    std::uint32_t have = 0;
    std::uint32_t offset = 0;   // in a datagram: where the frame (or the cut header) starts
    bool in_datagram = false;   // a header reason about the frame at `offset` of a datagram
    friend bool operator==(const WireError&, const WireError&) = default;
};

template <class T>
using Parsed = std::variant<T, WireError>;

template <class T>
const T* parsed_value(const Parsed<T>& p) { return std::get_if<T>(&p); }
template <class T>
const WireError* parsed_error(const Parsed<T>& p) { return std::get_if<WireError>(&p); }

// Decodes the 6-byte header (header_short when the span holds fewer bytes).
// Rejects an unknown class, a length below 2 or above 65535.
// Inline because every frame of every path meets it (datagram split, stream
// reader, probe): out of line, its result came back through memory and the
// splitter's copy of it stalled on store forwarding, which cost the datagram
// splitter a third of its speed (make bench, "codec").
inline Parsed<FrameHeader> decode_header(std::span<const std::uint8_t> bytes) {
    const auto error = [](WireReason reason, std::size_t value, std::size_t have) {
        return WireError{reason, static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(have), 0, false};
    };
    if (bytes.size() < kHeaderSize) return error(WireReason::header_short, 0, bytes.size());
    FrameHeader h;
    h.frame_class = load_be16(bytes.data());
    h.flags = bytes[2];
    h.length = load_be24(bytes.data() + 3);
    if (h.frame_class != kClassGuest && h.frame_class != kClassHost)
        return error(WireReason::class_unknown, h.frame_class, 0);
    if (h.length < kMinBodyLength) return error(WireReason::length_below_minimum, h.length, 0);
    if (h.length > kMaxBodyLength) return error(WireReason::length_above_maximum, h.length, 0);
    return h;
}

// retained_body_bytes(), the body prefix the engine keeps of a frame, follows
// from what the frame is: timbuktu/messages.hpp.

// A whole frame: header plus a view of its body (valid while the source is).
struct FrameView {
    FrameHeader header;
    std::span<const std::uint8_t> body;
    std::uint16_t opcode() const { return load_be16(body.data()); }
};

// Splits a UDP datagram into whole frames (docs/protocol-model.md#malformed: a frame that does not end
// inside its datagram is malformed; so is an empty datagram).
Parsed<std::vector<FrameView>> split_datagram(std::span<const std::uint8_t> datagram);

struct Hello {  // B3, class 0x0001 opcode 0x0023
    std::uint8_t version_major = 0;
    std::uint8_t version_minor = 0;
    std::uint8_t service = 0;
    std::uint8_t flags = 0;  // bit 0: guest can contact over TCP; bit 1: attended access
    std::uint32_t guest_address = 0;  // host order; IPv4 as the guest sees itself
    std::array<std::uint8_t, 6> opaque{};
    std::optional<std::string> guest_name;
    std::vector<std::uint8_t> trailer;  // opaque bytes after the name
};

struct HelloAck {  // B4, class 0x0101 opcode 0x0023
    std::uint8_t version_major = 0;
    std::uint8_t version_minor = 0;
    std::uint8_t service = 0;
    std::uint8_t flags = 0;  // bit 0: host accepts TCP contact; bit 1: waiting for host user
    std::uint32_t host_address = 0;  // host order
    std::array<std::uint8_t, 28> opaque{};
    std::string host_name;
    std::vector<std::uint8_t> trailer;
};

struct PortOffer {  // B5, class 0x0101 opcode 0x0031
    std::uint8_t service = 0;
    Transport transport = Transport::tcp;
    std::uint16_t port = 0;
    std::uint32_t address = 0;   // host order; 0 = the host address of the contact connection
    std::uint16_t lifetime = 0;  // seconds, 0 = no hint
};

// Body parsers. The body includes the opcode; callers check class and opcode
// first (a HELLO body under class 0x0101 is a HELLO-ACK).
Parsed<Hello> parse_hello(std::span<const std::uint8_t> body);
Parsed<HelloAck> parse_hello_ack(std::span<const std::uint8_t> body);
// `ipv6_contact`: on an IPv6 contact connection the address must be 0.0.0.0.
Parsed<PortOffer> parse_port_offer(std::span<const std::uint8_t> body, bool ipv6_contact = false);

// Encoders, for the simulator and the tests. They produce exactly what the
// parsers accept (names longer than 255 bytes are truncated).
std::vector<std::uint8_t> encode_frame(std::uint16_t frame_class, std::uint8_t flags,
                                       std::span<const std::uint8_t> body);
std::vector<std::uint8_t> encode_hello_body(const Hello& m);
std::vector<std::uint8_t> encode_hello_ack_body(const HelloAck& m);
std::vector<std::uint8_t> encode_port_offer_body(const PortOffer& m);
// Convenience: whole frames with flags 0.
std::vector<std::uint8_t> hello_frame(const Hello& m);
std::vector<std::uint8_t> hello_ack_frame(const HelloAck& m);
std::vector<std::uint8_t> port_offer_frame(const PortOffer& m);

// The public probe (A7, docs/protocol-model.md#observation).
std::vector<std::uint8_t> public_probe_frame();

}  // namespace tb::timbuktu
