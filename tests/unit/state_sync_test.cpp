// The session state a firewall pair's daemons share (helper/state_sync.hpp,
// docs/ha.md#session-state): the datagram format and the bounded table.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include "helper/state_sync.hpp"
#include "helpers.hpp"

using namespace tbtest;
using namespace tb::helper;

namespace {

ReplicatedState record(std::uint16_t gport, std::uint8_t fill = 0x5A) {
    ReplicatedState r;
    r.key.l4 = IPPROTO_TCP;
    r.key.zone = 3;
    r.key.orig = {ip("198.51.100.2"), ip("203.0.113.2"), gport, 407};
    r.reply = {ip("203.0.113.2"), ip("198.51.100.2"), 407, gport};
    r.state.fill(fill);
    r.state[0] = 0x54;
    return r;
}

ReplicatedState record6() {
    ReplicatedState r;
    r.key.l4 = IPPROTO_UDP;
    r.key.orig = {*IpAddress::parse("2001:db8:1::2"), *IpAddress::parse("2001:db8:2::2"), 5000, 1419};
    r.reply = {*IpAddress::parse("2001:db8:2::2"), *IpAddress::parse("2001:db8:1::2"), 1419, 5000};
    r.state.fill(0x11);
    return r;
}

}  // namespace

TEST_CASE("state sync: records round-trip through a datagram", "[ha]") {
    std::vector<ReplicatedState> rs{record(40000), record6(), record(40001, 0x22)};
    auto bytes = encode_sync(rs);
    CHECK(bytes.size() == kSyncHeaderSize + 3 * kSyncRecordSize);
    auto back = decode_sync(bytes);
    REQUIRE(back);
    CHECK(*back == rs);
    SECTION("one record") {
        auto one = encode_sync(std::span(rs.data(), 1));
        auto b1 = decode_sync(one);
        REQUIRE(b1);
        REQUIRE(b1->size() == 1);
        CHECK((*b1)[0] == rs[0]);
    }
    SECTION("at most kSyncMaxRecords records a datagram, and it fits an Ethernet frame") {
        std::vector<ReplicatedState> many(kSyncMaxRecords + 3, record(1));
        auto full = encode_sync(many);
        CHECK(full.size() == kSyncMaxDatagram);
        CHECK(kSyncMaxDatagram <= 1472);  // 1500 - IPv4 - UDP headers
        auto b = decode_sync(full);
        REQUIRE(b);
        CHECK(b->size() == kSyncMaxRecords);
    }
}

TEST_CASE("state sync: anything this version did not write is refused", "[ha]") {
    const auto good = encode_sync(std::vector{record(40000)});
    auto bad = [&](auto mutate) {
        auto b = good;
        mutate(b);
        return !decode_sync(b).has_value();
    };
    CHECK(bad([](Bytes& b) { b.clear(); }));
    CHECK(bad([](Bytes& b) { b.resize(kSyncHeaderSize); }));
    CHECK(bad([](Bytes& b) { b.pop_back(); }));                      // short record
    CHECK(bad([](Bytes& b) { b.push_back(0); }));                    // trailing byte
    CHECK(bad([](Bytes& b) { b[0] = 'X'; }));                        // magic
    CHECK(bad([](Bytes& b) { b[3] = 0x02; }));                       // version
    CHECK(bad([](Bytes& b) { b[4] = 2; }));                          // count says 2, one is there
    CHECK(bad([](Bytes& b) { b[4] = 0; }));                          // no records
    CHECK(bad([](Bytes& b) { b[5] = 1; }));                          // reserved byte
    CHECK(bad([](Bytes& b) { b[kSyncHeaderSize] = 5; }));            // family
    CHECK(bad([](Bytes& b) { b[kSyncHeaderSize + 1] = 1; }));        // l4: ICMP
    CHECK(bad([](Bytes& b) { b[kSyncHeaderSize + 4 + 4] = 1; }));    // IPv4 address padding
    CHECK(bad([](Bytes& b) { b[kSyncHeaderSize + 40 + 20] = 1; }));  // reply dst padding
    std::vector<std::uint8_t> huge(kSyncMaxDatagram + kSyncRecordSize, 0);
    CHECK_FALSE(decode_sync(huge).has_value());
}

TEST_CASE("replica table: latest copy per connection, matched on both tuples, bounded and aged", "[ha]") {
    ReplicaTable t(2, 100);
    auto a = record(40000, 0x01);
    t.put(a, 1000);
    auto a2 = record(40000, 0x02);
    t.put(a2, 1001);  // the newer state replaces the older
    CHECK(t.size() == 1);
    auto got = t.find(a.key, a.reply, 1002);
    REQUIRE(got);
    CHECK(*got == a2.state);
    SECTION("another reply tuple (a NATed connection that is not this one) finds nothing") {
        Tuple other = a.reply;
        other.dport = 1;
        CHECK_FALSE(t.find(a.key, other, 1002));
    }
    SECTION("too old finds nothing, and expiry removes it") {
        CHECK_FALSE(t.find(a.key, a.reply, 1102));
        CHECK(t.expire(1102) == 1);
        CHECK(t.size() == 0);
    }
    SECTION("full: the least recently updated goes") {
        t.put(record(40001), 1003);
        t.put(a2, 1004);  // refreshes 40000
        t.put(record(40002), 1005);
        CHECK(t.size() == 2);
        CHECK(t.find(a.key, a.reply, 1006));
        CHECK_FALSE(t.find(record(40001).key, record(40001).reply, 1006));
    }
    SECTION("erase") {
        t.erase(a.key);
        CHECK_FALSE(t.find(a.key, a.reply, 1002));
        CHECK(t.size() == 0);
    }
}

TEST_CASE("state sync: the resync request is exactly its 4 bytes", "[ha]") {
    const auto r = encode_resync_request();
    CHECK(is_resync_request(r));
    CHECK_FALSE(decode_sync(r).has_value());  // never taken for records
    auto longer = r;
    longer.push_back(0);
    CHECK_FALSE(is_resync_request(longer));
    auto other = r;
    other[3] = 2;
    CHECK_FALSE(is_resync_request(other));
    CHECK_FALSE(is_resync_request(encode_sync(std::vector{record(1)})));
}
