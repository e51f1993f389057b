// The helper runtime (helper/runtime.hpp) with fake kernel facts: conntrack
// facts built by hand, real IPv4 packets decoded by net::parse_packet, and a
// KernelPort / EventSink that record what the runtime asked for and told.
#include <catch2/catch.hpp>

#include <cerrno>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <variant>

#include "helper/runtime.hpp"
#include "helpers.hpp"
#include "net/packet.hpp"
#include "timbuktu/services.hpp"

using namespace tbtest;
using namespace tb::helper;

namespace {

struct FakePort : KernelPort {
    std::vector<timbuktu::Expect> created;
    std::optional<OriginalPath> route;
    int route_lookups = 0;
    ExpectationResult next{};
    ExpectationResult create_expectation(const ConntrackFacts&, const timbuktu::Expect& e) override {
        created.push_back(e);
        return next;
    }
    std::optional<OriginalPath> route_to(const IpAddress&) override {
        ++route_lookups;
        return route;
    }
};

struct FakeSink : EventSink {
    std::vector<RuntimeEvent> events;
    void on_event(const RuntimeEvent& e) override { events.push_back(e); }
    template <class T>
    std::size_t count() const {
        std::size_t n = 0;
        for (const auto& e : events) n += std::holds_alternative<T>(e);
        return n;
    }
};

// G 198.51.100.2:40000 -> D 203.0.113.2:407, no NAT.
ConntrackFacts conntrack(std::uint32_t id, bool confirmed = true, std::uint8_t l4 = IPPROTO_TCP) {
    ConntrackFacts f;
    f.id = id;
    f.l3 = AF_INET;
    f.l4 = l4;
    f.orig = {ip("198.51.100.2"), ip("203.0.113.2"), 40000, 407};
    f.reply = {ip("203.0.113.2"), ip("198.51.100.2"), 407, 40000};
    f.confirmed = confirmed;
    f.help = CtHelp{"timbuktu", {}, false};
    return f;
}

constexpr std::uint8_t kAck = 0x10;

// An IPv4 packet with a TCP (or UDP) header; checksums zero (the runtime never checks them).
Bytes packet(bool from_guest, std::uint8_t l4, std::uint32_t seq, std::uint8_t flags, const Bytes& payload) {
    const std::size_t l4len = l4 == IPPROTO_TCP ? 20 : 8;
    Bytes p(20 + l4len + payload.size(), 0);
    p[0] = 0x45;
    const std::size_t total = p.size();
    p[2] = static_cast<std::uint8_t>(total >> 8);
    p[3] = static_cast<std::uint8_t>(total);
    p[8] = 64;
    p[9] = l4;
    const Bytes g{198, 51, 100, 2}, d{203, 0, 113, 2};
    std::copy(g.begin(), g.end(), p.begin() + (from_guest ? 12 : 16));
    std::copy(d.begin(), d.end(), p.begin() + (from_guest ? 16 : 12));
    const std::uint16_t sport = from_guest ? 40000 : 407, dport = from_guest ? 407 : 40000;
    std::uint8_t* t = p.data() + 20;
    t[0] = sport >> 8, t[1] = sport & 0xff, t[2] = dport >> 8, t[3] = dport & 0xff;
    if (l4 == IPPROTO_TCP) {
        t[4] = seq >> 24, t[5] = (seq >> 16) & 0xff, t[6] = (seq >> 8) & 0xff, t[7] = seq & 0xff;
        t[12] = 5 << 4;
        t[13] = flags;
    } else {
        const std::size_t ulen = 8 + payload.size();
        t[4] = static_cast<std::uint8_t>(ulen >> 8), t[5] = static_cast<std::uint8_t>(ulen);
    }
    std::copy(payload.begin(), payload.end(), p.begin() + 20 + l4len);
    return p;
}

// The runtime with its fakes, and one TCP conversation's sequence numbers.
struct Bed {
    FakePort port;
    FakeSink sink;
    HelperRuntime rt;
    std::uint32_t guest_seq = 1000, host_seq = 5000;
    PacketInterfaces from_guest{3, 5, 0, 0};  // in 3, out 5 (forwarded towards the host)
    PacketInterfaces from_host{5, 3, 0, 0};   // the host's replies come in on 5
    std::time_t now = 1000;

    explicit Bed(RuntimeOptions o = {}) : rt(kTimbuktuHelper, timbuktu::Policy{}, o, port, sink) {}

    PacketOutcome send(const ConntrackFacts& ct, bool guest, const Bytes& payload, std::uint8_t flags = kAck,
                       std::optional<PacketInterfaces> ifaces = std::nullopt) {
        std::uint32_t& seq = guest ? guest_seq : host_seq;
        Bytes p = packet(guest, ct.l4, seq, flags, payload);
        seq += static_cast<std::uint32_t>(payload.size()) + ((flags & net::kTcpSyn) ? 1 : 0);
        net::ParsedPacket parsed;
        REQUIRE(net::parse_packet(p, parsed) == net::ParseError::none);
        last_packet = p;
        PacketIn in;
        in.data = last_packet;
        in.parsed = &parsed;
        in.conntrack = &ct;
        in.direction = guest ? timbuktu::PacketDirection::original : timbuktu::PacketDirection::reply;
        in.ifaces = ifaces ? *ifaces : (guest ? from_guest : from_host);
        in.now = now;
        in.gso = gso;
        in.csum_not_ready = csum_not_ready;
        in.can_requeue = can_requeue;
        in.from_segment_queue = from_segment_queue;
        return rt.on_packet(in);
    }
    Bytes last_packet;
    // What the queue says of the next packets (docs/daemon.md#gso).
    bool gso = false, csum_not_ready = false, can_requeue = false, from_segment_queue = false;
};

bool writes_state(const PacketOutcome& o) { return std::holds_alternative<WriteState>(o.ct_help); }
bool detaches(const PacketOutcome& o) { return std::holds_alternative<DetachHelper>(o.ct_help); }

}  // namespace

TEST_CASE("runtime: a HELLO starts a session and its state is written back once", "[runtime]") {
    Bed b;
    const auto ct = conntrack(7);
    auto o = b.send(ct, true, hello(timbuktu::kServiceIntercom));
    CHECK(o.verdict == PacketVerdict::accept);
    REQUIRE(writes_state(o));
    REQUIRE(b.rt.session_of(ct));
    CHECK(b.rt.session_of(ct)->phase() == timbuktu::Phase::await_ack);
    CHECK(std::get<WriteState>(o.ct_help).state == b.rt.session_of(ct)->persisted());
    CHECK(b.rt.sessions_tracked() == 1);
    // Nothing changed in the persisted state: nothing written.
    auto ack = b.send(ct, true, {});
    CHECK(std::holds_alternative<std::monostate>(ack.ct_help));
    // The HELLO-ACK changes the phase: written again.
    auto o2 = b.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
    CHECK(writes_state(o2));
    CHECK(b.rt.session_of(ct)->phase() == timbuktu::Phase::framed);
}

TEST_CASE("runtime: an offer creates an expectation through the kernel port", "[runtime]") {
    Bed b;
    const auto ct = conntrack(7);
    b.send(ct, true, hello(timbuktu::kServiceIntercom));
    b.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
    b.send(ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    REQUIRE(b.port.created.size() == 1);
    CHECK(b.port.created[0].port == 40001);
    CHECK(b.sink.count<helper::event::ExpectationCreated>() == 1);
    CHECK(b.rt.kernel_counters().kernel_errors == 0);
    SECTION("a refused NAT-following expectation is counted as such") {
        b.port.next.kind = ExpectationResult::Kind::nat_follow_unavailable;
        b.port.next.error = EINVAL;
        b.send(ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40002, 0, 30));
        CHECK(b.sink.count<helper::event::ExpectationFailed>() == 1);
        CHECK(b.rt.kernel_counters().kernel_errors == 1);
        CHECK(b.rt.kernel_counters().nat_follow_refused == 1);
    }
}

TEST_CASE("runtime: a connection whose helper is not ours is left alone", "[runtime]") {
    Bed b;
    auto ct = conntrack(7);
    ct.help->name = "ftp";
    auto o = b.send(ct, true, hello(timbuktu::kServiceIntercom));
    CHECK(std::holds_alternative<std::monostate>(o.ct_help));
    CHECK(b.rt.sessions_tracked() == 0);
    CHECK(b.rt.counters().packets == 0);
    ct.help->name = "";  // detached
    b.send(ct, true, hello(timbuktu::kServiceIntercom));
    CHECK(b.rt.sessions_tracked() == 0);
}

TEST_CASE("runtime: identity is the tuple and the conntrack id", "[runtime]") {
    Bed b;
    const auto first = conntrack(7);
    b.send(first, true, hello(timbuktu::kServiceIntercom));
    REQUIRE(b.rt.session_of(first));
    CHECK(b.rt.counters().sessions == 1);
    // Same tuple, another (confirmed) conntrack: the old connection is gone.
    const auto reused = conntrack(8);
    b.guest_seq = 90000;
    b.send(reused, true, hello(timbuktu::kServiceIntercom));
    CHECK(b.rt.counters().sessions == 2);  // a new engine session recognized a new HELLO
    CHECK(b.rt.sessions_tracked() == 1);
}

TEST_CASE("runtime: an unconfirmed duplicate within 2 s belongs to the session", "[runtime]") {
    Bed b;
    const auto winner = conntrack(7, false);
    const Bytes h = hello(timbuktu::kServiceIntercom);
    // The HELLO split over two segments, each on its own unconfirmed conntrack.
    auto o1 = b.send(winner, true, Bytes(h.begin(), h.begin() + 4));
    CHECK(b.rt.sessions_tracked() == 1);
    CHECK(b.rt.counters().sessions == 0);
    const auto duplicate = conntrack(9, false);
    b.now += 1;
    auto o2 = b.send(duplicate, true, Bytes(h.begin() + 4, h.end()));
    // Same session: the HELLO is complete.
    CHECK(b.rt.counters().sessions == 1);
    REQUIRE(b.rt.session_of(winner));
    CHECK(b.rt.session_of(winner)->phase() == timbuktu::Phase::await_ack);
    // Never written into the racing duplicate (it loses confirmation).
    CHECK_FALSE(writes_state(o2));
    // The next packet of the surviving, now confirmed, conntrack carries the state.
    auto confirmed = conntrack(7, true);
    auto o3 = b.send(confirmed, false, hello_ack(timbuktu::kServiceIntercom));
    CHECK(writes_state(o3));
    (void)o1;
    SECTION("later than 2 s it is a new connection") {
        Bed late;
        late.send(conntrack(7, false), true, Bytes(h.begin(), h.begin() + 4));
        late.now += 3;
        late.send(conntrack(9, false), true, Bytes(h.begin() + 4, h.end()));
        CHECK(late.rt.counters().sessions == 0);  // the second half alone is no HELLO
    }
}

TEST_CASE("runtime: a session is restored from the conntrack's private data", "[runtime]") {
    timbuktu::PersistedState saved{};
    std::uint32_t host_seq = 0;
    {
        Bed b;
        const auto ct = conntrack(7);
        b.send(ct, true, hello(timbuktu::kServiceIntercom));
        auto o = b.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
        REQUIRE(writes_state(o));
        saved = std::get<WriteState>(o.ct_help).state;
        host_seq = b.host_seq;
    }
    Bed b;  // a restarted daemon
    auto ct = conntrack(7);
    ct.help->info.assign(saved.begin(), saved.end());
    ct.help->has_info = true;
    b.host_seq = host_seq;
    b.port.route = OriginalPath{true, 5, 0};  // the host speaks first: its path comes from routing
    b.send(ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    CHECK(b.rt.kernel_counters().restored_sessions == 1);
    CHECK(b.sink.count<helper::event::Restored>() == 1);
    CHECK(b.rt.kernel_counters().paths_from_routes == 1);
    REQUIRE(b.rt.session_of(ct));
    CHECK(b.rt.session_of(ct)->phase() == timbuktu::Phase::framed);
    CHECK(b.port.created.size() == 1);
    SECTION("foreign bytes of another size are not ours: a fresh session") {
        Bed f;
        auto other = conntrack(7);
        other.help->info.assign(16, 0xAB);
        other.help->has_info = true;
        f.send(other, true, hello(timbuktu::kServiceIntercom));
        CHECK(f.rt.kernel_counters().restored_sessions == 0);
        REQUIRE(f.rt.session_of(other));
        CHECK(f.rt.session_of(other)->phase() == timbuktu::Phase::await_ack);
    }
    SECTION("bytes of the right size that do not restore: a fresh session") {
        Bed f;
        auto other = conntrack(7);
        other.help->info.assign(timbuktu::kPersistedStateSize, 0xFF);
        other.help->has_info = true;
        f.send(other, true, hello(timbuktu::kServiceIntercom));
        CHECK(f.rt.kernel_counters().restored_sessions == 0);
        CHECK(f.rt.counters().sessions == 1);
    }
}

TEST_CASE("runtime: detach waits for a confirmed conntrack", "[runtime]") {
    Bed b;
    b.send(conntrack(7), true, hello(1));
    // StopWatching on an unconfirmed conntrack: no detach now.
    auto o = b.send(conntrack(7, false), false, cat({hello_ack(1), Bytes{0xF8, 0x00, 0x02, 0xAB, 0xCD}}));
    CHECK_FALSE(detaches(o));
    CHECK(b.sink.count<helper::event::StoppedWatching>() == 1);
    CHECK(b.rt.kernel_counters().detached == 0);
    CHECK(b.rt.sessions_tracked() == 1);
    // The next packet (a pure ACK, confirmed): detached, and forgotten.
    auto next = b.send(conntrack(7), true, {});
    CHECK(detaches(next));
    CHECK(b.rt.kernel_counters().detached == 1);
    CHECK(b.rt.sessions_tracked() == 0);
    SECTION("on a confirmed conntrack it is immediate") {
        Bed c;
        c.send(conntrack(7), true, hello(1));
        auto d = c.send(conntrack(7), false, cat({hello_ack(1), Bytes{0xF8, 0x00, 0x02, 0xAB, 0xCD}}));
        CHECK(detaches(d));
        CHECK(c.rt.sessions_tracked() == 0);
    }
}

TEST_CASE("runtime: a spoofed reply never reaches the engine", "[runtime]") {
    Bed b;
    const auto ct = conntrack(7);
    b.send(ct, true, hello(timbuktu::kServiceIntercom));
    const auto packets = b.rt.counters().packets;
    // The "host" reply comes in on interface 9, the original left through 5.
    auto o = b.send(ct, false, hello_ack(timbuktu::kServiceIntercom), kAck, PacketInterfaces{9, 3, 0, 0});
    CHECK(o.verdict == PacketVerdict::accept);
    CHECK(std::holds_alternative<std::monostate>(o.ct_help));
    CHECK(b.rt.counters().packets == packets);
    CHECK(b.rt.kernel_counters().spoofed == 1);
    REQUIRE(b.sink.count<helper::event::Spoofed>() == 1);
    CHECK(std::get<helper::event::Spoofed>(b.sink.events.back()).original_outdev == 5);
    CHECK(b.rt.session_of(ct)->phase() == timbuktu::Phase::await_ack);
    SECTION("without an original path and no route: not acted on") {
        Bed c;
        c.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
        CHECK(c.rt.kernel_counters().replies_unverified == 1);
        CHECK(c.port.route_lookups == 1);
        CHECK(c.rt.sessions_tracked() == 0);
    }
    SECTION("with the check off (a capture), the reply is examined") {
        RuntimeOptions off;
        off.reply_interface_check = false;
        Bed c(off);
        c.send(ct, true, hello(timbuktu::kServiceIntercom));
        c.send(ct, false, hello_ack(timbuktu::kServiceIntercom), kAck, PacketInterfaces{});
        CHECK(c.rt.session_of(ct)->phase() == timbuktu::Phase::framed);
        CHECK(c.port.route_lookups == 0);
    }
}

TEST_CASE("runtime: TCP close erases the entry", "[runtime]") {
    SECTION("RST") {
        Bed b;
        const auto ct = conntrack(7);
        b.send(ct, true, hello(timbuktu::kServiceIntercom));
        b.send(ct, true, {}, net::kTcpRst);
        CHECK(b.rt.sessions_tracked() == 0);
    }
    SECTION("the kernel's TIME_WAIT / CLOSE state") {
        for (std::uint8_t state : {std::uint8_t{TCP_CONNTRACK_TIME_WAIT}, std::uint8_t{TCP_CONNTRACK_CLOSE}}) {
            Bed b;
            auto ct = conntrack(7);
            b.send(ct, true, hello(timbuktu::kServiceIntercom));
            ct.tcp_state = state;
            b.send(ct, true, {}, net::kTcpFin | kAck);
            CHECK(b.rt.sessions_tracked() == 0);
        }
    }
    SECTION("ESTABLISHED keeps it") {
        Bed b;
        auto ct = conntrack(7);
        ct.tcp_state = TCP_CONNTRACK_ESTABLISHED;
        b.send(ct, true, hello(timbuktu::kServiceIntercom));
        b.send(ct, true, {});
        CHECK(b.rt.sessions_tracked() == 1);
    }
}

TEST_CASE("runtime: a payload-less SYN makes a junk entry, no engine session", "[runtime]") {
    Bed b;
    const auto ct = conntrack(7, false);
    b.send(ct, true, {}, net::kTcpSyn);
    CHECK(b.rt.sessions_tracked() == 1);
    CHECK(b.rt.session_of(ct) == nullptr);
    CHECK(b.rt.counters().packets == 0);
    // The first payload starts the session where the SYN said the stream starts.
    b.send(conntrack(7), true, hello(timbuktu::kServiceIntercom));
    REQUIRE(b.rt.session_of(ct));
    CHECK(b.rt.session_of(ct)->phase() == timbuktu::Phase::await_ack);
}

TEST_CASE("runtime: eviction forgets junk first and counts live evictions", "[runtime]") {
    RuntimeOptions small;
    small.session_capacity = 2;
    Bed b(small);
    auto ct_for = [](std::uint16_t sport, std::uint32_t id) {
        auto ct = conntrack(id);
        ct.orig.sport = sport;
        ct.reply.dport = sport;
        return ct;
    };
    // Two live sessions (their packets claim port 40000 but the table keys on the conntrack's tuple).
    b.send(ct_for(1, 1), true, hello(timbuktu::kServiceIntercom));
    b.send(ct_for(2, 2), true, hello(timbuktu::kServiceIntercom));
    CHECK(b.rt.sessions_tracked() == 2);
    b.send(ct_for(3, 3), true, {}, net::kTcpSyn);  // no junk left: a live one goes
    CHECK(b.rt.kernel_counters().evictions == 1);
    CHECK(b.rt.kernel_counters().evictions_live == 1);
    CHECK(b.sink.count<helper::event::EvictedLive>() == 1);
    b.send(ct_for(4, 4), true, {}, net::kTcpSyn);  // the junk SYN entry goes first
    CHECK(b.rt.kernel_counters().evictions == 2);
    CHECK(b.rt.kernel_counters().evictions_live == 1);
    REQUIRE(b.sink.count<helper::event::EvictedJunk>() == 1);
    CHECK(b.rt.session_of(ct_for(2, 2)) != nullptr);
}

TEST_CASE("runtime: a segment beyond a gap the budget cannot hold is dropped for retransmission", "[runtime]") {
    RuntimeOptions tiny;
    tiny.hold_budget_bytes = 16;
    Bed b(tiny);
    const auto ct = conntrack(7);
    b.send(ct, true, {}, net::kTcpSyn);
    b.guest_seq += 100;  // a gap
    auto o = b.send(ct, true, Bytes(200, 0x41));
    CHECK(o.verdict == PacketVerdict::drop_for_retransmit);
    CHECK(std::holds_alternative<std::monostate>(o.ct_help));
    CHECK(b.rt.kernel_counters().dropped_for_retransmit == 1);
    CHECK(b.sink.count<helper::event::DroppedForRetransmit>() == 1);
}

TEST_CASE("runtime: uapi vocabulary", "[runtime]") {
    CHECK(direction_from_ctinfo(IP_CT_NEW) == timbuktu::PacketDirection::original);
    CHECK(direction_from_ctinfo(IP_CT_ESTABLISHED) == timbuktu::PacketDirection::original);
    CHECK(direction_from_ctinfo(IP_CT_ESTABLISHED_REPLY) == timbuktu::PacketDirection::reply);
    CHECK(direction_from_ctinfo(IP_CT_RELATED_REPLY) == timbuktu::PacketDirection::reply);
    CHECK(tcp_state_closed(TCP_CONNTRACK_TIME_WAIT));
    CHECK(tcp_state_closed(TCP_CONNTRACK_CLOSE));
    CHECK_FALSE(tcp_state_closed(TCP_CONNTRACK_FIN_WAIT));
}

TEST_CASE("runtime: the sessions list shows what the table holds, newest first, bounded", "[runtime]") {
    Bed b;
    const auto ct = conntrack(7);
    b.send(ct, true, hello(timbuktu::kServiceIntercom));
    b.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
    b.send(ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    std::size_t total = 0;
    auto views = b.rt.sessions(10, total);
    REQUIRE(total == 1);
    REQUIRE(views.size() == 1);
    CHECK(views[0].phase == timbuktu::Phase::framed);
    CHECK(views[0].service == timbuktu::kServiceIntercom);
    CHECK(views[0].offers == 1);
    CHECK(views[0].guest == ct.orig.src);
    CHECK(views[0].guest_port == ct.orig.sport);
    CHECK(views[0].contact_port == ct.orig.dport);
    CHECK(views[0].transport == Transport::tcp);
    CHECK(b.rt.sessions(0, total).empty());
    CHECK(total == 1);
}

// ---- a firewall pair (docs/ha.md#session-state) -------------------------------------

namespace {

struct FakePeer : PeerPort {
    std::vector<ReplicatedState> published;
    ReplicaTable held{16, 3600};
    int asked = 0;
    void publish(const ReplicatedState& r) override { published.push_back(r); }
    std::optional<timbuktu::PersistedState> taken_over(const SessionKey& k, const Tuple& reply) override {
        ++asked;
        return held.find(k, reply, 1000);
    }
};

// Node A runs a framed intercom contact up to its HELLO-ACK; what it
// published is handed to node B's peer table (the sync link).
struct Pair {
    FakePeer peer_a, peer_b;
    Bed a, b;
    ConntrackFacts ct = conntrack(7);
    Pair() {
        a.rt.set_peer(&peer_a);
        b.rt.set_peer(&peer_b);
        a.send(ct, true, hello(timbuktu::kServiceIntercom));
        a.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
        for (const auto& r : peer_a.published) peer_b.held.put(r, 1000);
        // B's conntrack is conntrackd's copy: another id, the helper, no state.
        ct.id = 99;
        b.guest_seq = a.guest_seq;
        b.host_seq = a.host_seq;
        b.port.route = OriginalPath{true, 5, 0};
    }
};

}  // namespace

TEST_CASE("runtime pair: every state written is published to the peer", "[runtime][ha]") {
    Pair p;
    REQUIRE(p.peer_a.published.size() == 2);  // after the HELLO and after the HELLO-ACK
    const auto& last = p.peer_a.published.back();
    CHECK(last.key == SessionKey::of(conntrack(7)));
    CHECK(last.reply == conntrack(7).reply);
    REQUIRE(p.a.rt.session_of(conntrack(7)));
    CHECK(last.state == p.a.rt.session_of(conntrack(7))->persisted());
}

TEST_CASE("runtime pair: a connection taken over mid-session continues from the peer's copy", "[runtime][ha]") {
    Pair p;
    auto o = p.b.send(p.ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    CHECK(p.b.rt.kernel_counters().peer_restored_sessions == 1);
    CHECK(p.b.rt.kernel_counters().restored_sessions == 0);
    CHECK(p.b.rt.kernel_counters().detached == 0);
    CHECK_FALSE(detaches(o));
    REQUIRE(p.b.rt.session_of(p.ct));
    CHECK(p.b.rt.session_of(p.ct)->phase() == timbuktu::Phase::framed);
    REQUIRE(p.b.port.created.size() == 1);  // the host's later offer is expected by B
    CHECK(p.b.port.created[0].port == 40001);
    // B's kernel gets the state with the verdict, and B publishes it in turn (failback).
    CHECK(writes_state(o));
    REQUIRE_FALSE(p.peer_b.published.empty());
    bool restored_event = false;
    for (const auto& e : p.b.sink.events)
        if (auto r = std::get_if<helper::event::Restored>(&e)) restored_event = r->from_peer;
    CHECK(restored_event);
}

TEST_CASE("runtime pair: without the peer's copy the takeover is misjudged (why the copy exists)", "[runtime][ha]") {
    Pair p;
    p.b.rt.set_peer(nullptr);
    auto o = p.b.send(p.ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    CHECK(p.b.port.created.empty());
    CHECK(detaches(o));  // "the host side sent data before any guest frame"
}

TEST_CASE("runtime pair: a guest cannot make the taken-over session accept its own offer", "[runtime][ha]") {
    Pair p;
    // The restored session knows the roles (B10): a guest-side PORT-OFFER is a
    // forgery, never acted on, and the flow is watched no more, exactly as on
    // the node that saw the contact begin.
    auto o = p.b.send(p.ct, true, offer(timbuktu::kServiceIntercom, Transport::tcp, 40002));
    CHECK(p.b.rt.kernel_counters().peer_restored_sessions == 1);
    CHECK(p.b.port.created.empty());
    CHECK(p.b.rt.counters().forged == 1);
    CHECK(detaches(o));
    // The peer learns the terminal phase: taken back there, the flow stays
    // what it became here, not the live session from before the forgery.
    REQUIRE_FALSE(p.peer_b.published.empty());
    FakePeer back;
    back.held.put(p.peer_b.published.back(), 1000);
    Bed a2;
    a2.rt.set_peer(&back);
    a2.host_seq = p.b.host_seq;
    a2.port.route = OriginalPath{true, 5, 0};
    a2.send(p.ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001));
    CHECK(a2.port.created.empty());
}

TEST_CASE("runtime pair: the copy is for that connection only, and the kernel's own state comes first",
          "[runtime][ha]") {
    Pair p;
    SECTION("another reply tuple: no copy, a fresh session") {
        auto other = p.ct;
        other.reply.dport = 1234;
        p.b.send(other, true, hello(timbuktu::kServiceIntercom));
        CHECK(p.b.rt.kernel_counters().peer_restored_sessions == 0);
    }
    SECTION("state in B's own conntrack (B's daemon restarted): restored from there") {
        const auto saved = p.peer_a.published.back().state;
        auto own = p.ct;
        own.help = CtHelp{"timbuktu", Bytes(saved.begin(), saved.end()), true};
        p.b.send(own, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
        CHECK(p.b.rt.kernel_counters().restored_sessions == 1);
        CHECK(p.b.rt.kernel_counters().peer_restored_sessions == 0);
        CHECK(p.peer_b.asked == 0);
    }
}

TEST_CASE("runtime pair: a peer that starts late gets every live session's written state", "[runtime][ha]") {
    Pair p;
    auto states = p.a.rt.live_states(100);
    REQUIRE(states.size() == 1);
    CHECK(states[0] == p.peer_a.published.back());
    CHECK(p.a.rt.live_states(0).empty());
    // B starts now: it knows nothing but what A's answer brings, and takes over from it.
    FakePeer late;
    for (const auto& s : states) late.held.put(s, 1000);
    p.b.rt.set_peer(&late);
    p.b.send(p.ct, false, offer(timbuktu::kServiceIntercom, Transport::udp, 40001, 0, 30));
    CHECK(p.b.rt.kernel_counters().peer_restored_sessions == 1);
    CHECK(p.b.port.created.size() == 1);
}

TEST_CASE("runtime pair: flows that are not Timbuktu send the peer nothing", "[runtime][ha]") {
    Bed b;
    FakePeer peer;
    b.rt.set_peer(&peer);
    for (std::uint32_t id = 1; id <= 20; ++id) {
        auto ct = conntrack(id, false, IPPROTO_UDP);  // a first datagram: unconfirmed
        ct.orig.sport = ct.reply.dport = static_cast<std::uint16_t>(41000 + id);
        b.send(ct, true, Bytes(48, 0xde));
    }
    CHECK(b.rt.counters().not_timbuktu >= 1);
    CHECK(peer.published.empty());
}

// ---------------------------------------------------------------------------
// GSO (docs/daemon.md#gso): what goes on to the segment queue.

namespace {
ConntrackFacts dnat_conntrack(std::uint32_t id) {
    ConntrackFacts f = conntrack(id);
    f.reply = {ip("10.0.0.5"), ip("198.51.100.2"), 407, 40000};  // DNAT D -> H
    return f;
}
}  // namespace

TEST_CASE("runtime gso: a super-packet of a connection that is not NATed is read whole") {
    Bed b;
    auto ct = conntrack(1);
    b.can_requeue = true;
    b.gso = b.csum_not_ready = true;
    auto o = b.send(ct, true, Bytes(3000, 0x41));
    CHECK(o.verdict == PacketVerdict::accept);
    CHECK(o.session.has_value());  // the engine read it
}

TEST_CASE("runtime gso: a NATed connection's super-packets and checksum-less packets go to the segment queue") {
    Bed b;
    auto ct = dnat_conntrack(1);
    b.can_requeue = true;
    b.send(ct, true, {}, net::kTcpSyn);  // the handshake makes the entry
    b.gso = true;
    auto o = b.send(ct, true, Bytes(3000, 0x41));
    CHECK(o.verdict == PacketVerdict::requeue_as_segments);
    CHECK_FALSE(o.session.has_value());  // unexamined
    // Not a super-packet, checksum complete, but behind requeued bytes: it follows them.
    b.gso = false;
    o = b.send(ct, true, Bytes(100, 0x42));
    CHECK(o.verdict == PacketVerdict::requeue_as_segments);
    // A pure ACK is never sent on.
    o = b.send(ct, true, {});
    CHECK(o.verdict == PacketVerdict::accept);

    // The segment queue reads them: the engine sees them; the last one clears the mark.
    b.can_requeue = false;
    b.from_segment_queue = true;
    b.guest_seq = 1001;
    o = b.send(ct, true, Bytes(3000, 0x41));
    CHECK(o.verdict != PacketVerdict::requeue_as_segments);
    CHECK(o.session.has_value());
    o = b.send(ct, true, Bytes(100, 0x42));
    CHECK(o.session.has_value());
    // Back on the contact queue: a plain packet is read there again.
    b.from_segment_queue = false;
    b.can_requeue = true;
    o = b.send(ct, true, Bytes(10, 0x43));
    CHECK(o.verdict != PacketVerdict::requeue_as_segments);
    CHECK(o.session.has_value());
    // A checksum-less packet of the NATed connection goes on again.
    b.csum_not_ready = true;
    o = b.send(ct, true, Bytes(10, 0x44));
    CHECK(o.verdict == PacketVerdict::requeue_as_segments);
}

TEST_CASE("runtime gso: the mark clears only when the segment queue reaches it") {
    Bed b;
    auto ct = dnat_conntrack(1);
    b.can_requeue = true;
    b.send(ct, true, {}, net::kTcpSyn);
    b.gso = true;
    // A HELLO and a frame of an opcode the model ignores: a stream that stays Timbuktu.
    const Bytes first = hello(timbuktu::kServiceIntercom);
    const Bytes big = cat({first, frame(timbuktu::kClassGuest, Bytes(1900, 0))});
    CHECK(b.send(ct, true, big).verdict == PacketVerdict::requeue_as_segments);
    const std::uint32_t after = b.guest_seq;
    // The segment queue delivers the HELLO only: the mark stays.
    b.can_requeue = false, b.from_segment_queue = true, b.gso = false;
    b.guest_seq = 1001;
    auto o = b.send(ct, true, first);
    REQUIRE(o.session.has_value());
    b.can_requeue = true, b.from_segment_queue = false;
    b.guest_seq = after;
    const Bytes small = frame(timbuktu::kClassGuest, Bytes(4, 0));
    CHECK(b.send(ct, true, small).verdict == PacketVerdict::requeue_as_segments);
    // The rest arrives on the segment queue: the mark clears, and the next packet is read here.
    b.can_requeue = false, b.from_segment_queue = true;
    b.guest_seq = 1001 + static_cast<std::uint32_t>(first.size());
    b.send(ct, true, Bytes(big.begin() + static_cast<std::ptrdiff_t>(first.size()), big.end()));
    b.send(ct, true, small);
    b.can_requeue = true, b.from_segment_queue = false;
    o = b.send(ct, true, small);
    CHECK(o.verdict != PacketVerdict::requeue_as_segments);
    CHECK(o.session.has_value());  // read here, by the engine, on a session that is still tracked
    CHECK(b.rt.counters().not_timbuktu == 0);
}

TEST_CASE("runtime gso: with nat_rewrite off a NATed connection still reads as segments, a plain one whole") {
    // A reload may turn nat_rewrite off while rewrites made before are still
    // replayed into retransmissions: whether a rewrite is possible is what counts.
    FakePort port;
    FakeSink sink;
    timbuktu::Policy policy;
    policy.nat_rewrite = false;
    HelperRuntime rt(kTimbuktuHelper, policy, RuntimeOptions{}, port, sink);
    Bytes p = packet(true, IPPROTO_TCP, 1000, kAck, Bytes(3000, 0x41));
    net::ParsedPacket parsed;
    REQUIRE(net::parse_packet(p, parsed) == net::ParseError::none);
    auto verdict_for = [&](const ConntrackFacts& ct) {
        PacketIn in;
        in.data = p;
        in.parsed = &parsed;
        in.conntrack = &ct;
        in.ifaces = {3, 5, 0, 0};
        in.now = 1000;
        in.gso = in.csum_not_ready = in.can_requeue = true;
        return rt.on_packet(in).verdict;
    };
    CHECK(verdict_for(dnat_conntrack(1)) == PacketVerdict::requeue_as_segments);
    CHECK(verdict_for(conntrack(2)) != PacketVerdict::requeue_as_segments);
}

TEST_CASE("runtime gso: a cut copy is never read, and what follows it in its direction goes after it") {
    Bed b;
    auto ct = conntrack(1);  // not NATed: super-packets are read whole, but not a cut one
    b.can_requeue = true;
    b.send(ct, true, {}, net::kTcpSyn);
    const std::uint32_t start = b.guest_seq;
    // What the copy held: its headers and the first 1000 payload bytes of 70000.
    Bytes first = cat({hello(timbuktu::kServiceIntercom), Bytes(1000, 0)});
    Bytes p = packet(true, IPPROTO_TCP, start, kAck, first);
    net::ParsedPacket parsed;
    REQUIRE(net::parse_packet(p, parsed) == net::ParseError::none);
    PacketIn in;
    in.data = p;
    in.parsed = &parsed;
    in.conntrack = &ct;
    in.ifaces = b.from_guest;
    in.now = b.now;
    in.gso = true;
    in.can_requeue = true;
    in.cut = true;
    in.cut_payload_length = 70000;
    auto o = b.rt.on_packet(in);
    CHECK(o.verdict == PacketVerdict::requeue_as_segments);
    CHECK_FALSE(o.session.has_value());
    // The next packet (a plain one, not NATed) follows it to the segment queue.
    b.guest_seq = start + 70000;
    b.gso = false;
    CHECK(b.send(ct, true, frame(timbuktu::kClassGuest, Bytes(4, 0))).verdict == PacketVerdict::requeue_as_segments);
    // Without a segment queue a cut copy is not read either.
    in.can_requeue = false;
    o = b.rt.on_packet(in);
    CHECK(o.verdict == PacketVerdict::accept);
    CHECK_FALSE(o.session.has_value());
}

TEST_CASE("runtime gso: a forged reply moves no segment mark") {
    Bed b;
    auto ct = dnat_conntrack(1);
    b.can_requeue = true;
    b.send(ct, true, {}, net::kTcpSyn);
    b.send(ct, true, hello(timbuktu::kServiceIntercom));  // the original path: out through 5
    b.gso = true;
    // A super-packet "from the host" that came in on the guest's side: never acted on, not sent on.
    auto o = b.send(ct, false, Bytes(3000, 0x41), kAck, PacketInterfaces{3, 5, 0, 0});
    CHECK(o.verdict == PacketVerdict::accept);
    CHECK(b.rt.kernel_counters().spoofed == 1);
    // The host's real reply is read where it belongs: sent on as a super-packet of a NATed connection,
    // but a plain one right after the real host's first is read on the contact queue (no stale mark).
    b.gso = false;
    b.host_seq = 5000;
    o = b.send(ct, false, hello_ack(timbuktu::kServiceIntercom));
    CHECK(o.verdict != PacketVerdict::requeue_as_segments);
    CHECK(o.session.has_value());
}

TEST_CASE("runtime gso: the segment queue leaves alone a connection without our helper") {
    Bed b;
    auto ct = conntrack(1);
    ct.help.reset();  // queued there by some other rule, not sent on by us
    b.from_segment_queue = true;
    auto o = b.send(ct, true, hello(timbuktu::kServiceIntercom));
    CHECK(o.verdict == PacketVerdict::accept);
    CHECK_FALSE(o.session.has_value());
    CHECK(b.rt.sessions_tracked() == 0);
    CHECK(b.rt.counters().sessions == 0);
}

TEST_CASE("runtime gso: a UDP super-packet always goes to the segment queue, and only with one") {
    Bed b;
    auto ct = conntrack(1, true, IPPROTO_UDP);
    b.gso = true;
    CHECK(b.send(ct, true, Bytes(64, 0x41)).verdict != PacketVerdict::requeue_as_segments);  // no segment queue
    b.can_requeue = true;
    CHECK(b.send(ct, true, Bytes(64, 0x41)).verdict == PacketVerdict::requeue_as_segments);
    b.gso = false;
    CHECK(b.send(ct, true, Bytes(64, 0x41)).verdict != PacketVerdict::requeue_as_segments);
}

TEST_CASE("runtime gso: a NATed UDP datagram without its checksum goes to the segment queue") {
    Bed b;
    ConntrackFacts ct = conntrack(1, true, IPPROTO_UDP);
    ct.reply = {ip("10.0.0.5"), ip("198.51.100.2"), 407, 40000};  // DNAT D -> H
    b.can_requeue = true;
    CHECK(b.send(ct, true, hello(timbuktu::kServiceIntercom)).verdict != PacketVerdict::requeue_as_segments);
    b.csum_not_ready = true;
    CHECK(b.send(ct, true, hello(timbuktu::kServiceIntercom)).verdict == PacketVerdict::requeue_as_segments);
    // Not NATed: read here whatever its checksum.
    Bed plain;
    plain.can_requeue = plain.csum_not_ready = true;
    CHECK(plain.send(conntrack(2, true, IPPROTO_UDP), true, hello(timbuktu::kServiceIntercom)).verdict !=
          PacketVerdict::requeue_as_segments);
}
