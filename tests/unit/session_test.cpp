// docs/protocol-model.md#phases and #offers: the session state machine, offers and policy.
#include <catch2/catch.hpp>

#include "timbuktu/counters.hpp"
#include "timbuktu/session.hpp"
#include "helpers.hpp"
#include "timbuktu/services.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {
constexpr std::uint32_t kH = 0xCB007102;  // 203.0.113.2 (D == H without NAT)
constexpr std::uint32_t kInternalH = 0x0A000005;  // 10.0.0.5
}  // namespace

TEST_CASE("TCP contact for intercom: offer after HELLO-ACK gives an Expect to D", "[session][B7][B8]") {
    Counters c;
    Policy p;
    Session s(plain_facts(), p, c);
    TcpPeer peer{s};
    auto d1 = peer.guest(hello(timbuktu::kServiceIntercom));
    CHECK(s.phase() == Phase::await_ack);
    CHECK(s.service() == timbuktu::kServiceIntercom);
    CHECK(c.sessions == 1);
    CHECK(has_note(d1, "Timbuktu HELLO"));
    auto d2 = peer.host(hello_ack(timbuktu::kServiceIntercom));
    CHECK(s.phase() == Phase::framed);
    CHECK(only<Expect>(d2).empty());
    auto d3 = peer.host(offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    auto ex = only<Expect>(d3);
    REQUIRE(ex.size() == 1);
    CHECK(ex[0].transport == Transport::udp);
    CHECK(ex[0].guest == ip("198.51.100.2"));
    CHECK(ex[0].address == ip("203.0.113.2"));
    CHECK(ex[0].port == 40001);
    CHECK(ex[0].service == timbuktu::kServiceIntercom);
    CHECK(ex[0].timeout_seconds == 30);
    CHECK_FALSE(ex[0].follow_nat);
    CHECK(c.offers == 1);
    CHECK(c.expectations_created == 1);
    CHECK(c.packets == 3);
    CHECK(s.accepted_offers() == 1);
    // Offers may come at any time, several (B7).
    auto d4 = peer.host(cat({offer(timbuktu::kServiceDragAndDrop, Transport::tcp, 5000, kH),
                             offer(timbuktu::kServiceChat, Transport::tcp, 5001)}));
    REQUIRE(only<Expect>(d4).size() == 2);
    CHECK(only<Expect>(d4)[1].port == 5001);
    CHECK(c.expectations_created == 3);
    CHECK(s.phase() == Phase::framed);
}

TEST_CASE("TCP contact for services 1-4: unframed after HELLO-ACK, StopWatching", "[session][B7]") {
    for (std::uint8_t svc = 1; svc <= 4; ++svc) {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(svc));
        // Guest service data after the HELLO is not an error (A8 opcodes of send files).
        auto dg = peer.guest(Bytes{0xFF, 0xFB, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
        CHECK(c.malformed == 0);
        auto d = peer.host(cat({hello_ack(svc), Bytes{0xF8, 0x00, 0x02, 0xAB, 0xCD}}));
        CHECK(s.phase() == Phase::service_data);
        CHECK(only<StopWatching>(d).size() == 1);
        // Anything later is service data, even bytes that look like an offer.
        auto later = peer.host(offer(9, Transport::tcp, 5000));
        CHECK(later.empty());
        CHECK(c.malformed == 0);
        CHECK(c.offers == 0);
    }
}

TEST_CASE("TCP contact for service 0 and unknown services stays framed", "[session][B7]") {
    for (std::uint8_t svc : {std::uint8_t{0}, std::uint8_t{5}, std::uint8_t{11}, std::uint8_t{200}}) {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(svc));
        peer.host(hello_ack(svc));
        CHECK(s.phase() == Phase::framed);
        CHECK(only<Expect>(peer.host(offer(svc, Transport::tcp, 6000))).size() == 1);
    }
}

TEST_CASE("first guest frame not a valid HELLO: not Timbuktu", "[session][B7]") {
    SECTION("HTTP") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        std::string get = "GET / HTTP/1.0\r\n\r\n";
        auto d = peer.guest(Bytes(get.begin(), get.end()));
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(c.not_timbuktu == 1);
        CHECK(c.malformed == 0);
        CHECK(only<StopWatching>(d).size() == 1);
        CHECK(peer.host(offer(7, Transport::udp, 40000)).empty());
        CHECK(c.offers == 0);
    }
    SECTION("other opcode") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        auto d = peer.guest(frame(timbuktu::kClassGuest, Bytes(16, 0x11)));
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(has_note(d, "opcode 0x1111"));
    }
    SECTION("short HELLO") {
        Counters c;
        Session s(plain_facts(Transport::udp), Policy{}, c);
        auto body = Bytes{0x00, 0x23, 0, 0, 0};
        auto d = udp(s, PacketDirection::original, frame(timbuktu::kClassGuest, body));
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(has_note(d, "HELLO body is 5 bytes"));
    }
    SECTION("host speaks first") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        auto d = peer.host(hello_ack(0));
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(only<StopWatching>(d).size() == 1);
    }
}

TEST_CASE("public probe (A7) and exploit-like first frame (A6) start sessions", "[session][A6][A7]") {
    {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(timbuktu::public_probe_frame());
        CHECK(s.phase() == Phase::await_ack);
        CHECK(s.service() == 0);
        CHECK(c.sessions == 1);
    }
    {
        Bytes body(0xB0, 0x41);
        body[0] = 0x00, body[1] = 0x23, body[2] = 1, body[3] = 0, body[4] = 3, body[5] = 0;
        body[16] = 0x20;  // a 32-byte name, then opaque bytes
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        auto f = frame(timbuktu::kClassGuest, body);
        REQUIRE(Bytes(f.begin(), f.begin() + 6) == Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0xB0});
        peer.guest(f);
        CHECK(s.phase() == Phase::await_ack);
        CHECK(s.service() == timbuktu::kServiceSendFiles);
    }
}

TEST_CASE("legacy UDP contact: HELLO-ACK plus offers in one datagram, more later", "[session][B7]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, hello(timbuktu::kServiceControl));
    CHECK(s.phase() == Phase::await_ack);
    auto d = udp(s, PacketDirection::reply,
                 cat({hello_ack(timbuktu::kServiceControl), offer(timbuktu::kServiceControl, Transport::tcp, 1417)}));
    CHECK(s.phase() == Phase::framed);  // UDP stays framed even for services 1-4
    auto ex = only<Expect>(d);
    REQUIRE(ex.size() == 1);
    CHECK(ex[0].port == 1417);
    CHECK(ex[0].transport == Transport::tcp);
    CHECK(ex[0].timeout_seconds == 120);
    CHECK(only<StopWatching>(d).empty());
    // Zero offers is fine too; later datagrams may carry more.
    auto d2 = udp(s, PacketDirection::reply, offer(timbuktu::kServiceAskPermission, Transport::tcp, 30000, 0, 500));
    REQUIRE(only<Expect>(d2).size() == 1);
    CHECK(only<Expect>(d2)[0].timeout_seconds == 120);  // hint longer than the site's timeout
    // A retransmitted guest HELLO is fine.
    auto d3 = udp(s, PacketDirection::original, hello(timbuktu::kServiceControl));
    CHECK(c.malformed == 0);
    CHECK(c.sessions == 1);
    CHECK(only<Expect>(d3).empty());
}

TEST_CASE("lifetime hint rules", "[session][B8]") {
    Counters c;
    Policy p;
    p.expectation_timeout = 100;
    Session s(plain_facts(Transport::udp), p, c);
    udp(s, PacketDirection::original, hello(7));
    udp(s, PacketDirection::reply, hello_ack(7));
    auto timeout_for = [&](std::uint16_t port, std::uint16_t hint) {
        auto e = only<Expect>(udp(s, PacketDirection::reply, offer(7, Transport::udp, port, 0, hint)));
        REQUIRE(e.size() == 1);
        return e[0].timeout_seconds;
    };
    CHECK(timeout_for(2000, 0) == 100);   // no hint
    CHECK(timeout_for(2001, 1) == 1);     // shorter
    CHECK(timeout_for(2002, 99) == 99);   // shorter
    CHECK(timeout_for(2003, 100) == 100); // equal: the site's timeout
    CHECK(timeout_for(2004, 65535) == 100);
}

TEST_CASE("forged guest offers are refused and never expected", "[session][B5]") {
    for (std::uint16_t cls : {timbuktu::kClassGuest, timbuktu::kClassHost}) {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        peer.host(hello_ack(7));
        auto d = peer.guest(guest_offer(cls, 40000));
        CHECK(only<Expect>(d).empty());
        auto r = only<Refuse>(d);
        REQUIRE(r.size() == 1);
        CHECK(r[0].reason == RefuseReason::forged_guest_offer);
        CHECK(refuse_reason_name(r[0].reason) == "forged");
        CHECK(c.forged == 1);
        CHECK(c.expectations_refused == 1);
        CHECK(c.offers == 0);
        // B10: a guest frame of host class also makes the flow hostile (behaviour change of issue 8).
        CHECK(s.phase() == (cls == timbuktu::kClassHost ? Phase::hostile : Phase::framed));
        CHECK(c.reflected == (cls == timbuktu::kClassHost ? 1u : 0u));
    }
    // As the first guest frame: forged and not Timbuktu.
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    auto d = udp(s, PacketDirection::original, guest_offer(timbuktu::kClassGuest, 40000));
    CHECK(c.forged == 1);
    CHECK(s.phase() == Phase::not_timbuktu);
    CHECK(only<Expect>(d).empty());
}

TEST_CASE("out-of-policy offers are refused", "[session][B8]") {
    Counters c;
    Policy p;
    p.allowed_ports = {{1024, 65535}};
    Session s(dnat_facts(), p, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    peer.host(hello_ack(7));
    SECTION("third-party address") {
        auto d = peer.host(offer(7, Transport::udp, 40000, 0x08080808));
        REQUIRE(only<Refuse>(d).size() == 1);
        CHECK(only<Refuse>(d)[0].reason == RefuseReason::third_party_address);
        CHECK(refuse_text(only<Refuse>(d)[0]).find("8.8.8.8") != std::string::npos);
        CHECK(only<Expect>(d).empty());
        // D is not H under DNAT: an offer naming D is also a third party from the host's view.
        CHECK(only<Refuse>(peer.host(offer(7, Transport::udp, 40000, kH))).size() == 1);
    }
    SECTION("H and 0.0.0.0 are accepted, and go to D") {
        auto e = only<Expect>(peer.host(offer(7, Transport::udp, 40000, kInternalH)));
        REQUIRE(e.size() == 1);
        CHECK(e[0].address == ip("203.0.113.2"));
        CHECK(e[0].follow_nat);
    }
    SECTION("port not allowed") {
        auto d = peer.host(offer(7, Transport::tcp, 22));
        REQUIRE(only<Refuse>(d).size() == 1);
        CHECK(only<Refuse>(d)[0].reason == RefuseReason::port_not_allowed);
        CHECK(c.expectations_refused == 1);
        CHECK(c.offers == 1);
    }
}

TEST_CASE("max_expectations counts distinct streams; repeats re-issue", "[session][B8]") {
    Counters c;
    Policy p;
    p.max_expectations = 2;
    Session s(plain_facts(), p, c);
    TcpPeer peer{s};
    peer.guest(hello(9));
    peer.host(hello_ack(9));
    CHECK(only<Expect>(peer.host(offer(9, Transport::tcp, 5000))).size() == 1);
    CHECK(only<Expect>(peer.host(offer(9, Transport::udp, 5000))).size() == 1);  // other transport: distinct
    auto third = peer.host(offer(9, Transport::tcp, 5002));
    REQUIRE(only<Refuse>(third).size() == 1);
    CHECK(only<Refuse>(third)[0].reason == RefuseReason::too_many_expectations);
    auto again = only<Expect>(peer.host(offer(9, Transport::tcp, 5000, 0, 10)));
    REQUIRE(again.size() == 1);
    CHECK(again[0].timeout_seconds == 10);
    CHECK(s.accepted_offers() == 2);
    CHECK(c.expectations_created == 3);
    CHECK(c.expectations_refused == 1);
}

TEST_CASE("a malformed packet never produces an Expect", "[session][B1]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, hello(7));
    udp(s, PacketDirection::reply, hello_ack(7));
    auto bad_offer = offer(7, Transport::udp, 40001);
    bad_offer[6 + 3] = 5;  // transport 5
    auto d = udp(s, PacketDirection::reply, cat({offer(7, Transport::udp, 40000), bad_offer}));
    CHECK(only<Expect>(d).empty());
    CHECK(c.malformed == 1);
    CHECK(has_note(d, "transport 5"));
    CHECK(has_note(d, "not acted on"));
    // Datagram ending mid-frame: the whole datagram is rejected.
    auto cut = cat({offer(7, Transport::udp, 40000), Bytes{0x01, 0x01, 0x00, 0x00}});
    auto d2 = udp(s, PacketDirection::reply, cut);
    CHECK(only<Expect>(d2).empty());
    CHECK(c.malformed == 2);
    // The session continues.
    CHECK(only<Expect>(udp(s, PacketDirection::reply, offer(7, Transport::udp, 40000))).size() == 1);
}

TEST_CASE("one packet repeating an offer of the same stream gives at most 4 Expects for it",
          "[session][B8][hostile]") {
    Counters c;
    Policy p;
    Session s(plain_facts(Transport::udp), p, c);
    udp(s, PacketDirection::original, hello(timbuktu::kServiceControl));
    Bytes datagram = hello_ack(timbuktu::kServiceControl);
    // 2000 copies of one offer, and a second stream in the middle.
    for (int i = 0; i < 2000; ++i) {
        datagram = cat({datagram, offer(timbuktu::kServiceControl, Transport::tcp, 1417, 0, 10)});
        if (i == 1000) datagram = cat({datagram, offer(timbuktu::kServiceControl, Transport::tcp, 1418, 0, 10)});
    }
    REQUIRE(datagram.size() < 65000);
    auto d = udp(s, PacketDirection::reply, datagram);
    auto ex = only<Expect>(d);
    REQUIRE(ex.size() == 5);
    std::size_t p1417 = 0, p1418 = 0;
    for (const auto& e : ex) (e.port == 1417 ? p1417 : p1418) += 1;
    CHECK(p1417 == 4);
    CHECK(p1418 == 1);
    CHECK(c.expectations_created == 5);
    CHECK(c.offers == 2001);
    CHECK(s.accepted_offers() == 2);
    CHECK(d.size() < 40);  // no decision slot per copy left behind
}
