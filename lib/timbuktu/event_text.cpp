// The engine's words (see event_text.hpp). The sentences are the log and
// report text users and tests rely on: change them only together with
// tests/kernel, tests/integration and tests/unit.
#include "timbuktu/event_text.hpp"

#include <array>

#include <fmt/format.h>

#include "timbuktu/services.hpp"
#include "timbuktu/wire.hpp"

namespace tb::timbuktu {

namespace {

template <class Enum, std::size_t N>
std::string_view table_name(const std::array<std::string_view, N>& table, Enum v) {
    const auto i = static_cast<std::size_t>(v);
    return i < N ? table[i] : std::string_view("unknown");
}

constexpr std::array<std::string_view, 17> kEventKindNames{
    "hello",          "hello-ack",          "not-timbuktu",      "malformed",          "hostile",
    "unmodelled",     "stream-lost",        "host-still-parsed", "rewrite-skipped",    "offers-not-acted-on",
    "events-suppressed", "events-capped",   "opcode-ignored",    "hello-repeated",     "hello-ack-repeated",
    "guest-service-data", "held-dropped",
};
static_assert(kEventKindNames.size() == std::variant_size_v<decltype(Event::data)>);
constexpr std::array<std::string_view, 3> kLevelNames{"info", "warning", "debug"};
constexpr std::array<std::string_view, 2> kSideNames{"guest", "host"};
constexpr std::array<std::string_view, 4> kRefuseNames{"forged", "third-party-address", "port-not-allowed",
                                                       "too-many-expectations"};
constexpr std::array<std::string_view, 4> kAddressFieldNames{
    "HELLO guest address", "HELLO guest address (second copy)", "HELLO-ACK host address", "PORT-OFFER address"};
constexpr std::array<std::string_view, 6> kStopReasonNames{"not-timbuktu", "hostile",      "unmodelled",
                                                           "direction-lost", "service-data", "reply-not-timbuktu"};

std::string v4(std::uint32_t a) { return IpAddress::v4(a).to_string(); }

// The wire parser's reasons (WireReason), one row each, in the enum's order
// (systemd's string tables): a reason added without its words fails the
// static_asserts below. The words are what the log, analyze and tbsim have
// always printed (tests/integration/09-malformed.sh greps tbsim's). Fields:
// {value}, {have}, {offset}, {limit} (the bound the rule names) and
// {address} (value as an IPv4 address).
struct WireWords {
    WireReason reason;
    std::string_view words;
    std::uint32_t limit = 0;
};
constexpr std::array<WireWords, static_cast<std::size_t>(WireReason::count)> kWireWords{{
    {WireReason::header_short, "frame header needs {limit} bytes, have {have}", kHeaderSize},
    {WireReason::class_unknown, "frame class 0x{value:04x} is not Timbuktu contact traffic"},
    {WireReason::length_below_minimum, "frame body length {value} is below the minimum of {limit}", kMinBodyLength},
    {WireReason::length_above_maximum, "frame body length {value} exceeds the maximum of {limit}", kMaxBodyLength},
    {WireReason::datagram_empty, "empty datagram"},
    {WireReason::datagram_header_cut, "datagram ends {have} bytes into a frame header at offset {offset}"},
    {WireReason::datagram_frame_cut,
     "frame at offset {offset} declares {value} body bytes but the datagram holds {have}"},
    {WireReason::hello_short, "HELLO body is {have} bytes, at least {limit} required", kHelloMinBody},
    {WireReason::hello_opcode, "HELLO body does not start with opcode 0x{limit:04x}", kOpHello},
    {WireReason::hello_name_cut, "HELLO guest name of {value} bytes does not end inside the {have}-byte body"},
    {WireReason::hello_ack_short, "HELLO-ACK body is {have} bytes, at least {limit} required",
     kHelloAckNameOffset + 1},
    {WireReason::hello_ack_opcode, "HELLO-ACK body does not start with opcode 0x{limit:04x}", kOpHello},
    {WireReason::hello_ack_name_cut,
     "HELLO-ACK host name of {value} bytes does not end inside the {have}-byte body"},
    {WireReason::port_offer_size, "PORT-OFFER body is {have} bytes, exactly {limit} required", kPortOfferBody},
    {WireReason::port_offer_opcode, "PORT-OFFER body does not start with opcode 0x{limit:04x}", kOpPortOffer},
    {WireReason::port_offer_transport, "PORT-OFFER transport {value} is neither 6 (TCP) nor 17 (UDP)"},
    {WireReason::port_offer_port_zero, "PORT-OFFER port 0 is not a port"},
    {WireReason::port_offer_v4_on_v6,
     "PORT-OFFER on an IPv6 contact connection carries IPv4 address {address}, only 0.0.0.0 is allowed"},
}};
constexpr bool wire_words_in_order() {
    for (std::size_t i = 0; i < kWireWords.size(); ++i)
        if (static_cast<std::size_t>(kWireWords[i].reason) != i || kWireWords[i].words.empty()) return false;
    return true;
}
static_assert(wire_words_in_order(), "kWireWords: one row per WireReason, in the enum's order, each with words");

// The stream reader's stop reasons, in StreamReader::StopReason's order.
constexpr std::array<std::string_view, 4> kStreamStopWords{
    "",
    "",  // malformed_header: the header's WireError says why
    "the daemon restarted inside a frame; bytes at seq {} continue a frame whose beginning was lost, so the "
    "framing of this direction is unknown",
    "the rest of the stream is not framed",
};
static_assert(static_cast<std::size_t>(stream::StreamReader::StopReason::by_request) + 1 == kStreamStopWords.size());

std::string parser_text(const std::optional<WireError>& e) { return e ? wire_error_text(*e) : std::string(); }

std::string leading_bytes(const event::Unmodelled& u) {
    std::string out;
    for (std::size_t i = 0; i < u.leading_count && i < u.leading.size(); ++i)
        out += fmt::format("{}{:02x}", i ? " " : "", u.leading[i]);
    return out;
}

}  // namespace

std::string not_timbuktu_why(const event::NotTimbuktu& n) {
    switch (n.reason) {
        case NotTimbuktuReason::host_data_first:
            return "the host side sent data before any guest frame (a Timbuktu guest speaks first)";
        case NotTimbuktuReason::host_datagram_first: return "the host side sent a datagram before any guest datagram";
        case NotTimbuktuReason::first_datagram_invalid: return "first guest datagram: " + parser_text(n.parser_error);
        case NotTimbuktuReason::first_bytes_not_header:
            return "the first guest bytes are not a frame header: " + parser_text(n.parser_error);
        case NotTimbuktuReason::first_frame_port_offer: return "the first guest frame is a PORT-OFFER, not a HELLO";
        case NotTimbuktuReason::first_frame_class:
            return fmt::format("the first guest frame has class 0x{:04x}, not 0x0001", n.frame_class);
        case NotTimbuktuReason::first_frame_opcode:
            return fmt::format("the first guest frame has opcode 0x{:04x}, not a HELLO (0x0023)", n.opcode);
        case NotTimbuktuReason::first_hello_invalid:
            return "the first guest frame is not a valid HELLO: " + parser_text(n.parser_error);
    }
    return "unknown reason";
}

namespace {

std::string hostile_why(const event::Hostile& h) {
    switch (h.reason) {
        case HostileReason::malformed_cap:
            return fmt::format("{} malformed frames; this connection is no longer parsed", h.count_or_position);
        case HostileReason::guest_inconsistent:
            return fmt::format("the guest sent other bytes for stream positions it had sent before (position {}: "
                               "0x{:02x}, earlier 0x{:02x}): the firewall and the host may see different streams",
                               h.count_or_position, h.byte, h.earlier);
        case HostileReason::guest_sent_host_class:
            return fmt::format("the guest sent a frame of host class 0x{:04x} (opcode 0x{:04x}): someone "
                               "is reflecting or forging the host's frames",
                               h.frame_class, h.opcode);
        case HostileReason::host_sent_guest_class:
            return fmt::format("the host side sent a frame of guest class 0x{:04x} (opcode 0x{:04x}): someone is "
                               "reflecting the guest's frames (an echo on the contact port)",
                               h.frame_class, h.opcode);
        case HostileReason::host_first_not_ack:
            return fmt::format("the host's first frame has opcode 0x{:04x}; it must be a HELLO-ACK", h.opcode);
    }
    return "unknown reason";
}

std::string unmodelled_why(const event::Unmodelled& u) {
    switch (u.reason) {
        case UnmodelledReason::reply_after_foreign_datagram:
            return fmt::format("the guest's first datagram was foreign, but the host's reply of {} bytes begins {}",
                               u.size, leading_bytes(u));
        case UnmodelledReason::datagram_signature:
            return fmt::format("the {} datagram of {} bytes begins {}, not a frame header", side_name(u.side), u.size,
                               leading_bytes(u));
    }
    return "unknown reason";
}

std::string malformed_what(const event::Malformed& m) {
    switch (m.reason) {
        case MalformedReason::frame_header:
            return fmt::format("{} frame header at stream position {}: {}; the framing of this direction "
                               "is lost, stopped parsing it",
                               side_name(m.side), m.stream_position, parser_text(m.parser_error));
        case MalformedReason::datagram:
            return fmt::format("{} datagram of {} bytes: {}", side_name(m.side), m.size, parser_text(m.parser_error));
        case MalformedReason::guest_hello: return "guest HELLO: " + parser_text(m.parser_error);
        case MalformedReason::host_hello_ack: return "host HELLO-ACK: " + parser_text(m.parser_error);
        case MalformedReason::host_offer_size:
            return fmt::format("host PORT-OFFER: PORT-OFFER body is {} bytes, exactly {} required", m.size,
                               kPortOfferBody);
        case MalformedReason::host_offer: return "host PORT-OFFER: " + parser_text(m.parser_error);
    }
    return "unknown reason";
}

struct TextOf {
    std::string operator()(const event::Hello& h) const {
        return fmt::format("Timbuktu HELLO over {}: service {}, version {}.{}, flags 0x{:02x}, guest address {}{}{}",
                           transport_name(h.transport), service_name(h.service), h.version_major, h.version_minor,
                           h.flags, v4(h.guest_address),
                           h.second_address ? ", second address " + v4(*h.second_address) : std::string(),
                           h.guest_name ? ", name '" + *h.guest_name + "'" : std::string());
    }
    std::string operator()(const event::HelloAck& a) const {
        return fmt::format("Timbuktu HELLO-ACK: service {} granted, version {}.{}, flags 0x{:02x}, host address {}, "
                           "name '{}'",
                           service_name(a.service), a.version_major, a.version_minor, a.flags, v4(a.host_address),
                           a.host_name);
    }
    std::string operator()(const event::NotTimbuktu& n) const {
        return "not Timbuktu, leaving the connection alone: " + not_timbuktu_why(n);
    }
    std::string operator()(const event::Malformed& m) const {
        std::string text = "malformed: " + malformed_what(m);
        if (m.more_in_packet > 0)
            text += fmt::format(" (and {} more malformed frames in this packet)", m.more_in_packet);
        return text;
    }
    std::string operator()(const event::Hostile& h) const {
        return "hostile connection, nothing on it is acted on any more: " + hostile_why(h);
    }
    std::string operator()(const event::Unmodelled& u) const {
        return "Timbuktu outside the model, passed unchanged and never acted on: " + unmodelled_why(u);
    }
    std::string operator()(const event::StreamLost& s) const {
        return fmt::format("{} stream lost, stopped parsing it: {}", side_name(s.side),
                           stream_stop_text(stream::StreamReader::StopReason::lost_frame_start, s.stream_position));
    }
    std::string operator()(const event::HostStillParsed&) const { return "the host direction is still parsed for offers"; }
    std::string operator()(const event::RewriteSkipped& r) const {
        return fmt::format("{} {} must become {} but its 4 bytes (stream position {}) are not "
                           "all inside this packet (payload offset {}, {} bytes): left unrewritten",
                           address_field_name(r.field), r.from.to_string(), r.to.to_string(), r.stream_position,
                           r.payload_offset, r.payload_size);
    }
    std::string operator()(const event::OffersNotActedOn& o) const {
        const char* why = o.why == NotActedReason::flow_hostile ? "the flow is hostile"
                                                                : "the packet carrying it is malformed";
        return o.more == 0 ? fmt::format("{} not acted on: {}", offer_text(o.first), why)
                           : fmt::format("{} and {} more offers not acted on: {}", offer_text(o.first), o.more, why);
    }
    std::string operator()(const event::EventsSuppressed& s) const {
        return fmt::format("{} more events of this packet not reported (at most {} per packet); the counters have them",
                           s.count, s.per_packet);
    }
    std::string operator()(const event::EventsCapped& c) const {
        return fmt::format("this connection reached its limit of {} reported events; further events are counted, "
                           "not reported",
                           c.limit);
    }
    std::string operator()(const event::OpcodeIgnored& o) const {
        return fmt::format("{} opcode 0x{:04x} ignored (B6)", side_name(o.side), o.opcode);
    }
    std::string operator()(const event::HelloRepeated&) const { return "guest repeated its HELLO"; }
    std::string operator()(const event::HelloAckRepeated&) const { return "host repeated its HELLO-ACK"; }
    std::string operator()(const event::GuestServiceData& g) const {
        return fmt::format("service {}: guest data after the HELLO is service data; the guest direction is no "
                           "longer parsed",
                           service_name(g.service));
    }
    std::string operator()(const event::HeldDropped& h) const {
        return fmt::format("{} direction: {} out-of-order segment(s) dropped to stay within the holding "
                           "bounds ({} segments, {} bytes, and the shared budget); the peer retransmits them",
                           side_name(h.side), h.count, h.max_segments, h.max_bytes);
    }
};

}  // namespace

EventLevel Event::level() const {
    switch (kind()) {
        case EventKind::hello:
        case EventKind::hello_ack:
        case EventKind::not_timbuktu:
        case EventKind::unmodelled:
        case EventKind::host_still_parsed:
            return EventLevel::info;
        case EventKind::malformed:
        case EventKind::hostile:
        case EventKind::stream_lost:
        case EventKind::rewrite_skipped:
        case EventKind::offers_not_acted_on:
        case EventKind::events_suppressed:
        case EventKind::events_capped:
            return EventLevel::warning;
        case EventKind::opcode_ignored:
        case EventKind::hello_repeated:
        case EventKind::hello_ack_repeated:
        case EventKind::guest_service_data:
        case EventKind::held_dropped:
            return EventLevel::debug;
    }
    return EventLevel::debug;
}

std::string event_text(const Event& e) { return std::visit(TextOf{}, e.data); }
RenderedEvent render(const Event& e) { return {e.level(), event_text(e)}; }

std::string offer_text(const PortOffer& o) {
    return fmt::format("PORT-OFFER {} {}/{} address {} lifetime {}s", service_name(o.service),
                       transport_name(o.transport), o.port, v4(o.address), o.lifetime);
}

std::string refuse_reason_name(RefuseReason r) { return std::string(table_name(kRefuseNames, r)); }

std::string refuse_text(const Refuse& r) {
    const std::string offer = r.offer ? offer_text(*r.offer) : std::string("PORT-OFFER");
    switch (r.reason) {
        case RefuseReason::forged_guest_offer:
            return fmt::format("the guest sent a {}; only the host may offer ports",
                               r.offer ? offer : fmt::format("PORT-OFFER of {} bytes", r.body_length));
        case RefuseReason::third_party_address:
            return fmt::format("{}: the address is neither 0.0.0.0 nor the host {}", offer, r.host.to_string());
        case RefuseReason::port_not_allowed:
            return fmt::format("{}: port {} is outside allowed_ports", offer, r.offer ? r.offer->port : 0);
        case RefuseReason::too_many_expectations:
            return fmt::format("{}: this contact connection already has {} offered streams (max_expectations {})",
                               offer, r.accepted, r.max_expectations);
    }
    return "unknown reason";
}

std::string stop_text(const StopWatching& s) {
    const auto* cause = s.cause ? &s.cause->data : nullptr;
    switch (s.why) {
        case StopReason::not_timbuktu:
            if (cause)
                if (const auto* n = std::get_if<event::NotTimbuktu>(cause)) return "not Timbuktu: " + not_timbuktu_why(*n);
            return "not Timbuktu";
        case StopReason::hostile:
            if (cause)
                if (const auto* h = std::get_if<event::Hostile>(cause)) return "hostile: " + hostile_why(*h);
            return "hostile";
        case StopReason::unmodelled:
            if (cause)
                if (const auto* u = std::get_if<event::Unmodelled>(cause))
                    return "Timbuktu outside the model: " + unmodelled_why(*u);
            return "Timbuktu outside the model";
        case StopReason::direction_lost:
            return fmt::format("the {} direction can no longer be parsed", side_name(s.side));
        case StopReason::service_data:
            return fmt::format("service {}: the rest of the contact stream is unframed service data (B7)",
                               service_name(s.service));
        case StopReason::reply_not_timbuktu: return "not Timbuktu: the host's first reply is not Timbuktu either";
    }
    return "unknown reason";
}

std::string rewrite_field_text(const Rewrite& r) {
    std::string text(address_field_name(r.what));
    if (r.retransmit) text += " (retransmit)";
    return text;
}

std::string wire_error_text(const WireError& e) {
    const auto i = static_cast<std::size_t>(e.reason);
    if (i >= kWireWords.size()) return "unknown reason";
    const WireWords& row = kWireWords[i];
    std::string text = fmt::format(fmt::runtime(row.words), fmt::arg("value", e.value), fmt::arg("have", e.have),
                                   fmt::arg("offset", e.offset), fmt::arg("limit", row.limit),
                                   fmt::arg("address", v4(e.value)));
    if (e.in_datagram) return fmt::format("frame at offset {}: {}", e.offset, text);
    return text;
}

std::string stream_stop_text(stream::StreamReader::StopReason reason, std::uint32_t stop_seq,
                             const std::optional<WireError>& header_error) {
    using SR = stream::StreamReader::StopReason;
    if (reason == SR::malformed_header) return parser_text(header_error);
    const auto i = static_cast<std::size_t>(reason);
    if (i >= kStreamStopWords.size()) return "unknown reason";
    return fmt::format(fmt::runtime(kStreamStopWords[i]), stop_seq);
}

std::string_view event_kind_name(EventKind k) { return table_name(kEventKindNames, k); }
std::string_view event_level_name(EventLevel l) { return table_name(kLevelNames, l); }
std::string_view side_name(Side s) { return table_name(kSideNames, s); }
std::string_view address_field_name(AddressField f) { return table_name(kAddressFieldNames, f); }
std::string_view stop_reason_name(StopReason r) { return table_name(kStopReasonNames, r); }

}  // namespace tb::timbuktu
