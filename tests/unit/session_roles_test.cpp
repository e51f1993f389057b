// docs/protocol-model.md#b10-roles (who may speak for the host), the malformed cap and the bounds on
// events: docs/protocol-model.md#b10-roles, #malformed-cap, #event-bounds.
#include <catch2/catch.hpp>

#include "timbuktu/session.hpp"
#include "helpers.hpp"
#include "timbuktu/services.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {

std::size_t warnings(const Decisions& ds) {
    std::size_t n = 0;
    for (const auto& e : only<Event>(ds)) n += e.level() == EventLevel::warning;
    return n;
}
// Events of level info or warning plus Refuses: what becomes a log line.
std::size_t events(const Decisions& ds) {
    std::size_t n = only<Refuse>(ds).size();
    for (const auto& e : only<Event>(ds)) n += e.level() != EventLevel::debug;
    return n;
}
Bytes reflected_hello() { return hello(timbuktu::kServiceIntercom, 0, "guest"); }
// What a guest sends to be echoed back as the host's answer.
Bytes forged_answer() {
    return cat({hello_ack(timbuktu::kServiceIntercom), offer(timbuktu::kServiceIntercom, Transport::udp, 40000)});
}

}  // namespace

TEST_CASE("B10: UDP echo of the guest's HELLO makes the flow hostile in both directions", "[roles][B10]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, reflected_hello());
    CHECK(s.phase() == Phase::await_ack);
    // The echo service returns the HELLO in the reply direction: class 0x0001 from the host side.
    auto echo = udp(s, PacketDirection::reply, reflected_hello());
    CHECK(s.phase() == Phase::hostile);
    CHECK(phase_name(s.phase()) == "hostile");
    CHECK(c.reflected == 1);
    CHECK(warnings(echo) == 1);
    CHECK(has_note(echo, "guest class 0x0001"));
    CHECK(only<StopWatching>(echo).size() == 1);  // no expectation hangs off it: detach
    // The guest's forged answer and its echo: nothing is acted on, nothing more is counted.
    auto d1 = udp(s, PacketDirection::original, forged_answer());
    auto d2 = udp(s, PacketDirection::reply, forged_answer());
    CHECK(d1.empty());
    CHECK(d2.empty());
    CHECK(c.offers == 0);
    CHECK(c.expectations_created == 0);
    CHECK(c.reflected == 1);  // once per flow
}

TEST_CASE("B10: a guest sending host-class frames is hostile at once, its echo is never an offer", "[roles][B10]") {
    for (auto t : {Transport::udp, Transport::tcp}) {
        Counters c;
        Session s(plain_facts(t), Policy{}, c);
        TcpPeer peer{s};
        auto send = [&](PacketDirection d, const Bytes& b) {
            if (t == Transport::udp) return udp(s, d, b);
            return d == PacketDirection::original ? peer.guest(b) : peer.host(b);
        };
        send(PacketDirection::original, reflected_hello());
        auto d = send(PacketDirection::original, forged_answer());
        INFO(transport_name(t));
        CHECK(s.phase() == Phase::hostile);
        CHECK(c.reflected == 1);
        CHECK(has_note(d, "host class 0x0101"));
        CHECK(only<Expect>(send(PacketDirection::reply, forged_answer())).empty());
        CHECK(c.offers == 0);
    }
}

TEST_CASE("B10: TCP echo, whatever the segmentation, never gives an Expect", "[roles][B10]") {
    // Guest stream: HELLO then a forged answer; the echo returns the same bytes.
    const auto stream = cat({reflected_hello(), forged_answer()});
    for (std::size_t split = 1; split < stream.size(); ++split) {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(reflected_hello());  // the guest's HELLO as its own segment
        Decisions all = peer.host(Bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(split)));
        all = append(all, peer.host(Bytes(stream.begin() + static_cast<std::ptrdiff_t>(split), stream.end())));
        INFO("split at " << split);
        CHECK(only<Expect>(all).empty());
        // Hostile as soon as the echoed header and opcode have arrived (8 bytes), or once they complete.
        CHECK(s.phase() == Phase::hostile);
        CHECK(c.reflected == 1);
        CHECK(warnings(all) == 1);
    }
}

TEST_CASE("B10: offers pending in the packet that shows the flow hostile are not acted on", "[roles][B10]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, hello(7));
    // A real-looking answer, then a reflected guest frame in the same datagram.
    auto d = udp(s, PacketDirection::reply,
                 cat({hello_ack(7), offer(7, Transport::udp, 40000), offer(7, Transport::tcp, 40001),
                      frame(timbuktu::kClassGuest, Bytes{0x00, 0x40})}));
    CHECK(s.phase() == Phase::hostile);
    CHECK(only<Expect>(d).empty());
    CHECK(has_note(d, "and 1 more offers not acted on: the flow is hostile"));
    CHECK(c.offers == 2);  // seen and counted, never acted on
    CHECK(c.expectations_created == 0);
    CHECK(s.accepted_offers() == 0);
}

TEST_CASE("B10: the host's first frame must be the HELLO-ACK", "[roles][B10]") {
    SECTION("a PORT-OFFER before the HELLO-ACK") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        auto d = peer.host(cat({offer(7, Transport::udp, 40000), hello_ack(7)}));
        CHECK(s.phase() == Phase::hostile);
        CHECK(has_note(d, "must be a HELLO-ACK"));
        CHECK(only<Expect>(d).empty());
        CHECK(only<Expect>(peer.host(offer(7, Transport::udp, 40001))).empty());
        CHECK(c.reflected == 1);
    }
    SECTION("a malformed HELLO-ACK is only malformed; the real one may follow") {
        Counters c;
        Session s(plain_facts(Transport::udp), Policy{}, c);
        udp(s, PacketDirection::original, hello(7));
        auto bad = hello_ack(7);
        bad[6 + 38] = 200;  // the name overflows the body
        udp(s, PacketDirection::reply, bad);
        CHECK(s.phase() == Phase::await_ack);
        CHECK(c.malformed == 1);
        udp(s, PacketDirection::reply, hello_ack(7));
        CHECK(s.phase() == Phase::framed);
        CHECK(only<Expect>(udp(s, PacketDirection::reply, offer(7, Transport::udp, 40000))).size() == 1);
    }
    SECTION("judged from the header and opcode of a frame that never completes") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        Bytes start{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x23};  // guest class from the host, 65535 bytes
        auto d = peer.host(start);
        CHECK(s.phase() == Phase::hostile);
        CHECK(c.reflected == 1);
    }
}

TEST_CASE("B10: a flow with an expectation turns hostile without StopWatching", "[roles][B10]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    peer.host(hello_ack(7));
    REQUIRE(only<Expect>(peer.host(offer(7, Transport::udp, 40000))).size() == 1);
    auto d = peer.host(frame(timbuktu::kClassGuest, Bytes{0x00, 0x23}));
    CHECK(s.phase() == Phase::hostile);
    CHECK(only<StopWatching>(d).empty());
    CHECK(only<Expect>(peer.host(offer(7, Transport::udp, 40001))).empty());
    // Hostile survives a daemon restart.
    Counters c2;
    auto r = Session::restore(plain_facts(), Policy{}, c2, s.persisted());
    REQUIRE(r);
    CHECK(r->phase() == Phase::hostile);
    TcpPeer restored{*r, peer.guest_seq, peer.host_seq};
    CHECK(only<Expect>(restored.host(offer(7, Transport::udp, 40002))).empty());
}

TEST_CASE("malformed cap: a 65000-byte datagram of malformed frames gives one malformed event", "[roles][malformed]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, hello(7));
    udp(s, PacketDirection::reply, hello_ack(7));
    // 8125 frames of 8 bytes: PORT-OFFERs with a 2-byte body.
    Bytes flood;
    for (int i = 0; i < 8125; ++i) {
        auto f = frame(timbuktu::kClassHost, Bytes{0x00, 0x31});
        flood.insert(flood.end(), f.begin(), f.end());
    }
    REQUIRE(flood.size() == 65000);
    auto d = udp(s, PacketDirection::reply, flood);
    CHECK(d.size() <= 3);
    CHECK(warnings(d) == 2);  // the one malformed event, and the flow turning hostile
    CHECK(has_note(d, "more malformed frames in this packet"));
    CHECK(c.malformed == 8);
    CHECK(c.reflected == 0);  // hostile by the cap, not by a reflection
    CHECK(s.phase() == Phase::hostile);
    // Repeating it costs nothing more.
    for (int i = 0; i < 10; ++i) CHECK(udp(s, PacketDirection::reply, flood).empty());
    CHECK(c.malformed == 8);
}

TEST_CASE("malformed cap: a TCP segment of malformed frames, and the cap across packets", "[roles][malformed]") {
    SECTION("one segment") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        peer.host(hello_ack(7));
        Bytes segment;
        for (int i = 0; i < 181; ++i) {
            auto f = offer(7, Transport::udp, 40000);
            f[6 + 3] = 5;  // transport 5: malformed body, framing intact
            segment.insert(segment.end(), f.begin(), f.end());
        }
        auto d = peer.host(segment);
        CHECK(events(d) <= 2);
        CHECK(c.malformed == 8);
        CHECK(s.phase() == Phase::hostile);
    }
    SECTION("seven malformed datagrams are tolerated, the eighth ends parsing") {
        Counters c;
        Session s(plain_facts(Transport::udp), Policy{}, c);
        udp(s, PacketDirection::original, hello(7));
        udp(s, PacketDirection::reply, hello_ack(7));
        for (int i = 0; i < 7; ++i) {
            auto d = udp(s, PacketDirection::reply, Bytes{0x01, 0x01, 0x00, 0x00});
            CHECK(warnings(d) == 1);
        }
        CHECK(s.phase() == Phase::framed);
        CHECK(only<Expect>(udp(s, PacketDirection::reply, offer(7, Transport::udp, 40000))).size() == 1);
        // The count survives a restart.
        auto r = Session::restore(plain_facts(Transport::udp), Policy{}, c, s.persisted());
        REQUIRE(r);
        udp(*r, PacketDirection::reply, Bytes{0x01, 0x01, 0x00, 0x00});
        CHECK(r->phase() == Phase::hostile);
        CHECK(c.malformed == 8);
    }
}

TEST_CASE("event bounds: per packet and per connection", "[roles][events]") {
    Policy p;
    p.allowed_ports = {{1024, 65535}};
    SECTION("100 refused offers in one datagram") {
        Counters c;
        Session s(plain_facts(Transport::udp), p, c);
        udp(s, PacketDirection::original, hello(7));
        udp(s, PacketDirection::reply, hello_ack(7));
        Bytes many;
        for (std::uint16_t port = 1; port <= 100; ++port) {
            auto f = offer(7, Transport::tcp, port);  // below allowed_ports
            many.insert(many.end(), f.begin(), f.end());
        }
        auto d = udp(s, PacketDirection::reply, many);
        CHECK(only<Refuse>(d).size() == 16);
        CHECK(has_note(d, "84 more events of this packet not reported"));
        CHECK(c.expectations_refused == 100);  // the counters have all of them
        CHECK(c.offers == 100);
    }
    SECTION("a long flow of refusals") {
        Counters c;
        Session s(plain_facts(Transport::udp), p, c);
        udp(s, PacketDirection::original, hello(7));
        udp(s, PacketDirection::reply, hello_ack(7));
        std::size_t total = 0;
        for (int i = 0; i < 1000; ++i) total += events(udp(s, PacketDirection::reply, offer(7, Transport::tcp, 22)));
        CHECK(total <= 256 + 1);
        CHECK(c.expectations_refused == 1000);
        // Acting is not bounded by reporting: an allowed offer still gives its Expect.
        CHECK(only<Expect>(udp(s, PacketDirection::reply, offer(7, Transport::tcp, 5000))).size() == 1);
    }
    SECTION("other opcodes: at most a few debug notes per packet") {
        Counters c;
        Session s(plain_facts(Transport::udp), p, c);
        udp(s, PacketDirection::original, hello(7));
        udp(s, PacketDirection::reply, hello_ack(7));
        Bytes chatter;
        for (int i = 0; i < 5000; ++i) {
            auto f = frame(timbuktu::kClassHost, Bytes{0x00, 0x60, 1, 2});
            chatter.insert(chatter.end(), f.begin(), f.end());
        }
        auto d = udp(s, PacketDirection::reply, chatter);
        CHECK(d.size() <= 4);
        CHECK(c.other_opcodes.at(0x0060) == 5000);
    }
}

TEST_CASE("a first guest frame is rejected as soon as its header and opcode say it is not a HELLO",
          "[roles][streaming]") {
    // 65535 body bytes declared, only the header and the opcode sent: the verdict does not wait.
    for (Bytes start : {Bytes{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x60},    // other opcode
                        Bytes{0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x23},    // host class
                        Bytes{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x31}}) {  // a PORT-OFFER
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        auto d = peer.guest(Bytes(start.begin(), start.begin() + 7));
        CHECK(s.phase() == Phase::await_hello);  // one body byte: the opcode is not known yet
        d = peer.guest(Bytes{start[7]});
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(only<StopWatching>(d).size() == 1);
        CHECK(c.not_timbuktu == 1);
        CHECK(c.forged == (start[7] == 0x31 ? 1u : 0u));
    }
    // A HELLO's header and opcode: it waits for the rest, holding only its prefix.
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(Bytes{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x23});
    for (int i = 0; i < 40; ++i) peer.guest(Bytes(1400, 0x41));
    CHECK(s.phase() == Phase::await_hello);
    CHECK(s.memory_bytes() <= 1024 + 512);
}

TEST_CASE("a guest that sends other bytes for positions it sent before is hostile (insertion, B10)",
          "[session][B10][hostile]") {
    // The attack: V (a HELLO) dies after the firewall, so only the helper sees
    // it; H' at the same positions (a HELLO-ACK and a PORT-OFFER of the
    // guest's own) reaches an echo on the host, which returns it as the reply.
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    const std::uint32_t start = peer.guest_seq;
    Bytes forged = cat({hello_ack(0), offer(0, Transport::tcp, 5900)});
    // V: a HELLO padded to the same length (its length field says less)
    Bytes v = hello(0, 0, "x");
    v.resize(forged.size(), 0);
    peer.guest(v);
    REQUIRE(s.phase() == Phase::await_ack);
    peer.guest_seq = start;  // "retransmit" of the same positions with other bytes
    auto d = peer.guest(forged);
    CHECK(s.phase() == Phase::hostile);
    CHECK(has_note(d, "other bytes for stream positions"));
    auto echo = peer.host(forged);
    CHECK(only<Expect>(echo).empty());
    CHECK(c.expectations_created == 0);
}

TEST_CASE("a real retransmit (same bytes, other segmentation) is no insertion", "[session][B10]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    const std::uint32_t start = peer.guest_seq;
    Bytes h = hello(7);
    peer.guest(Bytes(h.begin(), h.begin() + 10));
    peer.guest_seq = start;
    peer.guest(h);  // the whole HELLO again, overlapping the first 10 bytes
    REQUIRE(s.phase() == Phase::await_ack);
    peer.host(hello_ack(7));
    auto d = peer.host(offer(7, Transport::udp, 40001));
    CHECK(s.phase() == Phase::framed);
    CHECK(only<Expect>(d).size() == 1);
    CHECK(s.memory_bytes() < 1024);  // the kept guest bytes are freed after the handshake
}
