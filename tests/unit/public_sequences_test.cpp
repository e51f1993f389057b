// The public byte sequences of docs/protocol-model.md section 1 (A6, A7, A9,
// A10, A11), fed as literal bytes, never built with the project's encoder,
// and what the model says of each (B3, B8, B9).
#include <catch2/catch.hpp>

#include <cstring>

#include "timbuktu/session.hpp"
#include "helpers.hpp"
#include "timbuktu/services.hpp"
#include "timbuktu/wire.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {

// A7: the public probe.
const Bytes kA7Probe = {0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x23, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
// A9: the public detection module's datagram to UDP 407.
const Bytes kA9Probe = {0x00, 0x25, 0x00, 0x22, 0xFF, 0x01, 0x00, 0x64,
                        0x03, 0x07, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00};
// A9: a reply that contains 00 25 D0 B9 (what follows is not public; these are filler bytes).
const Bytes kA9Reply = {0x00, 0x25, 0xD0, 0xB9, 0x00, 0x00, 0x00, 0x00};
// A10: a Sun RPC call (XID, CALL, RPC version 2, program 100000 portmapper,
// version 2, procedure 0, empty credentials): the foreign probe.
const Bytes kA10RpcCall = {0x72, 0xFE, 0x1D, 0x13, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                           0x00, 0x01, 0x86, 0xA0, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00};
// A10: the reply the fingerprint database names Timbuktu 8.7.1 begins 00 23 D1 1F.
const Bytes kA10Reply = {0x00, 0x23, 0xD1, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

// A11: the exploit's first frame in full. Header 00 01 6B 00 00 B0; the body
// begins 00 23 07 22 03 07, bytes 80-81 are 01 97, bytes 160-163 7F 00 00 01.
// The bytes the public text does not give are zero here (so the name at 16 is
// empty and the address at 6-9 is 0.0.0.0).
Bytes a11_frame() {
    Bytes f = {0x00, 0x01, 0x6B, 0x00, 0x00, 0xB0};
    Bytes body(176, 0x00);
    const std::uint8_t start[] = {0x00, 0x23, 0x07, 0x22, 0x03, 0x07};
    std::memcpy(body.data(), start, sizeof start);
    body[80] = 0x01, body[81] = 0x97;
    body[160] = 0x7F, body[161] = 0x00, body[162] = 0x00, body[163] = 0x01;
    f.insert(f.end(), body.begin(), body.end());
    return f;
}
// A6: a host's answer, class 0x0101, with the host name's length byte at body
// offset 38 (a 4-byte name "host"); the bytes between are not public: zero.
Bytes a6_host_answer() {
    Bytes f = {0x01, 0x01, 0x00, 0x00, 0x00, 0x2B};
    Bytes body(43, 0x00);
    body[0] = 0x00, body[1] = 0x23;
    body[4] = 0x03;  // service granted: send files
    body[38] = 0x04;
    std::memcpy(body.data() + 39, "host", 4);
    f.insert(f.end(), body.begin(), body.end());
    return f;
}

// The masquerade case of A11: the guest sees itself as 127.0.0.1.
ConnectionFacts loopback_snat_facts(Transport t) {
    auto f = plain_facts(t);
    f.guest = ip("127.0.0.1");
    f.guest_translated = ip("198.51.100.77");
    return f;
}
const std::array<std::uint8_t, 4> kLoopback = {0x7F, 0x00, 0x00, 0x01};
const std::array<std::uint8_t, 4> kTranslated = {198, 51, 100, 77};

Bytes apply_rewrites(Bytes packet, const Decisions& ds) {
    for (const auto& rw : only<Rewrite>(ds)) {
        REQUIRE(rw.payload_offset + 4 <= packet.size());
        REQUIRE(std::memcmp(packet.data() + rw.payload_offset, rw.old_bytes.data(), 4) == 0);
        std::memcpy(packet.data() + rw.payload_offset, rw.new_bytes.data(), 4);
    }
    return packet;
}

}  // namespace

TEST_CASE("A7: the public probe starts a session over TCP and over UDP", "[public][A7]") {
    for (auto t : {Transport::tcp, Transport::udp}) {
        Counters c;
        Session s(plain_facts(t), Policy{}, c);
        auto d = s.on_packet(Packet{PacketDirection::original, 1000, kA7Probe});
        CHECK(s.phase() == Phase::await_ack);
        CHECK(s.service() == 0);
        CHECK(c.sessions == 1);
        CHECK(c.not_timbuktu == 0);
        CHECK(has_note(d, "version 0.0"));
        CHECK(has_note(d, "guest address 0.0.0.0"));
    }
}

TEST_CASE("A6: the exploit header and a host answer with the name at body offset 38", "[public][A6]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    auto frame = a11_frame();
    REQUIRE(Bytes(frame.begin(), frame.begin() + 6) == Bytes{0x00, 0x01, 0x6B, 0x00, 0x00, 0xB0});
    peer.guest(frame);
    CHECK(s.phase() == Phase::await_ack);
    auto d = peer.host(a6_host_answer());
    CHECK(has_note(d, "name 'host'"));
    CHECK(has_note(d, "service send-files granted"));
    // Send files (B7): the rest of the stream is unframed, nothing more to learn.
    CHECK(s.phase() == Phase::service_data);
    CHECK(only<StopWatching>(d).size() == 1);
}

TEST_CASE("A11: the exploit's full first frame is a valid HELLO for send files", "[public][A11][B3]") {
    const auto f = a11_frame();
    auto header = timbuktu::decode_header(f);
    REQUIRE(timbuktu::parsed_value(header));
    CHECK(timbuktu::parsed_value(header)->flags == 0x6B);
    CHECK(timbuktu::parsed_value(header)->length == 176);
    auto hello = timbuktu::parse_hello(std::span<const std::uint8_t>(f).subspan(6));
    const auto* h = timbuktu::parsed_value(hello);
    REQUIRE(h);
    CHECK(h->version_major == 7);
    CHECK(h->version_minor == 0x22);
    CHECK(h->service == timbuktu::kServiceSendFiles);
    CHECK(h->flags == 7);
    // The same frame through a session: a session for send files whose second address is 127.0.0.1.
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    auto d = peer.guest(f);
    CHECK(s.phase() == Phase::await_ack);
    CHECK(s.service() == timbuktu::kServiceSendFiles);
    CHECK(c.sessions == 1);
    CHECK(has_note(d, "second address 127.0.0.1"));
    CHECK(only<Rewrite>(d).empty());  // no NAT: nothing rewritten
}

TEST_CASE("A11 under masquerade: the second copy at 160-163 is rewritten whatever the segmentation",
          "[public][A11][B8]") {
    const auto f = a11_frame();
    const std::size_t second = 6 + 160;
    auto expected = f;
    std::copy(kTranslated.begin(), kTranslated.end(), expected.begin() + static_cast<std::ptrdiff_t>(second));
    for (std::size_t split = 1; split < f.size(); ++split) {
        Counters c;
        Session s(loopback_snat_facts(Transport::tcp), Policy{}, c);
        TcpPeer peer{s};
        const Bytes a(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(split));
        const Bytes b(f.begin() + static_cast<std::ptrdiff_t>(split), f.end());
        auto d1 = peer.guest(a);
        // As soon as the header and opcode show a HELLO, the copy is rewritten in
        // the packet that carries its 4 bytes, before the frame has ended.
        const bool first_carries = split >= second + 4;
        CHECK((only<Rewrite>(d1).size() == 1) == first_carries);
        auto d2 = peer.guest(b);
        const bool straddles = split > second && split < second + 4;
        INFO("split at " << split);
        auto out = cat({apply_rewrites(a, d1), apply_rewrites(b, d2)});
        if (straddles) {
            CHECK(out == f);
            CHECK(c.rewrites_skipped == 1);
            CHECK(has_note(d2, "(second copy)"));
        } else {
            CHECK(out == expected);
            CHECK(c.rewrites == 1);
        }
        CHECK(s.phase() == Phase::await_ack);
    }
}

TEST_CASE("A11-shaped HELLO with G in both copies: each is rewritten in its own packet, retransmits too",
          "[public][A11][B8]") {
    auto f = a11_frame();
    std::copy(kLoopback.begin(), kLoopback.end(), f.begin() + 12);  // the first copy is G as well
    Counters c;
    Session s(loopback_snat_facts(Transport::tcp), Policy{}, c);
    TcpPeer peer{s};
    const std::uint32_t start = peer.guest_seq;
    // Three segments: [0,100) carries the first copy, [100,170) the second, the rest ends the frame.
    const Bytes a(f.begin(), f.begin() + 100), b(f.begin() + 100, f.begin() + 170), rest(f.begin() + 170, f.end());
    auto d1 = peer.guest(a);
    REQUIRE(only<Rewrite>(d1).size() == 1);
    CHECK(only<Rewrite>(d1)[0].payload_offset == 12);
    auto d2 = peer.guest(b);
    REQUIRE(only<Rewrite>(d2).size() == 1);
    CHECK(only<Rewrite>(d2)[0].payload_offset == 166 - 100);
    CHECK(only<Rewrite>(d2)[0].what == AddressField::hello_guest_address_second);
    CHECK(rewrite_field_text(only<Rewrite>(d2)[0]) == "HELLO guest address (second copy)");
    CHECK(s.phase() == Phase::await_hello);  // the frame has not ended yet
    peer.guest(rest);
    CHECK(s.phase() == Phase::await_ack);
    // The segment with the second copy retransmitted: rewritten the same way.
    auto again = s.on_packet(Packet{PacketDirection::original, start + 100, b});
    REQUIRE(only<Rewrite>(again).size() == 1);
    CHECK(apply_rewrites(b, again) == apply_rewrites(b, d2));
    // The whole frame retransmitted: both copies.
    auto whole = s.on_packet(Packet{PacketDirection::original, start, f});
    CHECK(only<Rewrite>(whole).size() == 2);
    // And over UDP, at datagram offsets.
    Counters cu;
    Session u(loopback_snat_facts(Transport::udp), Policy{}, cu);
    auto du = udp(u, PacketDirection::original, f);
    REQUIRE(only<Rewrite>(du).size() == 2);
    CHECK(only<Rewrite>(du)[0].payload_offset == 12);
    CHECK(only<Rewrite>(du)[1].payload_offset == 166);
}

TEST_CASE("B3: the second address exists only in bodies of 164 bytes or more", "[public][B3][B8]") {
    for (std::size_t length : {std::size_t{163}, std::size_t{164}, std::size_t{300}}) {
        Bytes body(length, 0x00);
        body[0] = 0x00, body[1] = 0x23, body[4] = 3;
        if (length >= 164) std::copy(kLoopback.begin(), kLoopback.end(), body.begin() + 160);
        else std::copy(kLoopback.begin(), kLoopback.end(), body.begin() + 159);  // G, but not at 160-163
        Counters c;
        Session s(loopback_snat_facts(Transport::udp), Policy{}, c);
        auto d = udp(s, PacketDirection::original, frame(timbuktu::kClassGuest, body));
        INFO("body " << length);
        CHECK(s.phase() == Phase::await_ack);
        CHECK(only<Rewrite>(d).size() == (length >= 164 ? 1u : 0u));
    }
}

TEST_CASE("A9: the detection probe and its reply are Timbuktu outside the model", "[public][A9][B9]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    auto d = udp(s, PacketDirection::original, kA9Probe);
    CHECK(s.phase() == Phase::unmodelled);
    CHECK(phase_name(s.phase()) == "unmodelled");
    CHECK(c.unmodelled == 1);
    CHECK(c.not_timbuktu == 0);
    CHECK(c.sessions == 0);
    CHECK(c.malformed == 0);
    REQUIRE(only<Event>(d).size() == 1);
    CHECK(only<Event>(d)[0].level() == EventLevel::info);
    CHECK(only<Event>(d)[0].kind() == EventKind::unmodelled);
    CHECK(has_note(d, "Timbuktu outside the model"));
    CHECK(has_note(d, "00 25 00 22"));
    CHECK(only<StopWatching>(d).size() == 1);
    CHECK(only<Rewrite>(d).empty());
    // The reply: passed, not examined, nothing said or counted again.
    auto r = udp(s, PacketDirection::reply, kA9Reply);
    CHECK(r.empty());
    CHECK(c.unmodelled == 1);
    // Persisted and restored as such.
    auto restored = Session::restore(plain_facts(Transport::udp), Policy{}, c, s.persisted());
    REQUIRE(restored);
    CHECK(restored->phase() == Phase::unmodelled);
}

TEST_CASE("A10: a foreign probe answered by 00 23 D1 1F ends as Timbuktu outside the model", "[public][A10][B9]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    auto d = udp(s, PacketDirection::original, kA10RpcCall);
    CHECK(s.phase() == Phase::not_timbuktu);
    CHECK(c.not_timbuktu == 1);
    CHECK(only<StopWatching>(d).empty());  // the first reply is still to be examined
    // A daemon restart in between keeps that.
    auto restored = Session::restore(plain_facts(Transport::udp), Policy{}, c, s.persisted());
    REQUIRE(restored);
    auto r = udp(*restored, PacketDirection::reply, kA10Reply);
    CHECK(restored->phase() == Phase::unmodelled);
    CHECK(c.unmodelled == 1);
    CHECK(c.not_timbuktu == 1);  // counted when the guest's datagram was judged; documented
    CHECK(has_note(r, "00 23 d1 1f"));
    CHECK(only<StopWatching>(r).size() == 1);
    CHECK(only<Rewrite>(r).empty());
    CHECK(udp(*restored, PacketDirection::reply, kA10Reply).empty());
    CHECK(c.unmodelled == 1);
}

TEST_CASE("A10 counterpart: a foreign probe with a foreign reply stays not Timbuktu", "[public][A10][B9]") {
    Counters c;
    Session s(plain_facts(Transport::udp), Policy{}, c);
    udp(s, PacketDirection::original, kA10RpcCall);
    Bytes rpc_reply = {0x72, 0xFE, 0x1D, 0x13, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    auto r = udp(s, PacketDirection::reply, rpc_reply);
    CHECK(s.phase() == Phase::not_timbuktu);
    CHECK(only<StopWatching>(r).size() == 1);
    CHECK(c.unmodelled == 0);
    // Only the first reply is examined.
    CHECK(udp(s, PacketDirection::reply, kA10Reply).empty());
    CHECK(c.unmodelled == 0);
}

TEST_CASE("B9 applies to legacy UDP contact only, and not to valid frames", "[public][B9]") {
    SECTION("TCP bytes starting 00 25 are not Timbuktu") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(kA9Probe);
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(c.unmodelled == 0);
    }
    SECTION("a host datagram starting 00 23 after a modelled HELLO") {
        Counters c;
        Session s(plain_facts(Transport::udp), Policy{}, c);
        udp(s, PacketDirection::original, hello(1));
        auto d = udp(s, PacketDirection::reply, kA10Reply);
        CHECK(s.phase() == Phase::unmodelled);
        CHECK(c.unmodelled == 1);
        CHECK(c.malformed == 0);
        CHECK(only<StopWatching>(d).size() == 1);
    }
    SECTION("the A7 probe is a frame: modelled") {
        Counters c;
        Session s(plain_facts(Transport::udp), Policy{}, c);
        udp(s, PacketDirection::original, kA7Probe);
        CHECK(s.phase() == Phase::await_ack);
        CHECK(c.unmodelled == 0);
    }
    SECTION("a one-byte datagram is just not Timbuktu") {
        Counters c;
        Session s(plain_facts(Transport::udp), Policy{}, c);
        auto d = udp(s, PacketDirection::original, Bytes{0x00});
        CHECK(s.phase() == Phase::not_timbuktu);
        CHECK(c.unmodelled == 0);
        // It was not a frame: the first reply is still looked at (A10).
        CHECK(only<StopWatching>(d).empty());
        CHECK(only<StopWatching>(udp(s, PacketDirection::reply, Bytes{0x01})).size() == 1);
    }
}
