// tbhelperd's pure kernel-layer pieces (lib/net/packet, lib/netfilter/ct_attrs): the header walk that
// finds the L4 payload, the same-length rewrite with its incremental checksum
// fix, and the conntrack nest that carries the helper's private data.
#include <catch2/catch.hpp>

#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#include <cstring>
#include <random>

#include "netfilter/ct_attrs.hpp"
#include "net/packet.hpp"

using namespace tb;
using namespace tb::net;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes ipv4_packet(std::uint8_t proto, const Bytes& payload, std::size_t tcp_options = 0) {
    const std::size_t l4 = proto == 6 ? 20 + tcp_options : 8;
    Bytes p(20 + l4 + payload.size(), 0);
    p[0] = 0x45;
    store_be16(p.data() + 2, static_cast<std::uint16_t>(p.size()));
    p[8] = 64;
    p[9] = proto;
    const std::uint8_t src[4] = {198, 51, 100, 2}, dst[4] = {203, 0, 113, 2};
    std::memcpy(p.data() + 12, src, 4);
    std::memcpy(p.data() + 16, dst, 4);
    std::uint8_t* t = p.data() + 20;
    store_be16(t, 40000);
    store_be16(t + 2, 407);
    if (proto == 6) {
        store_be32(t + 4, 0x11223344);
        t[12] = static_cast<std::uint8_t>(((20 + tcp_options) / 4) << 4);
        t[13] = 0x18;  // PSH ACK
    } else {
        store_be16(t + 4, static_cast<std::uint16_t>(8 + payload.size()));
    }
    std::memcpy(p.data() + 20 + l4, payload.data(), payload.size());
    ParsedPacket pp;
    REQUIRE(parse_packet(p, pp) == ParseError::none);
    store_be16(p.data() + pp.checksum_offset, l4_checksum(p, pp));
    return p;
}

bool checksum_valid(const Bytes& p) {
    ParsedPacket pp;
    if (parse_packet(p, pp) != ParseError::none) return false;
    return load_be16(p.data() + pp.checksum_offset) == l4_checksum(p, pp);
}

Bytes random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
}

}  // namespace

TEST_CASE("parse_packet finds the TCP payload, seq and flags", "[daemon]") {
    Bytes payload = {0, 1, 0, 0, 0, 16};
    Bytes p = ipv4_packet(6, payload, 12);
    ParsedPacket pp;
    REQUIRE(parse_packet(p, pp) == ParseError::none);
    CHECK(pp.l4proto == 6);
    CHECK(pp.payload_offset == 20 + 32);
    CHECK(pp.payload_length == payload.size());
    CHECK(pp.tcp_seq == 0x11223344);
    CHECK(pp.sport == 40000);
    CHECK(pp.dport == 407);
    CHECK(pp.src.to_string() == "198.51.100.2");
    CHECK(checksum_valid(p));
}

TEST_CASE("parse_packet rejects truncated and odd packets without reading past the end", "[daemon]") {
    Bytes p = ipv4_packet(17, Bytes(30, 7));
    for (std::size_t n = 0; n < p.size(); ++n) {
        ParsedPacket pp;
        Bytes cut(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK(parse_packet(cut, pp) != ParseError::none);
    }
    Bytes frag = p;
    frag[6] = 0x20;  // MF
    ParsedPacket pp;
    CHECK(parse_packet(frag, pp) == ParseError::fragment);
    Bytes icmp = p;
    icmp[9] = 1;
    CHECK(parse_packet(icmp, pp) == ParseError::not_tcp_udp);
    // Random bytes never crash and never yield offsets outside the buffer.
    for (unsigned seed = 0; seed < 2000; ++seed) {
        Bytes r = random_bytes(seed % 120, seed);
        if (!r.empty()) r[0] = static_cast<std::uint8_t>(seed & 1 ? 0x45 : 0x60);
        if (parse_packet(r, pp) == ParseError::none) CHECK(pp.payload_offset + pp.payload_length <= r.size());
    }
}

TEST_CASE("parse_packet walks IPv6 extension headers", "[daemon]") {
    Bytes payload = {9, 9, 9};
    Bytes p(40 + 8 + 8 + payload.size(), 0);
    p[0] = 0x60;
    store_be16(p.data() + 4, static_cast<std::uint16_t>(8 + 8 + payload.size()));
    p[6] = 60;  // destination options
    p[40] = 17;  // next: UDP
    p[41] = 0;   // 8 bytes
    store_be16(p.data() + 48 + 4, static_cast<std::uint16_t>(8 + payload.size()));
    std::memcpy(p.data() + 56, payload.data(), payload.size());
    ParsedPacket pp;
    REQUIRE(parse_packet(p, pp) == ParseError::none);
    CHECK(pp.l4proto == 17);
    CHECK(pp.payload_offset == 56);
    CHECK(pp.payload_length == 3);
}

TEST_CASE("fit_length_to_copy: a cut copy's headers parse, with the payload that was copied", "[daemon][gso]") {
    // An IPv4 super-packet the queue cut at 1000 of its 3040 bytes.
    Bytes whole = ipv4_packet(6, Bytes(3000, 0x41));
    Bytes cut(whole.begin(), whole.begin() + 1000);
    ParsedPacket pp;
    CHECK(parse_packet(cut, pp) == ParseError::truncated);  // as it came
    REQUIRE(fit_length_to_copy(cut));
    REQUIRE(parse_packet(cut, pp) == ParseError::none);
    CHECK(pp.tcp_seq == 0x11223344);
    CHECK(pp.payload_offset == 40);
    CHECK(pp.payload_length == 960);
    // BIG TCP says 0 in the IPv4 total length: the same.
    store_be16(cut.data() + 2, 0);
    REQUIRE(fit_length_to_copy(cut));
    CHECK(parse_packet(cut, pp) == ParseError::none);
    // IPv6 (a BIG TCP one says 0 in its payload length).
    Bytes v6(40 + 20 + 500, 0);
    v6[0] = 0x60;
    v6[6] = 6;
    v6[40 + 12] = 5 << 4;
    store_be32(v6.data() + 40 + 4, 7);
    REQUIRE(fit_length_to_copy(v6));
    REQUIRE(parse_packet(v6, pp) == ParseError::none);
    CHECK(pp.payload_length == 500);
    CHECK(pp.tcp_seq == 7);
    // Neither IPv4 nor IPv6, or shorter than the fixed header: left alone.
    Bytes odd(30, 0x50), short4(10, 0x45);
    CHECK_FALSE(fit_length_to_copy(odd));
    CHECK_FALSE(fit_length_to_copy(short4));
    CHECK(short4 == Bytes(10, 0x45));
}

TEST_CASE("parse_packet walks a chain of any length: nothing hides behind many extension headers", "[daemon]") {
    // 40 destination-options headers before UDP: the kernel's conntrack tracks
    // such a packet, so the engine must see it too.
    constexpr std::size_t kHeaders = 40;
    Bytes payload = {1, 2, 3, 4};
    Bytes p(40 + 8 * kHeaders + 8 + payload.size(), 0);
    p[0] = 0x60;
    store_be16(p.data() + 4, static_cast<std::uint16_t>(8 * kHeaders + 8 + payload.size()));
    p[6] = 60;
    for (std::size_t i = 0; i < kHeaders; ++i) {
        p[40 + 8 * i] = i + 1 < kHeaders ? 60 : 17;
        p[40 + 8 * i + 1] = 0;
    }
    const std::size_t udp = 40 + 8 * kHeaders;
    store_be16(p.data() + udp + 4, static_cast<std::uint16_t>(8 + payload.size()));
    std::memcpy(p.data() + udp + 8, payload.data(), payload.size());
    ParsedPacket pp;
    REQUIRE(parse_packet(p, pp) == ParseError::none);
    CHECK(pp.l4proto == 17);
    CHECK(pp.payload_offset == udp + 8);
    CHECK(pp.payload_length == payload.size());
    // A chain that runs past the packet is truncated, not an endless walk.
    p[40 + 8 * (kHeaders - 1)] = 60;
    CHECK(parse_packet(p, pp) == ParseError::truncated);
}

TEST_CASE("rewrite_payload4 keeps a valid checksum valid at every alignment", "[daemon]") {
    for (std::uint8_t proto : {std::uint8_t{6}, std::uint8_t{17}}) {
        for (std::size_t off = 0; off + 4 <= 21; ++off) {
            Bytes payload = random_bytes(21, static_cast<unsigned>(off + proto));
            Bytes p = ipv4_packet(proto, payload);
            REQUIRE(checksum_valid(p));
            ParsedPacket pp;
            REQUIRE(parse_packet(p, pp) == ParseError::none);
            std::array<std::uint8_t, 4> old_bytes{}, new_bytes{203, 0, 113, 1};
            std::memcpy(old_bytes.data(), payload.data() + off, 4);
            REQUIRE(rewrite_payload4(p, pp, off, old_bytes, new_bytes) == RewriteResult::done);
            CHECK(std::memcmp(p.data() + pp.payload_offset + off, new_bytes.data(), 4) == 0);
            CHECK(checksum_valid(p));
        }
    }
}

TEST_CASE("rewrite_payload4 refuses wrong bytes and out-of-range offsets, keeps a bad checksum bad", "[daemon]") {
    Bytes p = ipv4_packet(6, Bytes{1, 2, 3, 4, 5, 6});
    ParsedPacket pp;
    REQUIRE(parse_packet(p, pp) == ParseError::none);
    CHECK(rewrite_payload4(p, pp, 0, {9, 9, 9, 9}, {1, 1, 1, 1}) == RewriteResult::mismatch);
    CHECK(rewrite_payload4(p, pp, 3, {4, 5, 6, 0}, {1, 1, 1, 1}) == RewriteResult::out_of_range);
    p[pp.checksum_offset] ^= 0x55;  // corrupt
    REQUIRE(rewrite_payload4(p, pp, 1, {2, 3, 4, 5}, {7, 7, 7, 7}) == RewriteResult::done);
    CHECK_FALSE(checksum_valid(p));

    Bytes u = ipv4_packet(17, Bytes{1, 2, 3, 4});
    REQUIRE(parse_packet(u, pp) == ParseError::none);
    store_be16(u.data() + pp.checksum_offset, 0);  // IPv4 UDP without checksum
    REQUIRE(rewrite_payload4(u, pp, 0, {1, 2, 3, 4}, {5, 6, 7, 8}) == RewriteResult::done);
    CHECK(load_be16(u.data() + pp.checksum_offset) == 0);
}

TEST_CASE("the NFQA_CT nest carries CTA_HELP name and 32 bytes of info, and parses back", "[daemon]") {
    Bytes info = random_bytes(32, 42);
    Bytes nest = netfilter::build_nfqa_ct_help("timbuktu", info);
    REQUIRE(nest.size() % 4 == 0);
    std::uint16_t len, type;
    std::memcpy(&len, nest.data(), 2);
    std::memcpy(&type, nest.data() + 2, 2);
    CHECK(len == nest.size());
    CHECK((type & NLA_TYPE_MASK) == NFQA_CT);
    CHECK((type & NLA_F_NESTED) != 0);
    auto help = netfilter::parse_ct_help(std::span(nest).subspan(NLA_HDRLEN));
    REQUIRE(help);
    CHECK(help->name == "timbuktu");
    CHECK(help->has_info);
    CHECK(help->info == info);

    Bytes detach = netfilter::build_nfqa_ct_help("", {});
    auto d = netfilter::parse_ct_help(std::span(detach).subspan(NLA_HDRLEN));
    REQUIRE(d);
    CHECK(d->name.empty());
    CHECK_FALSE(d->has_info);
}

TEST_CASE("netfilter::parse_ct_help survives garbage", "[daemon]") {
    for (unsigned seed = 0; seed < 3000; ++seed) {
        Bytes r = random_bytes(seed % 96, seed);
        if (r.size() >= 4 && seed % 3 == 0) {  // make the first attribute look like CTA_HELP
            std::uint16_t t = CTA_HELP | NLA_F_NESTED;
            std::memcpy(r.data() + 2, &t, 2);
        }
        (void)netfilter::parse_ct_help(r);  // must not crash or read out of bounds (ASan in fuzz builds)
    }
    SUCCEED();
}
