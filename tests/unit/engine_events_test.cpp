// Every typed event, refusal, rewrite and detach reason renders the words the
// log and the reports have always printed (tests/kernel and tests/integration
// grep them), and the string tables name every enum value.
#include <catch2/catch.hpp>

#include "timbuktu/event_text.hpp"

using namespace tb;
using namespace tb::timbuktu;
using Bytes = std::vector<std::uint8_t>;

namespace {
PortOffer offer() {
    PortOffer o;
    o.service = 7;
    o.transport = Transport::udp;
    o.port = 5000;
    o.address = 0x08080808;
    return o;
}
std::string text(Event e) { return event_text(e); }
}  // namespace

TEST_CASE("events: each kind renders its words and level", "[events]") {
    event::Hello h{Transport::tcp, 1, 5, 2, 0x10, 0xC0A80001, std::nullopt, std::string("pc\x01")};
    CHECK(text({h}).find("Timbuktu HELLO over tcp: service ") == 0);
    CHECK(text({h}).find("version 5.2, flags 0x10, guest address 192.168.0.1, name 'pc\x01'") != std::string::npos);
    h.second_address = 0x0A000001;
    CHECK(text({h}).find("guest address 192.168.0.1, second address 10.0.0.1, name") != std::string::npos);
    CHECK(Event{h}.level() == EventLevel::info);
    CHECK(text({event::HelloAck{1, 5, 2, 0, 0x0A000002, "mac"}}).find("host address 10.0.0.2, name 'mac'") !=
          std::string::npos);

    const Event nt{event::NotTimbuktu{NotTimbuktuReason::first_frame_class, 0x0101, 0x23, {}}};
    CHECK(text(nt) == "not Timbuktu, leaving the connection alone: the first guest frame has class 0x0101, not 0x0001");
    CHECK(nt.level() == EventLevel::info);
    CHECK(nt.kind() == EventKind::not_timbuktu);
    CHECK(text({event::NotTimbuktu{NotTimbuktuReason::first_frame_opcode, 1, 0x31, {}}}) ==
          "not Timbuktu, leaving the connection alone: the first guest frame has opcode 0x0031, not a HELLO (0x0023)");
    CHECK(text({event::NotTimbuktu{NotTimbuktuReason::host_data_first}}) ==
          "not Timbuktu, leaving the connection alone: the host side sent data before any guest frame (a Timbuktu "
          "guest speaks first)");

    event::Malformed m{MalformedReason::host_offer_size, Side::host, 0, 9, {}};
    CHECK(text({m}) == "malformed: host PORT-OFFER: PORT-OFFER body is 9 bytes, exactly 12 required");
    m.more_in_packet = 2;
    CHECK(text({m}).find("(and 2 more malformed frames in this packet)") != std::string::npos);
    CHECK(Event{m}.level() == EventLevel::warning);
    CHECK(text({event::Malformed{MalformedReason::frame_header, Side::guest, 77, 0,
                                 WireError{WireReason::class_unknown, 0x0202}}}) ==
          "malformed: guest frame header at stream position 77: frame class 0x0202 is not Timbuktu contact "
          "traffic; the framing of this direction is lost, stopped parsing it");

    CHECK(text({event::Hostile{HostileReason::host_sent_guest_class, 0, 0, 0, 1, 0x23}}) ==
          "hostile connection, nothing on it is acted on any more: the host side sent a frame of guest class 0x0001 "
          "(opcode 0x0023): someone is reflecting the guest's frames (an echo on the contact port)");
    CHECK(text({event::Hostile{HostileReason::malformed_cap, 8}}).find("8 malformed frames; this connection is no "
                                                                        "longer parsed") != std::string::npos);
    event::Unmodelled u{UnmodelledReason::datagram_signature, Side::guest, 30, {0, 0x25, 0, 0x22}, 4};
    CHECK(text({u}) == "Timbuktu outside the model, passed unchanged and never acted on: the guest datagram of 30 "
                       "bytes begins 00 25 00 22, not a frame header");
    CHECK(text({event::StreamLost{Side::host, 1234}}) ==
          "host stream lost, stopped parsing it: the daemon restarted inside a frame; bytes at seq 1234 continue a "
          "frame whose beginning was lost, so the framing of this direction is unknown");
    CHECK(text({event::HostStillParsed{}}) == "the host direction is still parsed for offers");
    CHECK(text({event::OffersNotActedOn{offer(), 1, NotActedReason::flow_hostile}})
              .find("and 1 more offers not acted on: the flow is hostile") != std::string::npos);
    CHECK(text({event::EventsSuppressed{84, 16}}) ==
          "84 more events of this packet not reported (at most 16 per packet); the counters have them");
    CHECK(text({event::EventsCapped{256}}).find("limit of 256 reported events") != std::string::npos);
    CHECK(text({event::OpcodeIgnored{Side::host, 0x40}}) == "host opcode 0x0040 ignored (B6)");
    CHECK(Event{event::OpcodeIgnored{}}.level() == EventLevel::debug);
    CHECK(Event{event::HeldDropped{}}.level() == EventLevel::debug);
}

TEST_CASE("refusals, rewrites and detach reasons render from typed values", "[events]") {
    Refuse r{RefuseReason::third_party_address, offer()};
    r.host = IpAddress::v4(0x0A000002);
    CHECK(refuse_text(r).find("address 8.8.8.8") != std::string::npos);
    CHECK(refuse_text(r).find(": the address is neither 0.0.0.0 nor the host 10.0.0.2") != std::string::npos);
    Refuse forged{RefuseReason::forged_guest_offer};
    forged.body_length = 3;
    CHECK(refuse_text(forged) == "the guest sent a PORT-OFFER of 3 bytes; only the host may offer ports");
    Refuse many{RefuseReason::too_many_expectations, offer()};
    many.accepted = 8;
    many.max_expectations = 8;
    CHECK(refuse_text(many).find("already has 8 offered streams (max_expectations 8)") != std::string::npos);
    CHECK(refuse_text(Refuse{RefuseReason::port_not_allowed, offer()}).find("port 5000 is outside allowed_ports") !=
          std::string::npos);

    Rewrite w;
    w.what = AddressField::port_offer_address;
    w.retransmit = true;
    CHECK(rewrite_field_text(w) == "PORT-OFFER address (retransmit)");

    StopWatching s{StopReason::not_timbuktu, Side::guest, 0,
                   Event{event::NotTimbuktu{NotTimbuktuReason::first_frame_port_offer}}};
    CHECK(stop_text(s) == "not Timbuktu: the first guest frame is a PORT-OFFER, not a HELLO");
    CHECK(stop_text(StopWatching{StopReason::direction_lost, Side::host}) == "the host direction can no longer be parsed");
    CHECK(stop_text(StopWatching{StopReason::reply_not_timbuktu}) ==
          "not Timbuktu: the host's first reply is not Timbuktu either");
}

TEST_CASE("string tables name every value", "[events]") {
    CHECK(event_kind_name(EventKind::hello) == "hello");
    CHECK(event_kind_name(EventKind::held_dropped) == "held-dropped");
    CHECK(event_level_name(EventLevel::warning) == "warning");
    CHECK(side_name(Side::host) == "host");
    CHECK(stop_reason_name(StopReason::reply_not_timbuktu) == "reply-not-timbuktu");
    CHECK(refuse_reason_name(RefuseReason::forged_guest_offer) == "forged");
    CHECK(address_field_name(AddressField::hello_ack_host_address) == "HELLO-ACK host address");
}

// docs/protocol-model.md#typed-events: the wire parser's and the stream
// reader's reasons are values; event_text renders them with one string table.
TEST_CASE("wire reasons: every value has words, the parsers' sentences stay the same", "[events][wire]") {
    for (std::size_t i = 0; i < static_cast<std::size_t>(WireReason::count); ++i) {
        const auto text = wire_error_text(WireError{static_cast<WireReason>(i), 1, 2, 3});
        INFO("WireReason " << i);
        CHECK_FALSE(text.empty());
        CHECK(text != "unknown reason");
    }
    CHECK(wire_error_text(WireError{WireReason::count}) == "unknown reason");
    const auto words = [](auto parsed) { return wire_error_text(*parsed_error(parsed)); };
    const Bytes bad_class{0x02, 0x02, 0x00, 0x00, 0x00, 0x10};
    CHECK(words(decode_header(bad_class)) == "frame class 0x0202 is not Timbuktu contact traffic");
    CHECK(parsed_error(decode_header(bad_class))->reason == WireReason::class_unknown);
    CHECK(words(decode_header(Bytes{0x00, 0x01, 0x00, 0x10, 0x00, 0x00})) ==
          "frame body length 1048576 exceeds the maximum of 65535");
    CHECK(words(decode_header(Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x01})) ==
          "frame body length 1 is below the minimum of 2");
    CHECK(words(decode_header(Bytes{0x00, 0x01})) == "frame header needs 6 bytes, have 2");
    CHECK(words(split_datagram(Bytes{})) == "empty datagram");
    CHECK(words(split_datagram(Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x23})) ==
          "frame at offset 0 declares 64 body bytes but the datagram holds 2");
    CHECK(words(split_datagram(Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x23, 0x00})) ==
          "datagram ends 1 bytes into a frame header at offset 8");
    const auto in_dgram = split_datagram(Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x23, 0x07, 0x07, 0, 0, 0, 2});
    CHECK(words(in_dgram) == "frame at offset 8: frame class 0x0707 is not Timbuktu contact traffic");
    CHECK(parsed_error(in_dgram)->in_datagram);
    CHECK(parsed_error(in_dgram)->offset == 8);
    CHECK(words(parse_hello(Bytes(10, 0))) == "HELLO body is 10 bytes, at least 16 required");
    Bytes hello_body(17, 0);
    hello_body[1] = 0x23;
    hello_body[16] = 9;
    CHECK(words(parse_hello(hello_body)) == "HELLO guest name of 9 bytes does not end inside the 17-byte body");
    CHECK(parsed_error(parse_hello(hello_body))->value == 9);
    CHECK(words(parse_hello(Bytes(16, 0))) == "HELLO body does not start with opcode 0x0023");
    CHECK(words(parse_hello_ack(Bytes(20, 0))) == "HELLO-ACK body is 20 bytes, at least 39 required");
    CHECK(words(parse_port_offer(Bytes(9, 0))) == "PORT-OFFER body is 9 bytes, exactly 12 required");
    Bytes po{0x00, 0x31, 7, 9, 0x13, 0x88, 0, 0, 0, 0, 0, 0};
    CHECK(words(parse_port_offer(po)) == "PORT-OFFER transport 9 is neither 6 (TCP) nor 17 (UDP)");
    po[3] = 17;
    po[6] = 10;
    po[9] = 1;
    CHECK(words(parse_port_offer(po, true)) ==
          "PORT-OFFER on an IPv6 contact connection carries IPv4 address 10.0.0.1, only 0.0.0.0 is allowed");
    po[4] = po[5] = 0;
    CHECK(words(parse_port_offer(po)) == "PORT-OFFER port 0 is not a port");
}

TEST_CASE("stream reasons: typed, rendered at the edge", "[events][stream]") {
    using SR = stream::StreamReader::StopReason;
    CHECK(stream_stop_text(SR::lost_frame_start, 77) ==
          "the daemon restarted inside a frame; bytes at seq 77 continue a frame whose beginning was lost, so the "
          "framing of this direction is unknown");
    CHECK(stream_stop_text(SR::by_request, 5) == "the rest of the stream is not framed");
    CHECK(stream_stop_text(SR::malformed_header, 5, WireError{WireReason::length_above_maximum, 70000}) ==
          "frame body length 70000 exceeds the maximum of 65535");
    const Event nt{event::NotTimbuktu{NotTimbuktuReason::first_bytes_not_header, 0, 0,
                                      WireError{WireReason::class_unknown, 0x4745}}};
    CHECK(event_text(nt) == "not Timbuktu, leaving the connection alone: the first guest bytes are not a frame "
                            "header: frame class 0x4745 is not Timbuktu contact traffic");
}
