// docs/protocol-model.md#reassembly and #phases on TCP: the same conversation, segmented in every way the
// network can segment it, gives the same decisions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <sstream>

#include "timbuktu/session.hpp"
#include "helpers.hpp"
#include "timbuktu/services.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {

constexpr std::uint32_t kGuestIsn = 0xFFFFFFA0u;  // the guest stream wraps inside the HELLO
constexpr std::uint32_t kHostIsn = 0x00001000u;

struct Segment {
    std::uint32_t seq;
    Bytes bytes;
};

std::vector<Segment> cut(const Bytes& stream, std::uint32_t start, std::vector<std::size_t> points) {
    std::sort(points.begin(), points.end());
    std::vector<Segment> out;
    std::size_t from = 0;
    for (std::size_t p : points) {
        if (p <= from || p >= stream.size()) continue;
        out.push_back(Segment{start + static_cast<std::uint32_t>(from),
                              Bytes(stream.begin() + static_cast<std::ptrdiff_t>(from),
                                    stream.begin() + static_cast<std::ptrdiff_t>(p))});
        from = p;
    }
    out.push_back(Segment{start + static_cast<std::uint32_t>(from),
                          Bytes(stream.begin() + static_cast<std::ptrdiff_t>(from), stream.end())});
    return out;
}

// What must not depend on segmentation: the decisions that act, in order, and
// the counters and phase at the end.
std::string signature(const Decisions& ds, const Counters& c, const Session& s) {
    std::ostringstream o;
    for (const auto& d : ds) {
        if (const auto* e = std::get_if<Expect>(&d))
            o << "expect " << tb::transport_name(e->transport) << ' ' << e->address.to_string() << ':' << e->port
              << " svc " << int(e->service) << " t " << e->timeout_seconds << " nat " << e->follow_nat << '\n';
        else if (const auto* r = std::get_if<Refuse>(&d))
            o << "refuse " << refuse_reason_name(r->reason) << '\n';
        else if (std::get_if<StopWatching>(&d))
            o << "stop\n";
        else if (const auto* n = std::get_if<Event>(&d); n && n->level() == EventLevel::warning)
            o << "warning\n";
    }
    o << "phase " << phase_name(s.phase()) << " sessions " << c.sessions << " offers " << c.offers << " created "
      << c.expectations_created << " refused " << c.expectations_refused << " malformed " << c.malformed
      << " forged " << c.forged << " lost " << c.stream_lost << " opcodes " << c.other_opcodes.size();
    return o.str();
}

struct Conversation {
    Bytes guest;
    Bytes host;
};

Conversation intercom_conversation() {
    constexpr std::uint32_t kH = 0xCB007102;
    return Conversation{
        cat({hello(timbuktu::kServiceIntercom, 0xC6336402), frame(timbuktu::kClassGuest, Bytes{0x00, 0x40, 1, 2, 3}),
             guest_offer(timbuktu::kClassGuest, 41000)}),
        cat({hello_ack(timbuktu::kServiceIntercom, kH), offer(7, Transport::udp, 40001, 0, 30),
             frame(timbuktu::kClassHost, Bytes{0x00, 0x41}), offer(9, Transport::tcp, 5000, kH),
             offer(7, Transport::udp, 40002, 0x08080808), offer(7, Transport::tcp, 80),
             offer(7, Transport::udp, 40001, 0, 10), frame(timbuktu::kClassHost, Bytes(200, 0x00))}),
    };
}

std::string run(const std::vector<Segment>& guest, const std::vector<Segment>& host) {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    Decisions all;
    // SYNs fix where each stream starts, so a reordered first segment is held, not taken as the start.
    s.on_packet(Packet{PacketDirection::original, kGuestIsn - 1, {}, true});
    s.on_packet(Packet{PacketDirection::reply, kHostIsn - 1, {}, true});
    for (const auto& g : guest) all = append(all, s.on_packet(Packet{PacketDirection::original, g.seq, g.bytes}));
    for (const auto& h : host) all = append(all, s.on_packet(Packet{PacketDirection::reply, h.seq, h.bytes}));
    return signature(all, c, s);
}

std::vector<std::size_t> every_byte(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
}

// Segments with retransmits, overlaps and reordering within the reader's bound.
std::vector<Segment> messy(const Bytes& stream, std::uint32_t start, std::mt19937& rng) {
    std::vector<std::size_t> points;
    const int pieces = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < pieces; ++k) points.push_back(1 + rng() % (stream.size() - 1));
    auto segs = cut(stream, start, points);
    std::vector<Segment> out;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        out.push_back(segs[i]);
        if (rng() % 5 == 0) out.push_back(segs[i]);  // duplicate
        if (i > 0 && rng() % 5 == 0) {  // overlap: previous tail + this segment
            Segment merged = segs[i - 1];
            merged.bytes.insert(merged.bytes.end(), segs[i].bytes.begin(), segs[i].bytes.end());
            out.push_back(merged);
        }
    }
    if (out.size() > 2 && rng() % 2) {  // reorder a short window
        std::size_t from = rng() % (out.size() - 1);
        std::size_t to = std::min(out.size(), from + 2 + rng() % 3);
        std::reverse(out.begin() + static_cast<std::ptrdiff_t>(from), out.begin() + static_cast<std::ptrdiff_t>(to));
    }
    return out;
}

}  // namespace

TEST_CASE("session decisions do not depend on segmentation", "[session][stream][B1]") {
    const auto conv = intercom_conversation();
    const auto whole = run(cut(conv.guest, kGuestIsn, {}), cut(conv.host, kHostIsn, {}));
    // The reference itself: 2 Expects (40001 twice, 5000), forged, third party, port 80.
    INFO(whole);
    CHECK(whole.find("refuse forged") != std::string::npos);
    CHECK(whole.find("refuse third-party-address") != std::string::npos);
    CHECK(whole.find("refuse port-not-allowed") != std::string::npos);
    CHECK(whole.find("expect udp 203.0.113.2:40001 svc 7 t 30") != std::string::npos);
    CHECK(whole.find("expect udp 203.0.113.2:40001 svc 7 t 10") != std::string::npos);
    CHECK(whole.find("expect tcp 203.0.113.2:5000 svc 9") != std::string::npos);
    CHECK(whole.find("phase framed sessions 1 offers 5 created 3 refused 3 malformed 0 forged 1") !=
          std::string::npos);

    SECTION("host stream split at every position") {
        for (std::size_t i = 1; i < conv.host.size(); ++i)
            REQUIRE(run(cut(conv.guest, kGuestIsn, {}), cut(conv.host, kHostIsn, {i})) == whole);
    }
    SECTION("guest stream split at every position") {
        for (std::size_t i = 1; i < conv.guest.size(); ++i)
            REQUIRE(run(cut(conv.guest, kGuestIsn, {i}), cut(conv.host, kHostIsn, {})) == whole);
    }
    SECTION("both streams in 1-byte segments") {
        REQUIRE(run(cut(conv.guest, kGuestIsn, every_byte(conv.guest.size())),
                    cut(conv.host, kHostIsn, every_byte(conv.host.size()))) == whole);
    }
    SECTION("retransmits, overlaps and reordering") {
        std::mt19937 rng(2024);
        for (int round = 0; round < 500; ++round)
            REQUIRE(run(messy(conv.guest, kGuestIsn, rng), messy(conv.host, kHostIsn, rng)) == whole);
    }
}

TEST_CASE("a SYN sets the stream start; a reordered first segment is then held", "[session][stream]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    auto h = hello(7);
    s.on_packet(Packet{PacketDirection::original, kGuestIsn - 1, {}, true});
    auto second = Bytes(h.begin() + 10, h.end());
    auto first = Bytes(h.begin(), h.begin() + 10);
    s.on_packet(Packet{PacketDirection::original, kGuestIsn + 10, second});
    CHECK(s.phase() == Phase::await_hello);
    s.on_packet(Packet{PacketDirection::original, kGuestIsn, first});
    CHECK(s.phase() == Phase::await_ack);
    CHECK(c.sessions == 1);
}

TEST_CASE("without a SYN the first segment seen defines the start (documented limit)", "[session][stream]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    auto h = hello(7);
    s.on_packet(Packet{PacketDirection::original, kGuestIsn + 10, Bytes(h.begin() + 10, h.end())});
    CHECK(s.phase() == Phase::not_timbuktu);
}

TEST_CASE("malformed TCP header: framing lost, that direction stops, the other goes on", "[session][B1]") {
    SECTION("guest direction after contact") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        peer.host(hello_ack(7));
        auto d = peer.guest(Bytes{0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x00, 0x00});
        CHECK(c.malformed == 1);
        CHECK(has_note(d, "framing of this direction is lost"));
        CHECK(s.phase() == Phase::framed);
        CHECK(only<StopWatching>(d).empty());
        CHECK(only<Expect>(peer.host(offer(7, Transport::udp, 40000))).size() == 1);
        CHECK(peer.guest(hello(7)).empty());  // no longer parsed
    }
    SECTION("host direction: nothing more to learn") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        peer.host(hello_ack(7));
        // An offer and garbage in one segment: the packet is malformed, no Expect.
        auto d = peer.host(cat({offer(7, Transport::udp, 40000), Bytes{0x02, 0x02, 0, 0, 0, 9}}));
        CHECK(only<Expect>(d).empty());
        CHECK(c.offers == 1);
        CHECK(c.malformed == 1);
        CHECK(s.phase() == Phase::lost);
        CHECK(only<StopWatching>(d).size() == 1);
        CHECK(peer.host(offer(7, Transport::udp, 40001)).empty());
    }
    SECTION("host direction lost with an expectation: no StopWatching") {
        Counters c;
        Session s(plain_facts(), Policy{}, c);
        TcpPeer peer{s};
        peer.guest(hello(7));
        peer.host(hello_ack(7));
        peer.host(offer(7, Transport::udp, 40000));
        auto d = peer.host(Bytes{0x02, 0x02, 0, 0, 0, 9});
        CHECK(s.phase() == Phase::lost);
        CHECK(only<StopWatching>(d).empty());
    }
}

// The wrong class for a direction used to be a malformed frame; since B10 it
// makes the flow hostile (tests/unit/session_roles_test.cpp). What stays here:
// other opcodes are legal and counted by opcode (B6).
TEST_CASE("other opcodes in well-formed frames are counted by opcode", "[session][B6]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    peer.host(hello_ack(7));
    peer.host(frame(timbuktu::kClassHost, Bytes{0x12, 0x34}));
    peer.host(frame(timbuktu::kClassHost, Bytes{0x12, 0x34, 0}));
    peer.guest(frame(timbuktu::kClassGuest, Bytes{0x00, 0x50}));
    CHECK(c.other_opcodes.at(0x1234) == 2);
    CHECK(c.other_opcodes.at(0x0050) == 1);
    CHECK(c.malformed == 0);
    CHECK(s.phase() == Phase::framed);
}

TEST_CASE("a too-long body on TCP loses the framing", "[session][B1]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    peer.host(hello_ack(7));
    Bytes header{0x01, 0x01, 0x00, 0x01, 0x00, 0x00};  // 65536
    auto d = peer.host(header);
    CHECK(has_note(d, "exceeds"));
    CHECK(s.phase() == Phase::lost);
}

TEST_CASE("IPv6 contact: offers must carry 0.0.0.0, Expect goes to D, no rewrites", "[session][B5][B8]") {
    Counters c;
    Session s(v6_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7, 0xC0A8010A));
    peer.host(hello_ack(7, 0x0A000005));
    auto bad = peer.host(offer(7, Transport::udp, 40000, 0x0A000005));
    CHECK(only<Expect>(bad).empty());
    CHECK(has_note(bad, "IPv6"));
    CHECK(c.malformed == 1);
    auto good = only<Expect>(peer.host(offer(7, Transport::udp, 40000)));
    REQUIRE(good.size() == 1);
    CHECK(good[0].address == ip("2001:db8:1::2"));
    CHECK(good[0].guest == ip("2001:db8::2"));
    CHECK(c.rewrites == 0);
}

TEST_CASE("bounded memory: a huge number of opcodes and offers", "[session][counters]") {
    Counters c;
    Policy p;
    p.max_expectations = 1000;  // more than the hard table bound
    Session s(plain_facts(Transport::udp), p, c);
    udp(s, PacketDirection::original, hello(7));
    udp(s, PacketDirection::reply, hello_ack(7));
    for (std::uint32_t port = 1024; port < 1024 + 200; ++port)
        udp(s, PacketDirection::reply, offer(7, Transport::udp, static_cast<std::uint16_t>(port)));
    CHECK(s.accepted_offers() == tb::kMaxExpectationsLimit);
    CHECK(c.expectations_created == tb::kMaxExpectationsLimit);
    CHECK(c.expectations_refused == 200 - tb::kMaxExpectationsLimit);
    for (std::uint32_t op = 0x100; op < 0x300; ++op)
        udp(s, PacketDirection::reply, frame(timbuktu::kClassHost, Bytes{std::uint8_t(op >> 8), std::uint8_t(op)}));
    CHECK(c.other_opcodes.size() == Counters::kMaxOpcodeBuckets);
    CHECK(c.opcodes_unbucketed == 0x200 - Counters::kMaxOpcodeBuckets);
}

TEST_CASE("counters saturate", "[counters]") {
    std::uint64_t v = UINT64_MAX - 1;
    saturating_inc(v);
    CHECK(v == UINT64_MAX);
    saturating_inc(v);
    CHECK(v == UINT64_MAX);
    Counters c;
    c.other_opcodes[7] = UINT64_MAX;
    c.count_opcode(7);
    CHECK(c.other_opcodes[7] == UINT64_MAX);
}

TEST_CASE("names of phases and refusals", "[session]") {
    CHECK(phase_name(Phase::await_hello) == "await-hello");
    CHECK(phase_name(Phase::service_data) == "service-data");
    CHECK(phase_name(Phase::not_timbuktu) == "not-timbuktu");
    CHECK(refuse_reason_name(RefuseReason::third_party_address) == "third-party-address");
    CHECK(refuse_reason_name(RefuseReason::port_not_allowed) == "port-not-allowed");
    CHECK(refuse_reason_name(RefuseReason::too_many_expectations) == "too-many-expectations");
}
