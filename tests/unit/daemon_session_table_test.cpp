// tbhelperd's session table (lib/helper/session_table.cpp,
// docs/daemon.md#session-table): lanes, expiry per lane, junk evicted before
// live sessions, a handshake-only entry handing its SYN to the new session,
// and the memory one tracked connection costs.
#include <catch2/catch.hpp>

#include <malloc.h>
#include <netinet/in.h>

#include <cstdio>

#include "helper/session_table.hpp"
#include "helpers.hpp"

using namespace tbtest;
using tb::helper::adopt_session;
using tb::helper::IdleLimits;
using tb::helper::Lane;
using tb::helper::SessionEntry;
using tb::helper::SessionKey;
using tb::helper::SessionTable;

namespace {

helper::SessionKey key_of(std::uint16_t n, std::uint8_t l4 = IPPROTO_TCP) {
    helper::SessionKey k;
    k.l4 = l4;
    k.orig.src = ip("198.51.100.2");
    k.orig.dst = ip("203.0.113.2");
    k.orig.sport = n;
    k.orig.dport = 407;
    return k;
}

helper::SessionEntry entry(std::uint16_t n, helper::Lane lane, std::time_t t, std::uint8_t l4 = IPPROTO_TCP) {
    helper::SessionEntry e;
    e.key = key_of(n, l4);
    e.lane = lane;
    e.last_seen = e.created = t;
    return e;
}

struct EvictLog {
    std::vector<std::uint16_t> ports;
    std::function<void(const helper::SessionEntry&)> fn() {
        return [this](const helper::SessionEntry& v) { ports.push_back(v.key.orig.sport); };
    }
};

}  // namespace

TEST_CASE("session table: expiry walks every lane and does not stop at a young TCP entry", "[daemon][table]") {
    helper::SessionTable t(100);
    EvictLog ev;
    // Inserted oldest first, so each lane's old end holds the oldest.
    t.insert(entry(1, helper::Lane::tcp, 0), ev.fn());       // old but TCP: 6 h limit, stays
    t.insert(entry(2, helper::Lane::udp, 0, IPPROTO_UDP), ev.fn());  // UDP idle 1000 s: goes
    t.insert(entry(3, helper::Lane::junk, 0), ev.fn());      // junk idle 1000 s: goes
    t.insert(entry(4, helper::Lane::tcp, 990), ev.fn());     // young TCP
    t.insert(entry(5, helper::Lane::udp, 10, IPPROTO_UDP), ev.fn());  // UDP idle 990 s: goes
    t.insert(entry(6, helper::Lane::junk, 950), ev.fn());    // junk idle 50 s: stays
    helper::IdleLimits limits;
    CHECK(t.expire(1000, limits) == 3);
    CHECK(t.size() == 3);
    CHECK(t.find(key_of(1), 1000) != nullptr);
    CHECK(t.find(key_of(4), 1000) != nullptr);
    CHECK(t.find(key_of(6), 1000) != nullptr);
    CHECK(t.find(key_of(2, IPPROTO_UDP), 1000) == nullptr);
    CHECK(t.find(key_of(5, IPPROTO_UDP), 1000) == nullptr);
    CHECK(t.find(key_of(3), 1000) == nullptr);
    CHECK(ev.ports.empty());
    // The old TCP entry goes once its own limit passed.
    CHECK(t.expire(7 * 3600, limits) == 3);
    CHECK(t.size() == 0);
}

TEST_CASE("session table: a full table evicts junk first, live sessions only without junk", "[daemon][table]") {
    helper::SessionTable t(4);
    EvictLog ev;
    t.insert(entry(1, helper::Lane::tcp, 1), ev.fn());   // oldest live
    t.insert(entry(2, helper::Lane::udp, 2, IPPROTO_UDP), ev.fn());
    t.insert(entry(3, helper::Lane::junk, 3), ev.fn());
    t.insert(entry(4, helper::Lane::junk, 4), ev.fn());
    // A flood of junk (not Timbuktu, handshake-only) pushes out junk only.
    for (std::uint16_t n = 100; n < 150; ++n) t.insert(entry(n, helper::Lane::junk, 10 + n), ev.fn());
    CHECK(t.size() == 4);
    CHECK(t.size(helper::Lane::tcp) == 1);
    CHECK(t.size(helper::Lane::udp) == 1);
    CHECK(t.find(key_of(1), 500) != nullptr);
    CHECK(ev.ports.size() == 50);
    CHECK(ev.ports.front() == 3);  // the least recently used junk first
    // Without junk left, the least recently used live session goes.
    helper::SessionTable u(2);
    EvictLog ev2;
    u.insert(entry(1, helper::Lane::tcp, 5), ev2.fn());
    u.insert(entry(2, helper::Lane::udp, 1, IPPROTO_UDP), ev2.fn());
    u.insert(entry(3, helper::Lane::tcp, 9), ev2.fn());
    REQUIRE(ev2.ports.size() == 1);
    CHECK(ev2.ports[0] == 2);  // older last_seen than the TCP one
    CHECK(u.size() == 2);
}

TEST_CASE("session table: capacity stays bounded and a lane change keeps the entry", "[daemon][table]") {
    helper::SessionTable t(16);
    EvictLog ev;
    for (std::uint16_t n = 1; n <= 1000; ++n) t.insert(entry(n, n % 2 ? helper::Lane::tcp : helper::Lane::junk, n), ev.fn());
    CHECK(t.size() == 16);
    CHECK(t.size(helper::Lane::junk) + t.size(helper::Lane::udp) + t.size(helper::Lane::tcp) == 16);
    helper::SessionEntry* e = t.find(key_of(999), 2000);
    REQUIRE(e != nullptr);
    t.set_lane(*e, helper::Lane::junk);  // became terminal: its pointer stays valid
    CHECK(e->lane == helper::Lane::junk);
    CHECK(t.find(key_of(999), 2001) == e);
    t.erase(key_of(999));
    CHECK(t.find(key_of(999), 2002) == nullptr);
    CHECK(t.size() == 15);
}

TEST_CASE("session table: a smaller capacity (reload) evicts at once, junk first", "[daemon][table]") {
    helper::SessionTable t(8);
    EvictLog ev;
    for (std::uint16_t n = 1; n <= 4; ++n) t.insert(entry(n, helper::Lane::tcp, n), ev.fn());
    for (std::uint16_t n = 5; n <= 8; ++n) t.insert(entry(n, helper::Lane::junk, n), ev.fn());
    REQUIRE(ev.ports.empty());
    t.set_capacity(5, ev.fn());
    CHECK(t.capacity() == 5);
    CHECK(t.size() == 5);
    CHECK(ev.ports == std::vector<std::uint16_t>{5, 6, 7});  // the junk, least recently used first
    t.set_capacity(2, ev.fn());
    CHECK(t.size() == 2);
    CHECK(t.size(helper::Lane::tcp) == 2);  // then the oldest live sessions
    CHECK(t.find(key_of(4), 100) != nullptr);
    CHECK(t.find(key_of(3), 100) != nullptr);
    // A larger one evicts nothing and leaves room.
    t.set_capacity(100, ev.fn());
    for (std::uint16_t n = 10; n < 60; ++n) t.insert(entry(n, helper::Lane::tcp, 200 + n), ev.fn());
    CHECK(t.size() == 52);
}

TEST_CASE("a handshake-only entry hands its SYN to the new session: the stream starts where TCP says",
          "[daemon][table]") {
    const Bytes h = hello(5);  // a framed service
    const std::uint32_t isn = 0x10000000;
    const std::size_t half = h.size() / 2;
    const Bytes first(h.begin(), h.begin() + static_cast<long>(half));
    const Bytes second(h.begin() + static_cast<long>(half), h.end());

    // With the SYN kept: the second half arrives first and is held until the
    // first half fills the gap; the HELLO is recognized.
    Policy policy;
    Counters with_syn;
    helper::SessionEntry e;
    e.syn_seq[0] = isn;
    helper::adopt_session(e, Session(plain_facts(), policy, with_syn));
    CHECK_FALSE(e.syn_seq[0].has_value());
    e.session->on_packet(Packet{PacketDirection::original, isn + 1 + static_cast<std::uint32_t>(half), second});
    e.session->on_packet(Packet{PacketDirection::original, isn + 1, first});
    CHECK(with_syn.sessions == 1);
    CHECK(e.session->phase() == Phase::await_ack);

    // Without it the out-of-order half is taken as the stream's start: the
    // flow is misread (what keeping the SYN's sequence number prevents).
    Counters without;
    helper::SessionEntry n;
    helper::adopt_session(n, Session(plain_facts(), policy, without));
    n.session->on_packet(Packet{PacketDirection::original, isn + 1 + static_cast<std::uint32_t>(half), second});
    n.session->on_packet(Packet{PacketDirection::original, isn + 1, first});
    CHECK(without.sessions == 0);
}

TEST_CASE("memory per tracked connection at rest (figure printed)", "[daemon][table][memory]") {
    constexpr std::size_t kEntries = 4000;
    Policy policy;
    Counters counters;
    helper::SessionTable t(kEntries);
    const std::size_t before = mallinfo2().uordblks;
    for (std::size_t i = 0; i < kEntries; ++i) {
        helper::SessionEntry e = entry(static_cast<std::uint16_t>(i + 1), helper::Lane::tcp, 1);
        auto facts = plain_facts();
        facts.guest_port = static_cast<std::uint16_t>(i + 1);
        e.session.emplace(facts, policy, counters);
        TcpPeer peer{*e.session};
        peer.guest(hello(5));
        peer.host(hello_ack(5));
        t.insert(std::move(e), nullptr);
    }
    const std::size_t after = mallinfo2().uordblks;
    const double per = static_cast<double>(after - before) / kEntries;
    std::printf("session table: sizeof(helper::SessionEntry) %zu bytes; %zu framed TCP sessions at rest: %.0f bytes each "
                "(entry, list and hash nodes, engine session)\n",
                sizeof(helper::SessionEntry), kEntries, per);
    CHECK(counters.sessions == kEntries);
    CHECK(t.size() == kEntries);
    CHECK(per <= 1024);  // issue 8's goal: at most 1 KiB per tracked connection at rest
}
