// Every typed event, refusal, rewrite and detach reason renders the words the
// log and the reports have always printed (tests/kernel and tests/integration
// grep them), and the string tables name every enum value.
#include <catch2/catch.hpp>

#include "timbuktu/event_text.hpp"

using namespace tb;
using namespace tb::timbuktu;

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
    CHECK(text({event::Malformed{MalformedReason::frame_header, Side::guest, 77, 0, "bad"}}) ==
          "malformed: guest frame header at stream position 77: bad; the framing of this direction is lost, "
          "stopped parsing it");

    CHECK(text({event::Hostile{HostileReason::host_sent_guest_class, 0, 0, 0, 1, 0x23}}) ==
          "hostile connection, nothing on it is acted on any more: the host side sent a frame of guest class 0x0001 "
          "(opcode 0x0023): someone is reflecting the guest's frames (an echo on the contact port)");
    CHECK(text({event::Hostile{HostileReason::malformed_cap, 8}}).find("8 malformed frames; this connection is no "
                                                                        "longer parsed") != std::string::npos);
    event::Unmodelled u{UnmodelledReason::datagram_signature, Side::guest, 30, {0, 0x25, 0, 0x22}, 4};
    CHECK(text({u}) == "Timbuktu outside the model, passed unchanged and never acted on: the guest datagram of 30 "
                       "bytes begins 00 25 00 22, not a frame header");
    CHECK(text({event::StreamLost{Side::host, "why"}}) == "host stream lost, stopped parsing it: why");
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
