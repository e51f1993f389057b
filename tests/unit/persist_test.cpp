// Session persistence: the <= 32 bytes kept in the kernel's helper private data.
#include <catch2/catch.hpp>

#include <random>

#include "timbuktu/session.hpp"
#include "helpers.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {
constexpr std::uint32_t kGuestIsn = 0xFFFFFFF0u;
constexpr std::uint32_t kHostIsn = 0x12345678u;
}  // namespace

TEST_CASE("persisted state round-trips mid-session", "[persist]") {
    Counters c;
    Policy p;
    p.max_expectations = 3;
    Session s(plain_facts(), p, c);
    TcpPeer peer{s, kGuestIsn, kHostIsn};
    const auto fresh = s.persisted();
    CHECK(fresh.size() == kPersistedStateSize);
    peer.guest(hello(7));
    CHECK(s.persisted() != fresh);
    peer.host(hello_ack(7));
    peer.host(offer(7, Transport::udp, 40000));
    peer.host(offer(7, Transport::tcp, 40000));
    const auto state = s.persisted();

    Counters c2;
    auto r = Session::restore(plain_facts(), p, c2, state);
    REQUIRE(r);
    CHECK(r->phase() == Phase::framed);
    CHECK(r->service() == 7);
    CHECK(r->accepted_offers() == 2);
    CHECK(r->persisted() == state);
    // The restored session parses at the right stream position.
    TcpPeer restored{*r, peer.guest_seq, peer.host_seq};
    auto repeat = restored.host(offer(7, Transport::udp, 40000, 0, 5));  // known: re-issued, not counted
    REQUIRE(only<Expect>(repeat).size() == 1);
    CHECK(r->accepted_offers() == 2);
    CHECK(only<Expect>(restored.host(offer(7, Transport::udp, 40001))).size() == 1);
    auto over = restored.host(offer(7, Transport::udp, 40002));
    REQUIRE(only<Refuse>(over).size() == 1);
    CHECK(only<Refuse>(over)[0].reason == RefuseReason::too_many_expectations);
    // Counters go to the counters the restored session was given.
    CHECK(c2.expectations_created == 2);
    CHECK(c.expectations_created == 2);
}

TEST_CASE("every phase round-trips", "[persist]") {
    auto check_roundtrip = [](Session& s, Transport t) {
        Counters c;
        auto r = Session::restore(t == Transport::tcp ? plain_facts() : plain_facts(Transport::udp), Policy{}, c,
                                  s.persisted());
        REQUIRE(r);
        CHECK(r->phase() == s.phase());
        CHECK(r->service() == s.service());
        CHECK(r->persisted() == s.persisted());
    };
    Counters c;
    Session tcp(plain_facts(), Policy{}, c);
    TcpPeer peer{tcp};
    check_roundtrip(tcp, Transport::tcp);
    peer.guest(hello(2));
    check_roundtrip(tcp, Transport::tcp);  // guest direction stopped after a service-2 HELLO
    peer.host(hello_ack(2));
    CHECK(tcp.phase() == Phase::service_data);
    const auto stopped_state = tcp.persisted();
    peer.host(Bytes(100, 0x42));
    CHECK(tcp.persisted() == stopped_state);  // constant once nothing is parsed
    check_roundtrip(tcp, Transport::tcp);

    Session u(plain_facts(Transport::udp), Policy{}, c);
    udp(u, PacketDirection::original, hello(1));
    udp(u, PacketDirection::reply, cat({hello_ack(1), offer(1, Transport::tcp, 1417)}));
    check_roundtrip(u, Transport::udp);

    Session nt(plain_facts(), Policy{}, c);
    TcpPeer p2{nt};
    p2.guest(Bytes{'S', 'S', 'H', '-', '2', '.', '0'});
    CHECK(nt.phase() == Phase::not_timbuktu);
    check_roundtrip(nt, Transport::tcp);
}

TEST_CASE("only the 5 most recent offer keys survive a restart", "[persist]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, hello(7));
    udp(s, PacketDirection::reply, hello_ack(7));
    for (std::uint16_t port = 2000; port < 2007; ++port) udp(s, PacketDirection::reply, offer(7, Transport::udp, port));
    auto r = Session::restore(plain_facts(Transport::udp), Policy{}, c, s.persisted());
    REQUIRE(r);
    CHECK(r->accepted_offers() == 7);
    udp(*r, PacketDirection::reply, offer(7, Transport::udp, 2006));  // recent: not counted again
    CHECK(r->accepted_offers() == 7);
    CHECK(only<Expect>(udp(*r, PacketDirection::reply, offer(7, Transport::udp, 2000))).size() == 1);
    CHECK(r->accepted_offers() == 8);  // forgotten key counts again (documented)
}

TEST_CASE("restore inside a frame: the continuation is reported and that direction stops", "[persist][B1]") {
    for (bool with_offer_before : {false, true}) {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s, kGuestIsn, kHostIsn};
        peer.guest(hello(7));
        peer.host(hello_ack(7));
        if (with_offer_before) peer.host(offer(7, Transport::udp, 40000));
        auto o = offer(7, Transport::udp, 40001);
        peer.host(Bytes(o.begin(), o.begin() + 5));  // the daemon dies here
        const auto state = s.persisted();

        Counters c2;
        auto r = Session::restore(plain_facts(), Policy{}, c2, state);
        REQUIRE(r);
        TcpPeer restored{*r, peer.guest_seq, peer.host_seq};
        auto d = restored.host(Bytes(o.begin() + 5, o.end()));
        CHECK(only<Expect>(d).empty());
        CHECK(has_note(d, "restarted inside a frame"));
        CHECK(c2.stream_lost == 1);
        CHECK(r->phase() == Phase::lost);
        CHECK(only<StopWatching>(d).size() == (with_offer_before ? 0u : 1u));
    }
    // The guest direction mid-frame: only that direction stops.
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s, kGuestIsn, kHostIsn};
    peer.guest(hello(7));
    peer.host(hello_ack(7));
    peer.guest(Bytes{0x00, 0x01, 0x00});
    auto r = Session::restore(plain_facts(), Policy{}, c, s.persisted());
    REQUIRE(r);
    TcpPeer restored{*r, peer.guest_seq, peer.host_seq};
    CHECK(has_note(restored.guest(Bytes{0x00, 0x00, 0x02, 0x00, 0x50}), "restarted inside a frame"));
    CHECK(r->phase() == Phase::framed);
    CHECK(only<Expect>(restored.host(offer(7, Transport::udp, 40001))).size() == 1);
}

TEST_CASE("garbage or foreign bytes do not restore", "[persist]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    peer.host(hello_ack(7));
    peer.host(offer(7, Transport::udp, 40000));
    const auto good = s.persisted();
    REQUIRE(Session::restore(plain_facts(), Policy{}, c, good));

    CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, PersistedState{}));
    CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, std::span<const std::uint8_t>(good.data(), 31)));
    CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, Bytes{}));
    for (std::size_t byte = 0; byte < good.size(); ++byte)
        for (int bit = 0; bit < 8; ++bit) {
            auto flipped = good;
            flipped[byte] = static_cast<std::uint8_t>(flipped[byte] ^ (1 << bit));
            INFO("byte " << byte << " bit " << bit);
            CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, flipped));
        }
    std::mt19937 rng(5);
    for (int i = 0; i < 20000; ++i) {
        PersistedState junk;
        for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
        if (i % 2) junk[0] = good[0], junk[1] = good[1];  // right magic and version, junk after
        CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, junk));
    }
    // A TCP state is not a UDP state.
    CHECK_FALSE(Session::restore(plain_facts(Transport::udp), Policy{}, c, good));
}

namespace {
// CRC-8, polynomial 0x07, as docs/protocol-model.md#persistence describes it.
std::uint8_t crc8_of(const PersistedState& s) {
    std::uint8_t crc = 0;
    for (std::size_t i = 0; i < 31; ++i) {
        crc ^= s[i];
        for (int b = 0; b < 8; ++b) crc = static_cast<std::uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
    }
    return crc;
}
}  // namespace

TEST_CASE("a state written by version 1 (tbhelper 0.1) still restores", "[persist]") {
    // Written by hand as 0.1 wrote it: framed, service intercom, both directions
    // synced at a frame boundary, one accepted offer (UDP 40001).
    PersistedState v1{};
    v1[0] = 0x54, v1[1] = 1, v1[2] = 2, v1[3] = 7;
    v1[4] = 0x01 | (0x01 << 3);
    tb::store_be32(v1.data() + 5, 0x10000000u);
    tb::store_be32(v1.data() + 9, 0x20000000u);
    v1[13] = 1, v1[14] = 1;
    v1[15] = 17;
    tb::store_be16(v1.data() + 16, 40001);
    v1[31] = crc8_of(v1);
    Counters c;
    auto r = Session::restore(plain_facts(), Policy{}, c, v1);
    REQUIRE(r);
    CHECK(r->phase() == Phase::framed);
    CHECK(r->service() == 7);
    CHECK(r->accepted_offers() == 1);
    CHECK(r->persisted()[1] == 2);  // written back in the current version
    TcpPeer peer{*r, 0x10000000u, 0x20000000u};
    REQUIRE(only<Expect>(peer.host(offer(7, Transport::udp, 40001))).size() == 1);
    CHECK(r->accepted_offers() == 1);  // a known stream, not counted again
    CHECK(only<Expect>(peer.host(offer(7, Transport::udp, 40002))).size() == 1);
    CHECK(r->accepted_offers() == 2);

    // Version 1 had no phases beyond lost and used byte 30 for nothing.
    for (std::uint8_t phase : {std::uint8_t{6}, std::uint8_t{7}}) {
        auto bad = v1;
        bad[2] = phase;
        bad[31] = crc8_of(bad);
        CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, bad));
        bad[1] = 2;
        bad[31] = crc8_of(bad);
        CHECK(Session::restore(plain_facts(), Policy{}, c, bad));  // fine in version 2
    }
    auto bad = v1;
    bad[30] = 1;
    bad[31] = crc8_of(bad);
    CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, bad));
    bad[1] = 2;
    bad[31] = crc8_of(bad);
    CHECK(Session::restore(plain_facts(), Policy{}, c, bad));
    bad[30] = 9;  // more malformed frames than the cap allows
    bad[31] = crc8_of(bad);
    CHECK_FALSE(Session::restore(plain_facts(), Policy{}, c, bad));
}

TEST_CASE("the phases hostile and unmodelled and the A10 wait round-trip", "[persist][B9][B10]") {
    Counters c;
    Session hostile(plain_facts(Transport::udp), Policy{}, c);
    udp(hostile, PacketDirection::original, hello(7));
    udp(hostile, PacketDirection::reply, hello(7));  // reflected
    REQUIRE(hostile.phase() == Phase::hostile);
    Session unmodelled(plain_facts(Transport::udp), Policy{}, c);
    udp(unmodelled, PacketDirection::original, Bytes{0x00, 0x25, 0x00, 0x22});
    REQUIRE(unmodelled.phase() == Phase::unmodelled);
    Session waiting(plain_facts(Transport::udp), Policy{}, c);
    udp(waiting, PacketDirection::original, Bytes{'R', 'P', 'C', '!', 0, 0, 0, 0});
    REQUIRE(waiting.phase() == Phase::not_timbuktu);
    Session tcp_hostile(plain_facts(), Policy{}, c);
    TcpPeer peer{tcp_hostile};
    peer.guest(hello(7));
    peer.guest(hello_ack(7));
    REQUIRE(tcp_hostile.phase() == Phase::hostile);
    for (Session* s : {&hostile, &unmodelled, &waiting, &tcp_hostile}) {
        auto r = Session::restore(s->facts(), Policy{}, c, s->persisted());
        REQUIRE(r);
        CHECK(r->phase() == s->phase());
        CHECK(r->persisted() == s->persisted());
    }
    // The wait ends with the first reply: the state changes once, then stays.
    const auto before = waiting.persisted();
    udp(waiting, PacketDirection::reply, Bytes{1, 2, 3});
    CHECK(waiting.persisted() != before);
    const auto after = waiting.persisted();
    udp(waiting, PacketDirection::reply, Bytes{1, 2, 3});
    CHECK(waiting.persisted() == after);
    // The wait flag is a UDP-only, not-Timbuktu-only state.
    auto bad = before;
    bad[2] = static_cast<std::uint8_t>(Phase::framed);
    bad[31] = crc8_of(bad);
    CHECK_FALSE(Session::restore(plain_facts(Transport::udp), Policy{}, c, bad));
}
