// docs/protocol-model.md#memory: what a session costs at rest and under the
// unfinished-frames attack. Structural bounds (bytes the engine owns), not timings.
#include <catch2/catch.hpp>

#include <vector>

#include "timbuktu/session.hpp"
#include "helpers.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

TEST_CASE("memory: a session at rest after a normal contact owns at most 1 KiB", "[memory]") {
    Counters c;
    Session s(plain_facts(), Policy{}, c);
    TcpPeer peer{s};
    peer.guest(hello(7));
    peer.host(cat({hello_ack(7), offer(7, Transport::udp, 40000), offer(7, Transport::tcp, 40001)}));
    // A long frame that spanned segments and ended leaves nothing behind.
    auto big = frame(timbuktu::kClassHost, Bytes(5000, 0x60));
    peer.host(Bytes(big.begin(), big.begin() + 1000));
    peer.host(Bytes(big.begin() + 1000, big.end()));
    INFO("memory_bytes " << s.memory_bytes());
    CHECK(s.memory_bytes() <= 1024);
}

TEST_CASE("memory: 1000 sessions each holding an unfinished 64 KiB frame stay under 4 KiB each", "[memory]") {
    stream::HoldBudget budget(1024 * 1024);
    Counters c;
    std::vector<Session> sessions;
    sessions.reserve(1000);
    Bytes header{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF};  // a guest HELLO declaring 65535 body bytes
    Bytes body(1400, 0x41);
    body[0] = 0x00, body[1] = 0x23;
    Bytes more(1400, 0x41);
    std::size_t most = 0;
    for (int i = 0; i < 1000; ++i) {
        sessions.emplace_back(plain_facts(), Policy{}, c, &budget);
        Session& s = sessions.back();
        TcpPeer peer{s};
        peer.guest(header);
        peer.guest(body);
        for (int k = 0; k < 44; ++k) peer.guest(more);  // about 63 KB of the frame
        // And out-of-order data beyond a gap, which only the budget bounds across sessions.
        s.on_packet(Packet{PacketDirection::original, peer.guest_seq + 2000, Bytes(1400, 0x41)});
        REQUIRE(s.phase() == Phase::await_hello);
        most = std::max(most, s.memory_bytes());
    }
    std::size_t total = 0;
    for (const auto& s : sessions) total += s.memory_bytes();
    INFO("largest " << most << " bytes, average " << total / sessions.size() << " bytes");
    CHECK(total / sessions.size() <= 4096);
    CHECK(budget.used() <= budget.capacity());
    CHECK(c.held_dropped > 0);  // the budget ran out: the segment is refused, its sender retransmits it
    sessions.clear();
    CHECK(budget.used() == 0);  // every session gave its held bytes back
}
