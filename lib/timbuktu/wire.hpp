// Spec B1, B3 to B6: Timbuktu contact frames and the messages they carry.
// Pure functions over byte spans: no allocation beyond the results, every
// read bounds-checked, every rejection carries a reason a person can read.
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
// Spec B8: offsets 6 to 9 of HELLO, HELLO-ACK and PORT-OFFER hold an IPv4 address.
constexpr std::size_t kEmbeddedAddressOffset = 6;
// Spec B3 (A11): a HELLO body of 164 bytes or more carries a second copy of the
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

// Why a header or a message was rejected. `reason` is one sentence.
struct Malformed {
    std::string reason;
};

template <class T>
using Parsed = std::variant<T, Malformed>;

template <class T>
const T* parsed_value(const Parsed<T>& p) { return std::get_if<T>(&p); }
template <class T>
const Malformed* parsed_error(const Parsed<T>& p) { return std::get_if<Malformed>(&p); }

// Decodes the 6-byte header. The span must hold at least kHeaderSize bytes.
// Rejects: an unknown class ("not Timbuktu contact traffic"), length < 2 or > 65535.
Parsed<FrameHeader> decode_header(std::span<const std::uint8_t> bytes);

// How many bytes at the start of a body the engine needs to judge a frame of
// this class and opcode: a HELLO up to the end of its name and its second
// address, a HELLO-ACK up to the end of its name, a PORT-OFFER whole; of any
// other frame only the opcode. The body parsers give the same verdict on this
// prefix as on the whole body (only the opaque trailer is cut), so a stream
// reader may skip the rest by count (docs/protocol-model.md#streaming).
std::size_t retained_body_bytes(const FrameHeader& header, std::uint16_t opcode);

// A whole frame: header plus a view of its body (valid while the source is).
struct FrameView {
    FrameHeader header;
    std::span<const std::uint8_t> body;
    std::uint16_t opcode() const { return load_be16(body.data()); }
};

// Splits a UDP datagram into whole frames (spec B1: a frame that does not end
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

// The public probe of spec A7.
std::vector<std::uint8_t> public_probe_frame();

}  // namespace tb::timbuktu
