// What the protocol engine asks the kernel layer to do, and what it reports.
// The engine never touches a socket and never formats text: tbhelperd carries
// these out, tbhelperctl analyze prints them, and both render the words with
// timbuktu/event_text.hpp, only when a line is printed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/address.hpp"
#include "timbuktu/wire.hpp"

namespace tb::timbuktu {

enum class Side : std::uint8_t { guest, host };  // the sender of a packet: original / reply direction

// Open a pinhole: from `guest` (any source port) to `address`:`port` over
// `transport`, for `timeout_seconds`; when `follow_nat`, the expected stream
// takes its master's NAT translation (kernel expectfn "nat-follow-master").
// A repeated offer of the same stream yields the same Expect again: the kernel
// layer replaces the earlier expectation (docs/protocol-model.md#offers).
struct Expect {
    Transport transport = Transport::tcp;
    IpAddress guest;     // G: master's original source
    IpAddress address;   // D: master's original destination (what the guest used)
    std::uint16_t port = 0;
    std::uint8_t service = 0;
    std::uint32_t timeout_seconds = 0;
    bool follow_nat = false;
};

enum class RefuseReason : std::uint8_t {
    forged_guest_offer,   // PORT-OFFER sent by the guest side (docs/protocol-model.md#forgery)
    third_party_address,  // offer address neither 0.0.0.0 nor H (docs/protocol-model.md#offers)
    port_not_allowed,     // outside allowed_ports
    too_many_expectations,// more than max_expectations for this contact connection
};
std::string refuse_reason_name(RefuseReason r);  // "forged", "third-party-address", ...

// The offending values; which ones are set depends on `reason`.
struct Refuse {
    RefuseReason reason = RefuseReason::forged_guest_offer;
    std::optional<PortOffer> offer{};   // forged: only when the guest's frame parsed as one
    std::uint16_t body_length = 0;      // forged without a parsed offer: its body length
    IpAddress host{};                   // third_party_address: the contact connection's host
    std::uint32_t accepted = 0;         // too_many_expectations: streams accepted so far
    std::uint32_t max_expectations = 0; // too_many_expectations: the policy's limit
};

// Which embedded address a rewrite or a skipped rewrite is about
// (docs/protocol-model.md#nat-rewrites).
enum class AddressField : std::uint8_t {
    hello_guest_address,
    hello_guest_address_second,  // docs/protocol-model.md#b3-second-address
    hello_ack_host_address,
    port_offer_address,
};

// Replace 4 bytes of the current packet's L4 payload (same length; the kernel
// layer fixes checksums). `old_bytes` is what the engine saw there.
struct Rewrite {
    std::size_t payload_offset = 0;
    std::array<std::uint8_t, 4> old_bytes{};
    std::array<std::uint8_t, 4> new_bytes{};
    AddressField what = AddressField::hello_guest_address;
    bool retransmit = false;  // the same rewrite again, for a retransmitted segment
};

// ---- events: what a person should see in the log that is not a decision ----
// Bytes a peer chose (a guest or host name) stay exactly as they came:
// escaping is the edge's job, done once where the text is printed
// (docs/daemon.md#untrusted-text). Reasons from the wire parser are carried
// as the typed WireError it returned (`parser_error`), rendered by
// event_text.hpp like every other reason (docs/protocol-model.md#typed-events).

enum class NotTimbuktuReason : std::uint8_t {
    host_data_first,         // TCP: the host side sent data before any guest frame
    host_datagram_first,     // UDP: the same for datagrams
    first_datagram_invalid,  // the first guest datagram does not split into frames
    first_bytes_not_header,  // TCP: the first guest bytes are not a frame header
    first_frame_port_offer,
    first_frame_class,       // frame_class
    first_frame_opcode,      // opcode
    first_hello_invalid,     // the HELLO does not parse
};
enum class MalformedReason : std::uint8_t {
    frame_header,     // side, stream_position: the framing of that direction is lost
    datagram,         // side, size
    guest_hello,
    host_hello_ack,
    host_offer_size,  // size (the body length)
    host_offer,
};
enum class HostileReason : std::uint8_t {
    malformed_cap,           // count
    guest_inconsistent,      // position, byte, earlier (docs/protocol-model.md#guest-consistency)
    guest_sent_host_class,   // frame_class, opcode
    host_sent_guest_class,   // frame_class, opcode
    host_first_not_ack,      // opcode
};
enum class UnmodelledReason : std::uint8_t {
    reply_after_foreign_datagram,  // size, leading bytes
    datagram_signature,            // side, size, leading bytes
};
enum class NotActedReason : std::uint8_t { flow_hostile, packet_malformed };

namespace event {
struct Hello {  // a session recognized
    Transport transport = Transport::tcp;
    std::uint8_t service = 0, version_major = 0, version_minor = 0, flags = 0;
    std::uint32_t guest_address = 0;
    std::optional<std::uint32_t> second_address;  // docs/protocol-model.md#b3-second-address
    std::optional<std::string> guest_name;        // raw bytes
};
struct HelloAck {
    std::uint8_t service = 0, version_major = 0, version_minor = 0, flags = 0;
    std::uint32_t host_address = 0;
    std::string host_name;  // raw bytes
};
struct NotTimbuktu {
    NotTimbuktuReason reason{};
    std::uint16_t frame_class = 0, opcode = 0;
    // first_datagram_invalid, first_bytes_not_header, first_hello_invalid: the parser's reason.
    std::optional<WireError> parser_error{};
};
struct Malformed {
    MalformedReason reason{};
    Side side = Side::guest;
    std::uint32_t stream_position = 0;
    std::size_t size = 0;
    // frame_header, datagram, guest_hello, host_hello_ack, host_offer: the parser's reason.
    std::optional<WireError> parser_error{};
    std::size_t more_in_packet = 0;  // further malformed frames of the same packet, not reported one by one
};
struct Hostile {
    HostileReason reason{};
    std::uint32_t count_or_position = 0;
    std::uint8_t byte = 0, earlier = 0;
    std::uint16_t frame_class = 0, opcode = 0;
};
struct Unmodelled {
    UnmodelledReason reason{};
    Side side = Side::guest;
    std::size_t size = 0;
    std::array<std::uint8_t, 4> leading{};
    std::uint8_t leading_count = 0;
};
// A restarted daemon was inside a frame of this direction: the bytes from
// `stream_position` on continue a frame whose beginning was lost.
struct StreamLost {
    Side side = Side::guest;
    std::uint32_t stream_position = 0;
};
struct HostStillParsed {};
struct RewriteSkipped {
    AddressField field{};
    IpAddress from, to;
    std::uint32_t stream_position = 0;
    std::int64_t payload_offset = 0;
    std::size_t payload_size = 0;
};
struct OffersNotActedOn {
    PortOffer first;
    std::size_t more = 0;
    NotActedReason why{};
};
struct EventsSuppressed { std::size_t count = 0; std::size_t per_packet = 0; };
struct EventsCapped { std::uint32_t limit = 0; };
// Debug only.
struct OpcodeIgnored { Side side = Side::guest; std::uint16_t opcode = 0; };
struct HelloRepeated {};
struct HelloAckRepeated {};
struct GuestServiceData { std::uint8_t service = 0; };
struct HeldDropped { Side side = Side::guest; std::size_t count = 0, max_segments = 0, max_bytes = 0; };
}  // namespace event

// The kind of an event is the alternative it holds; EventKind names them in
// the same order (kind() relies on that).
enum class EventKind : std::uint8_t {
    hello, hello_ack, not_timbuktu, malformed, hostile, unmodelled, stream_lost, host_still_parsed,
    rewrite_skipped, offers_not_acted_on, events_suppressed, events_capped,
    opcode_ignored, hello_repeated, hello_ack_repeated, guest_service_data, held_dropped,
};
enum class EventLevel : std::uint8_t { info, warning, debug };

struct Event {
    std::variant<event::Hello, event::HelloAck, event::NotTimbuktu, event::Malformed, event::Hostile,
                 event::Unmodelled, event::StreamLost, event::HostStillParsed, event::RewriteSkipped,
                 event::OffersNotActedOn, event::EventsSuppressed, event::EventsCapped, event::OpcodeIgnored,
                 event::HelloRepeated, event::HelloAckRepeated, event::GuestServiceData, event::HeldDropped>
        data;
    EventKind kind() const { return static_cast<EventKind>(data.index()); }
    EventLevel level() const;  // info, warning or debug (event_text.cpp)
};

// Nothing more to learn from this connection: the kernel layer may detach the
// helper (only ever issued when the connection has no expectations,
// docs/protocol-model.md#phases).
enum class StopReason : std::uint8_t {
    not_timbuktu,          // `cause` says why
    hostile,               // `cause` says why
    unmodelled,            // `cause` says why
    direction_lost,        // `side` can no longer be parsed
    service_data,          // `service`: the rest of the contact stream is unframed
    reply_not_timbuktu,    // UDP: the host's first reply is not Timbuktu either
};
struct StopWatching {
    StopReason why = StopReason::not_timbuktu;
    Side side = Side::guest;
    std::uint8_t service = 0;
    std::optional<Event> cause{};  // the event that ended the session
};

// Drop this packet instead of passing it: a TCP segment beyond a gap that the
// engine could not hold within its bounds. The sender retransmits it; had it
// passed, the engine would never see those bytes again
// (docs/protocol-model.md#held-segments).
struct DropForRetransmit {};

using Decision = std::variant<Expect, Refuse, Rewrite, StopWatching, Event, DropForRetransmit>;
using Decisions = std::vector<Decision>;

}  // namespace tb::timbuktu
