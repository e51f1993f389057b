// docs/protocol-model.md#nat-rewrites: in-place rewrites of embedded IPv4 addresses under NAT.
#include <catch2/catch.hpp>

#include <cstring>

#include "timbuktu/session.hpp"
#include "helpers.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {
constexpr std::uint32_t kG = 0xC0A8010A;         // 192.168.1.10 (snat_facts guest)
constexpr std::uint32_t kGTranslated = 0xC633644D;  // 198.51.100.77
constexpr std::uint32_t kH = 0x0A000005;         // 10.0.0.5 (dnat_facts host)
constexpr std::uint32_t kD = 0xCB007102;         // 203.0.113.2

Bytes be32(std::uint32_t v) {
    Bytes b(4);
    tb::store_be32(b.data(), v);
    return b;
}

// Applies the Rewrite decisions to a copy of the packet, checking each one.
Bytes apply_rewrites(Bytes packet, const Decisions& ds) {
    for (const auto& rw : only<Rewrite>(ds)) {
        REQUIRE(rw.payload_offset + 4 <= packet.size());
        REQUIRE(std::memcmp(packet.data() + rw.payload_offset, rw.old_bytes.data(), 4) == 0);
        std::memcpy(packet.data() + rw.payload_offset, rw.new_bytes.data(), 4);
    }
    return packet;
}

// Replaces the 4 bytes at `at` in a copy.
Bytes with_address(Bytes b, std::size_t at, std::uint32_t v) {
    tb::store_be32(b.data() + at, v);
    return b;
}
}  // namespace

TEST_CASE("HELLO under SNAT: G becomes G' at body offset 6", "[rewrite][B8]") {
    Counters c;
    Session s(snat_facts(), Policy{}, c);
    TcpPeer peer{s};
    auto h = hello(7, kG);
    auto d = peer.guest(h);
    auto rw = only<Rewrite>(d);
    REQUIRE(rw.size() == 1);
    CHECK(rw[0].payload_offset == 12);
    CHECK(Bytes(rw[0].old_bytes.begin(), rw[0].old_bytes.end()) == be32(kG));
    CHECK(Bytes(rw[0].new_bytes.begin(), rw[0].new_bytes.end()) == be32(kGTranslated));
    CHECK(rewrite_field_text(rw[0]) == "HELLO guest address");
    CHECK(c.rewrites == 1);
    CHECK(apply_rewrites(h, d) == with_address(h, 12, kGTranslated));
    // Expects of a NATed master follow the NAT.
    peer.host(hello_ack(7));
    auto e = only<Expect>(peer.host(offer(7, Transport::udp, 40000)));
    REQUIRE(e.size() == 1);
    CHECK(e[0].follow_nat);
    CHECK(e[0].guest == ip("192.168.1.10"));
}

TEST_CASE("other values are left alone; no rewrite without NAT or when disabled", "[rewrite][B8]") {
    {
        Counters c;
        Session s(snat_facts(), Policy{}, c);
        TcpPeer peer{s};
        CHECK(only<Rewrite>(peer.guest(hello(7, 0))).empty());           // 0.0.0.0
        CHECK(only<Rewrite>(peer.guest(hello(7, 0x01020304))).empty());  // something else
        CHECK(only<Rewrite>(peer.host(hello_ack(7, kG))).empty());       // G in a HELLO-ACK: not a B8 case
        CHECK(c.rewrites == 0);
    }
    {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        CHECK(only<Rewrite>(peer.guest(hello(7, 0xC6336402))).empty());  // G, but no NAT
        CHECK(only<Rewrite>(peer.host(hello_ack(7, kD))).empty());
    }
    {
        Counters c;
        Policy p;
        p.nat_rewrite = false;
        Session s(dnat_facts(), p, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        CHECK(only<Rewrite>(peer.host(hello_ack(7, kH))).empty());
        auto d = peer.host(offer(7, Transport::udp, 40000, kH));
        CHECK(only<Rewrite>(d).empty());
        CHECK(only<Expect>(d).size() == 1);
    }
}

TEST_CASE("HELLO-ACK and PORT-OFFER under DNAT: H becomes D, offsets in the packet", "[rewrite][B8]") {
    Counters c;
    Session s(dnat_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    auto packet = cat({hello_ack(7, kH), offer(7, Transport::udp, 40000, kH), offer(7, Transport::udp, 40002, 0)});
    auto d = peer.host(packet);
    auto rw = only<Rewrite>(d);
    REQUIRE(rw.size() == 2);
    const std::size_t ack_len = hello_ack(7, kH).size();
    CHECK(rw[0].payload_offset == 12);
    CHECK(rewrite_field_text(rw[0]) == "HELLO-ACK host address");
    CHECK(rw[1].payload_offset == ack_len + 12);
    CHECK(rewrite_field_text(rw[1]) == "PORT-OFFER address");
    CHECK(apply_rewrites(packet, d) == with_address(with_address(packet, 12, kD), ack_len + 12, kD));
    auto e = only<Expect>(d);
    REQUIRE(e.size() == 2);
    CHECK(e[0].address == ip("203.0.113.2"));  // D, what the guest used
    CHECK(e[0].follow_nat);
    CHECK(c.rewrites == 2);
}

TEST_CASE("UDP: rewrites at datagram offsets", "[rewrite][B8]") {
    Counters c;
    Session s(dnat_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, hello(1));
    auto dgram = cat({hello_ack(1, kH), offer(1, Transport::tcp, 1417, kH)});
    auto d = udp(s, PacketDirection::reply, dgram);
    REQUIRE(only<Rewrite>(d).size() == 2);
    CHECK(only<Rewrite>(d)[1].payload_offset == hello_ack(1, kH).size() + 12);
    CHECK(apply_rewrites(dgram, d) == with_address(with_address(dgram, 12, kD), hello_ack(1, kH).size() + 12, kD));
    // The next datagram is examined afresh even though its offsets repeat.
    auto again = offer(1, Transport::tcp, 1418, kH);
    CHECK(only<Rewrite>(udp(s, PacketDirection::reply, again)).size() == 1);
}

TEST_CASE("TCP rewrites at every split point; a straddling field is reported, not rewritten", "[rewrite][B8]") {
    // Host stream: HELLO-ACK with H, then a PORT-OFFER with H.
    const auto stream = cat({hello_ack(7, kH), offer(7, Transport::udp, 40000, kH)});
    const std::size_t ack_len = hello_ack(7, kH).size();
    const std::size_t fields[] = {12, ack_len + 12};
    const auto expected = with_address(with_address(stream, fields[0], kD), fields[1], kD);
    for (std::size_t split = 1; split < stream.size(); ++split) {
        Counters c;
        Session s(dnat_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        Bytes first(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(split));
        Bytes second(stream.begin() + static_cast<std::ptrdiff_t>(split), stream.end());
        auto d1 = peer.host(first);
        auto d2 = peer.host(second);
        Bytes out = cat({apply_rewrites(first, d1), apply_rewrites(second, d2)});
        std::size_t straddled = 0;
        Bytes want = expected;
        for (std::size_t f : fields)
            if (split > f && split < f + 4) {
                ++straddled;
                std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(f), 4,
                            want.begin() + static_cast<std::ptrdiff_t>(f));
            }
        INFO("split at " << split);
        CHECK(out == want);
        CHECK(c.rewrites == 2 - straddled);
        CHECK(c.rewrites_skipped == straddled);
        CHECK(has_note(append(d1, d2), "not all inside this packet") == (straddled > 0));
        // The Expect does not depend on the rewrite.
        CHECK(only<Expect>(append(d1, d2)).size() == 1);
    }
}

TEST_CASE("a long HELLO: the address is rewritten in the packet that carries it", "[rewrite][B8]") {
    Counters c;
    Session s(snat_facts(), Policy{}, c);
    TcpPeer peer{s};
    auto h = hello(7, kG, "a-guest-name-that-makes-the-frame-long");
    Bytes first(h.begin(), h.begin() + 20);  // header + 14 body bytes: the address is complete
    Bytes second(h.begin() + 20, h.end());
    auto d1 = peer.guest(first);
    REQUIRE(only<Rewrite>(d1).size() == 1);
    CHECK(only<Rewrite>(d1)[0].payload_offset == 12);
    CHECK(s.phase() == Phase::await_hello);  // the HELLO is not complete yet
    auto d2 = peer.guest(second);
    CHECK(only<Rewrite>(d2).empty());  // examined once
    CHECK(s.phase() == Phase::await_ack);
    CHECK(c.rewrites == 1);
}

TEST_CASE("1-byte segments: every address straddles, each one is reported", "[rewrite][B8]") {
    Counters c;
    Session s(snat_facts(), Policy{}, c);
    TcpPeer peer{s};
    auto h = hello(7, kG);
    Decisions all;
    for (auto b : h) all = append(all, peer.guest(Bytes{b}));
    CHECK(only<Rewrite>(all).empty());
    CHECK(c.rewrites_skipped == 1);
    CHECK(s.phase() == Phase::await_ack);
}

TEST_CASE("a retransmitted segment is rewritten the same way again", "[rewrite][B8]") {
    Counters c;
    Session s(dnat_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    const std::uint32_t seq = peer.host_seq;
    auto packet = cat({hello_ack(7, kH), offer(7, Transport::udp, 40000, kH)});
    auto first = peer.host(packet);
    REQUIRE(only<Rewrite>(first).size() == 2);
    // The same segment again (say, lost after the firewall).
    auto again = s.on_packet(Packet{PacketDirection::reply, seq, packet});
    REQUIRE(only<Rewrite>(again).size() == 2);
    CHECK(apply_rewrites(packet, again) == apply_rewrites(packet, first));
    CHECK(only<Expect>(again).empty());  // not parsed twice
    // A retransmit that overlaps partly, starting inside the HELLO-ACK.
    Bytes tail(packet.begin() + 10, packet.end());
    auto partial = s.on_packet(Packet{PacketDirection::reply, seq + 10, tail});
    REQUIRE(only<Rewrite>(partial).size() == 2);
    CHECK(only<Rewrite>(partial)[0].payload_offset == 2);
    CHECK(c.rewrites == 6);
}
