// The stored form's layout as named fields (docs/protocol-model.md#persistence):
// size, field offsets, round trip, version 1.
#include <catch2/catch.hpp>

#include <cstddef>

#include "timbuktu/persisted_state.hpp"

using namespace tb;
using namespace tb::timbuktu;

TEST_CASE("persisted layout: named fields sit at the documented byte offsets", "[persist][layout]") {
    STATIC_REQUIRE(sizeof(PersistedLayout) == kPersistedStateSize);
    CHECK(offsetof(PersistedLayout, magic) == 0);
    CHECK(offsetof(PersistedLayout, version) == 1);
    CHECK(offsetof(PersistedLayout, phase) == 2);
    CHECK(offsetof(PersistedLayout, service) == 3);
    CHECK(offsetof(PersistedLayout, flags) == 4);
    CHECK(offsetof(PersistedLayout, guest_next_seq) == 5);
    CHECK(offsetof(PersistedLayout, host_next_seq) == 9);
    CHECK(offsetof(PersistedLayout, accepted_offers) == 13);
    CHECK(offsetof(PersistedLayout, key_count) == 14);
    CHECK(offsetof(PersistedLayout, keys) == 15);
    CHECK(offsetof(PersistedLayout, malformed_frames) == 30);
    CHECK(offsetof(PersistedLayout, crc) == 31);
}

TEST_CASE("persisted layout: TCP fields round-trip and land where documented", "[persist][layout]") {
    PersistedFields f;
    f.phase = Phase::framed;
    f.service = 7;
    f.directions[0] = {true, false, false, 0x01020304u};
    f.directions[1] = {true, true, true, 0xA0B0C0D0u};
    f.accepted_offers = 3;
    f.key_count = 2;
    f.keys[0] = {Transport::udp, 5000};
    f.keys[1] = {Transport::tcp, 0x1234};
    f.malformed_frames = 5;
    const auto s = encode_persisted(f, Transport::tcp);
    CHECK(s[0] == 0x54);
    CHECK(s[1] == 2);
    CHECK(s[2] == static_cast<std::uint8_t>(Phase::framed));
    CHECK(s[3] == 7);
    CHECK(s[4] == (kFlagSynced | ((kFlagSynced | kFlagMidFrame | kFlagStopped) << kHostFlagShift)));
    CHECK(s[5] == 1);
    CHECK(s[8] == 4);
    CHECK(s[9] == 0xA0);
    CHECK(s[13] == 3);
    CHECK(s[14] == 2);
    CHECK(s[15] == 17);
    CHECK(s[16] == 0x13);
    CHECK(s[17] == 0x88);
    CHECK(s[18] == 6);
    CHECK(s[19] == 0x12);
    CHECK(s[20] == 0x34);
    CHECK(s[30] == 5);
    CHECK(s[31] == crc8(std::span<const std::uint8_t>(s.data(), 31)));
    auto back = decode_persisted(s, Transport::tcp);
    REQUIRE(back);
    CHECK(*back == f);
    // The same bytes are not a UDP state (stream positions in a UDP state).
    CHECK_FALSE(decode_persisted(s, Transport::udp));
}

TEST_CASE("persisted layout: the UDP A10 flag round-trips only in not-timbuktu", "[persist][layout]") {
    PersistedFields f;
    f.phase = Phase::not_timbuktu;
    f.await_reply_verdict = true;
    const auto s = encode_persisted(f, Transport::udp);
    CHECK(s[4] == kFlagAwaitReplyVerdict);
    auto back = decode_persisted(s, Transport::udp);
    REQUIRE(back);
    CHECK(back->await_reply_verdict);
    f.phase = Phase::framed;
    CHECK_FALSE(decode_persisted(encode_persisted(f, Transport::udp), Transport::udp));
}

TEST_CASE("persisted layout: version 1 reads, with its narrower ranges", "[persist][layout]") {
    PersistedFields f;
    f.phase = Phase::lost;
    f.service = 2;
    f.accepted_offers = 1;
    f.key_count = 1;
    f.keys[0] = {Transport::tcp, 6000};
    auto s = encode_persisted(f, Transport::udp);
    s[1] = 1;
    auto reseal = [](PersistedState& b) { b[31] = crc8(std::span<const std::uint8_t>(b.data(), 31)); };
    reseal(s);
    auto back = decode_persisted(s, Transport::udp);
    REQUIRE(back);
    CHECK(*back == f);
    SECTION("a phase version 1 did not know") {
        s[2] = static_cast<std::uint8_t>(Phase::hostile);
        reseal(s);
        CHECK_FALSE(decode_persisted(s, Transport::udp));
    }
    SECTION("a malformed count, reserved in version 1") {
        s[30] = 1;
        reseal(s);
        CHECK_FALSE(decode_persisted(s, Transport::udp));
    }
}

TEST_CASE("persisted layout: rejections", "[persist][layout]") {
    PersistedFields f;
    f.accepted_offers = 1;
    f.key_count = 1;
    f.keys[0] = {Transport::tcp, 6000};
    const auto good = encode_persisted(f, Transport::tcp);
    REQUIRE(decode_persisted(good, Transport::tcp));
    auto reseal = [](PersistedState b) {
        b[31] = crc8(std::span<const std::uint8_t>(b.data(), 31));
        return b;
    };
    auto with = [&](std::size_t at, std::uint8_t v) {
        auto b = good;
        b[at] = v;
        return reseal(b);
    };
    CHECK_FALSE(decode_persisted(std::span<const std::uint8_t>(good.data(), 31), Transport::tcp));
    auto bad_crc = good;
    bad_crc[31] ^= 1;
    CHECK_FALSE(decode_persisted(bad_crc, Transport::tcp));
    CHECK_FALSE(decode_persisted(with(0, 0x55), Transport::tcp));   // magic
    CHECK_FALSE(decode_persisted(with(1, 3), Transport::tcp));      // version
    CHECK_FALSE(decode_persisted(with(2, 8), Transport::tcp));      // phase
    CHECK_FALSE(decode_persisted(with(4, 0x80), Transport::tcp));   // flag
    CHECK_FALSE(decode_persisted(with(4, kFlagMidFrame), Transport::tcp));  // mid-frame without synced
    CHECK_FALSE(decode_persisted(with(14, 2), Transport::tcp));     // more keys than accepted
    CHECK_FALSE(decode_persisted(with(15, 5), Transport::tcp));     // transport
    CHECK_FALSE(decode_persisted(with(20, 1), Transport::tcp));     // padding after the keys
    CHECK_FALSE(decode_persisted(with(30, 9), Transport::tcp));     // above the malformed cap
    CHECK_FALSE(decode_persisted(with(13, 33), Transport::tcp));    // above kMaxExpectationsLimit
}

TEST_CASE("crc8 is CRC-8 with polynomial 0x07 (the check value of \"123456789\" is 0xF4)", "[persist]") {
    const std::string check = "123456789";
    CHECK(crc8(std::span(reinterpret_cast<const std::uint8_t*>(check.data()), check.size())) == 0xF4);
    CHECK(crc8(std::span<const std::uint8_t>{}) == 0);
    // Byte by byte it equals the bitwise definition.
    for (unsigned v = 0; v < 256; ++v) {
        std::uint8_t crc = static_cast<std::uint8_t>(v);
        for (int i = 0; i < 8; ++i) crc = static_cast<std::uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
        const std::uint8_t b = static_cast<std::uint8_t>(v);
        CHECK(crc8(std::span(&b, 1)) == crc);
    }
}
