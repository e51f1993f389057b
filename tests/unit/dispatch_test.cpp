// The dispatch table (timbuktu/messages.hpp, docs/protocol-model.md#dispatch)
// and the first-frame probe (timbuktu/probe.hpp, docs/protocol-model.md#probe).
#include <catch2/catch.hpp>

#include <set>

#include "helpers.hpp"
#include "timbuktu/messages.hpp"
#include "timbuktu/probe.hpp"

using namespace tbtest;

namespace {

// An opcode that reaches `row`: its own, or for a wildcard row one no
// specific row of the same sender and class takes.
std::uint16_t opcode_for(const DispatchRow& row) {
    return row.opcode == kAnyOpcode ? std::uint16_t{0x0040} : static_cast<std::uint16_t>(row.opcode);
}

enum class Outcome { parsed, not_timbuktu, hostile };
Outcome outcome_of(const Session& s) {
    if (s.phase() == Phase::not_timbuktu) return Outcome::not_timbuktu;
    if (s.phase() == Phase::hostile) return Outcome::hostile;
    return Outcome::parsed;
}
Outcome expected(const Verdict& v) {
    switch (v.kind) {
        case Verdict::Kind::parse: return Outcome::parsed;
        case Verdict::Kind::not_timbuktu: return Outcome::not_timbuktu;
        case Verdict::Kind::hostile: return Outcome::hostile;
    }
    return Outcome::parsed;
}
// A frame of `row` with a body its handler accepts where it has one.
Bytes frame_for(const DispatchRow& row) {
    const std::uint16_t op = opcode_for(row);
    if (row.frame_class == kClassGuest && op == kOpHello) return hello(7, 0, "g");
    if (row.frame_class == kClassHost && op == kOpHello) return hello_ack(7, 0, "h");
    if (op == kOpPortOffer) return guest_offer(row.frame_class, 5000);  // the class chosen, the offer well formed
    return frame(row.frame_class, Bytes{static_cast<std::uint8_t>(op >> 8), static_cast<std::uint8_t>(op), 0, 0});
}

}  // namespace

TEST_CASE("dispatch: every row is reachable, every frame has exactly one row", "[dispatch]") {
    const auto table = dispatch_table();
    REQUIRE(table.size() == 12);
    std::set<const DispatchRow*> reached;
    for (const auto& row : table) {
        INFO(row.what);
        CHECK(dispatch(row.sender, row.frame_class, opcode_for(row)) == &row);
        CHECK_FALSE(row.what.empty());
        reached.insert(&row);
    }
    CHECK(reached.size() == table.size());
    // Every opcode of both classes from both sides lands on a row; the table's
    // message for (class, opcode) is the same from either side.
    for (Side sender : {Side::guest, Side::host})
        for (std::uint16_t cls : {kClassGuest, kClassHost})
            for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
                const auto* row = dispatch(sender, cls, static_cast<std::uint16_t>(op));
                REQUIRE(row != nullptr);
                REQUIRE(row->sender == sender);
                REQUIRE(row->frame_class == cls);
                REQUIRE(row->message == message_of(cls, static_cast<std::uint16_t>(op)));
            }
    // A class decode_header rejects has no row.
    CHECK(dispatch(Side::guest, 0x0202, kOpHello) == nullptr);
    CHECK(dispatch(Side::host, 0x0000, kOpPortOffer) == nullptr);
}

TEST_CASE("dispatch: the meaning of each message", "[dispatch]") {
    const auto* hello_row = dispatch(Side::guest, kClassGuest, kOpHello);
    CHECK(hello_row->handler == Handler::hello);
    CHECK(hello_row->address_count == 2);
    CHECK(hello_row->addresses[1].offset == kHelloSecondAddressOffset);
    CHECK(dispatch(Side::host, kClassHost, kOpHello)->handler == Handler::hello_ack);
    CHECK(dispatch(Side::host, kClassHost, kOpPortOffer)->handler == Handler::port_offer);
    // A PORT-OFFER from the guest is forged whatever its class (docs/protocol-model.md#forgery).
    CHECK(dispatch(Side::guest, kClassGuest, kOpPortOffer)->forged_offer);
    CHECK(dispatch(Side::guest, kClassHost, kOpPortOffer)->forged_offer);
    for (const auto& row : dispatch_table())
        if (row.sender == Side::host) CHECK_FALSE(row.forged_offer);
    // Unknown opcodes: ignored (counted) after the opening message; before it,
    // not Timbuktu from the guest, hostile from the host.
    for (std::uint16_t op : {std::uint16_t{0x0000}, std::uint16_t{0x0040}, std::uint16_t{0xFFFF}}) {
        const auto* g = dispatch(Side::guest, kClassGuest, op);
        CHECK(g->handler == Handler::ignore);
        CHECK(g->message == Message::other);
        CHECK(g->opening.kind == Verdict::Kind::not_timbuktu);
        CHECK(g->opening.not_timbuktu == NotTimbuktuReason::first_frame_opcode);
        CHECK(g->established.kind == Verdict::Kind::parse);
        const auto* h = dispatch(Side::host, kClassHost, op);
        CHECK(h->handler == Handler::ignore);
        CHECK(h->opening.kind == Verdict::Kind::hostile);
        CHECK(h->opening.hostile == HostileReason::host_first_not_ack);
        CHECK(retained_body_bytes(FrameHeader{kClassHost, 0, 5000}, op) == 2);
    }
    CHECK(retained_body_bytes(FrameHeader{kClassGuest, 0, 5000}, kOpHello) == kHelloRetainedBody);
    CHECK(retained_body_bytes(FrameHeader{kClassHost, 0, 5000}, kOpHello) == kHelloAckRetainedBody);
    CHECK(retained_body_bytes(FrameHeader{kClassGuest, 0, 5000}, kOpPortOffer) == kPortOfferBody);
    CHECK(retained_body_bytes(FrameHeader{kClassGuest, 0, 20}, kOpHello) == 20);
    CHECK(message_name(Message::hello_ack) == "HELLO-ACK");
}

// Each row, met in a real session before and after its sender's opening
// message, gives the verdict the table states (the session reads the table).
TEST_CASE("dispatch: the session follows every row's verdicts", "[dispatch][session]") {
    Policy policy;
    for (const auto& row : dispatch_table()) {
        INFO(row.what);
        for (bool opening : {true, false}) {
            INFO((opening ? "opening" : "established"));
            Counters counters;
            Session s(plain_facts(), policy, counters);
            TcpPeer peer{s};
            if (row.sender == Side::host || !opening) peer.guest(hello(7, 0, "g"));
            if (row.sender == Side::host && !opening) peer.host(hello_ack(7, 0, "h"));
            if (row.sender == Side::guest && !opening) peer.host(hello_ack(7, 0, "h"));
            const auto before = s.phase();
            const auto forged_before = counters.forged;
            const auto d = row.sender == Side::guest ? peer.guest(frame_for(row)) : peer.host(frame_for(row));
            CHECK(outcome_of(s) == expected(opening ? row.opening : row.established));
            CHECK(counters.forged - forged_before == (row.forged_offer ? 1u : 0u));
            if (expected(opening ? row.opening : row.established) != Outcome::parsed) continue;
            switch (row.handler) {
                case Handler::hello: CHECK(s.phase() == (opening ? Phase::await_ack : before)); break;
                case Handler::hello_ack: CHECK(s.phase() == Phase::framed); break;
                case Handler::port_offer: CHECK(only<Expect>(d).size() == 1); break;
                case Handler::ignore:
                    CHECK(has_note(d, "opcode 0x0040 ignored"));
                    CHECK(counters.other_opcodes.count(0x0040) == 1);
                    break;
                case Handler::none: CHECK(only<Expect>(d).empty()); break;
            }
        }
    }
}

TEST_CASE("probe: timbuktu, not timbuktu or need more, typed", "[probe]") {
    const Bytes a7 = public_probe_frame();
    const auto yes = probe_stream_start(a7);
    CHECK(yes.verdict == ProbeVerdict::timbuktu);
    REQUIRE(yes.hello);
    CHECK(yes.hello->service == 0);
    CHECK(yes.opcode == kOpHello);
    // Every prefix shorter than the frame needs more bytes.
    for (std::size_t n = 0; n < a7.size(); ++n) {
        INFO(n);
        CHECK(probe_stream_start(std::span<const std::uint8_t>(a7).first(n)).verdict == ProbeVerdict::need_more);
    }
    // A long HELLO is judged on its retained prefix, before the trailer has arrived.
    Bytes big = hello(7, 0, "g");
    big.resize(big.size() + 3000, 0xAB);
    tb::store_be24(big.data() + 3, static_cast<std::uint32_t>(big.size() - kHeaderSize));
    CHECK(probe_stream_start(std::span<const std::uint8_t>(big).first(kHeaderSize + kHelloRetainedBody)).verdict ==
          ProbeVerdict::timbuktu);

    const auto bad_header = probe_stream_start(Bytes{'G', 'E', 'T', ' ', '/', ' ', 'H'});
    CHECK(bad_header.verdict == ProbeVerdict::not_timbuktu);
    CHECK(bad_header.reason == NotTimbuktuReason::first_bytes_not_header);
    REQUIRE(bad_header.parser_error);
    CHECK(bad_header.parser_error->reason == WireReason::class_unknown);
    CHECK(bad_header.parser_error->value == 0x4745);

    const auto po = probe_stream_start(guest_offer(kClassGuest, 5000));
    CHECK(po.verdict == ProbeVerdict::not_timbuktu);
    CHECK(po.reason == NotTimbuktuReason::first_frame_port_offer);
    CHECK(probe_stream_start(guest_offer(kClassHost, 5000)).reason == NotTimbuktuReason::first_frame_port_offer);
    const auto ack = probe_stream_start(hello_ack(7));
    CHECK(ack.verdict == ProbeVerdict::not_timbuktu);
    CHECK(ack.reason == NotTimbuktuReason::first_frame_class);
    CHECK(ack.frame_class == kClassHost);
    const auto other = probe_stream_start(frame(kClassGuest, Bytes{0x00, 0x40, 1, 2}));
    CHECK(other.reason == NotTimbuktuReason::first_frame_opcode);
    CHECK(other.opcode == 0x0040);
    // Class and opcode alone decide these: two body bytes are enough.
    CHECK(probe_stream_start(Bytes{0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x31}).verdict ==
          ProbeVerdict::not_timbuktu);

    const auto short_hello = probe_stream_start(frame(kClassGuest, Bytes{0x00, 0x23, 5, 2, 7, 1, 0, 0, 0, 0}));
    CHECK(short_hello.verdict == ProbeVerdict::not_timbuktu);
    CHECK(short_hello.reason == NotTimbuktuReason::first_hello_invalid);
    REQUIRE(short_hello.parser_error);
    CHECK(short_hello.parser_error->reason == WireReason::hello_short);
    CHECK(short_hello.parser_error->have == 10);
}

TEST_CASE("probe: the session's first-frame verdicts are the probe's", "[probe][session]") {
    const std::vector<Bytes> firsts = {hello(7), public_probe_frame(), guest_offer(kClassGuest, 5000), hello_ack(7),
                                       frame(kClassGuest, Bytes{0x00, 0x40, 1, 2}),
                                       frame(kClassGuest, Bytes{0x00, 0x23, 5, 2, 7, 1, 0, 0, 0, 0})};
    Policy policy;
    for (const auto& first : firsts) {
        const auto probe = probe_stream_start(first);
        REQUIRE(probe.verdict != ProbeVerdict::need_more);
        Counters counters;
        Session s(plain_facts(), policy, counters);
        TcpPeer peer{s};
        const auto d = peer.guest(first);
        if (probe.verdict == ProbeVerdict::timbuktu) {
            CHECK(s.phase() == Phase::await_ack);
            continue;
        }
        CHECK(s.phase() == Phase::not_timbuktu);
        bool found = false;
        for (const auto& e : only<Event>(d))
            if (const auto* n = std::get_if<event::NotTimbuktu>(&e.data)) {
                found = true;
                CHECK(n->reason == probe.reason);
                CHECK(n->parser_error == probe.parser_error);
            }
        CHECK(found);
    }
}

TEST_CASE("dispatch: the lookup gives the first matching row of the table", "[dispatch]") {
    const auto table = dispatch_table();
    for (Side sender : {Side::guest, Side::host})
        for (std::uint16_t cls : {kClassGuest, kClassHost, std::uint16_t{0x0202}})
            for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
                const DispatchRow* first = nullptr;
                for (const auto& row : table)
                    if (row.sender == sender && row.frame_class == cls && (row.opcode == op || row.opcode == kAnyOpcode)) {
                        first = &row;
                        break;
                    }
                REQUIRE(dispatch(sender, cls, static_cast<std::uint16_t>(op)) == first);
            }
}
