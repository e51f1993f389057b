// lib/ctl/analyze: link/IP/TCP/UDP decoding and the engine over synthetic
// captured frames (what `tbhelperctl analyze` does after libpcap read them).
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "ctl/analyze.hpp"
#include "net/packet.hpp"
#include "timbuktu/services.hpp"
#include "timbuktu/wire.hpp"

using namespace tb;
using namespace tb::ctl;
using Bytes = std::vector<std::uint8_t>;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

constexpr std::uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01, kPsh = 0x08;

void put16(Bytes& b, std::size_t at, std::uint16_t v) { store_be16(b.data() + at, v); }

// An IPv4 or IPv6 packet (no link header) carrying TCP or UDP.
Bytes ip_packet(Transport proto, const IpAddress& src, std::uint16_t sport, const IpAddress& dst, std::uint16_t dport,
                const Bytes& payload, std::uint32_t seq = 0, std::uint8_t flags = kAck | kPsh) {
    Bytes l4;
    if (proto == Transport::tcp) {
        l4.assign(20, 0);
        put16(l4, 0, sport);
        put16(l4, 2, dport);
        store_be32(l4.data() + 4, seq);
        l4[12] = 5 << 4;
        l4[13] = flags;
        put16(l4, 14, 65535);
    } else {
        l4.assign(8, 0);
        put16(l4, 0, sport);
        put16(l4, 2, dport);
        put16(l4, 4, static_cast<std::uint16_t>(8 + payload.size()));
    }
    l4.insert(l4.end(), payload.begin(), payload.end());
    Bytes p;
    if (src.is_v4()) {
        p.assign(20, 0);
        p[0] = 0x45;
        put16(p, 2, static_cast<std::uint16_t>(20 + l4.size()));
        p[8] = 64;
        p[9] = static_cast<std::uint8_t>(proto);
        std::copy_n(src.bytes.begin(), 4, p.begin() + 12);
        std::copy_n(dst.bytes.begin(), 4, p.begin() + 16);
    } else {
        p.assign(40, 0);
        p[0] = 0x60;
        put16(p, 4, static_cast<std::uint16_t>(l4.size()));
        p[6] = static_cast<std::uint8_t>(proto);
        p[7] = 64;
        std::copy_n(src.bytes.begin(), 16, p.begin() + 8);
        std::copy_n(dst.bytes.begin(), 16, p.begin() + 24);
    }
    p.insert(p.end(), l4.begin(), l4.end());
    return p;
}

Bytes ethernet(const Bytes& ipp, bool vlan = false) {
    const bool v6 = (ipp[0] >> 4) == 6;
    Bytes f(vlan ? 18 : 14, 0x02);
    if (vlan) {
        put16(f, 12, 0x8100);
        put16(f, 14, 7);
    }
    put16(f, f.size() - 2, v6 ? 0x86DD : 0x0800);
    f.insert(f.end(), ipp.begin(), ipp.end());
    return f;
}

Bytes sll(const Bytes& ipp) {
    Bytes f(16, 0);
    put16(f, 14, (ipp[0] >> 4) == 6 ? 0x86DD : 0x0800);
    f.insert(f.end(), ipp.begin(), ipp.end());
    return f;
}

Bytes sll2(const Bytes& ipp) {
    Bytes f(20, 0);
    put16(f, 0, (ipp[0] >> 4) == 6 ? 0x86DD : 0x0800);
    f.insert(f.end(), ipp.begin(), ipp.end());
    return f;
}

Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

timbuktu::Hello hello(std::uint8_t service) {
    timbuktu::Hello h;
    h.version_major = 5;
    h.version_minor = 2;
    h.service = service;
    h.flags = 1;
    h.guest_address = ip("198.51.100.2").v4_value();
    return h;
}

timbuktu::HelloAck ack(std::uint8_t service) {
    timbuktu::HelloAck a;
    a.version_major = 5;
    a.version_minor = 2;
    a.service = service;
    a.flags = 1;
    a.host_address = ip("203.0.113.2").v4_value();
    a.host_name = "host";
    return a;
}

timbuktu::PortOffer offer(std::uint8_t service, Transport t, std::uint16_t port, std::uint32_t address = 0) {
    timbuktu::PortOffer o;
    o.service = service;
    o.transport = t;
    o.port = port;
    o.address = address;
    return o;
}

const IpAddress G = ip("198.51.100.2");
const IpAddress H = ip("203.0.113.2");

void feed(Analyzer& a, const Bytes& frame) { a.add_frame(frame, static_cast<std::uint32_t>(frame.size())); }

}  // namespace

TEST_CASE("ctl analyze: decoding link types", "[ctl][analyze]") {
    const Bytes payload = {1, 2, 3};
    const Bytes v4 = ip_packet(Transport::tcp, G, 40000, H, 407, payload, 1000, kAck);
    const Bytes v6 = ip_packet(Transport::udp, ip("2001:db8:1::2"), 5000, ip("2001:db8:2::2"), 1419, payload);
    DecodedPacket p;
    std::string why;

    REQUIRE(decode_frame(kLinkEthernet, ethernet(v4), 100, p, why) == DecodeStatus::ok);
    CHECK(p.proto == Transport::tcp);
    CHECK(p.src == G);
    CHECK(p.dst == H);
    CHECK(p.sport == 40000);
    CHECK(p.dport == 407);
    CHECK(p.seq == 1000);
    CHECK(p.ack);
    CHECK_FALSE(p.syn);
    CHECK(Bytes(p.payload.begin(), p.payload.end()) == payload);

    REQUIRE(decode_frame(kLinkEthernet, ethernet(v4, true), 0, p, why) == DecodeStatus::ok);
    CHECK(p.dport == 407);
    REQUIRE(decode_frame(kLinkLinuxSll, sll(v6), 0, p, why) == DecodeStatus::ok);
    CHECK(p.proto == Transport::udp);
    CHECK(p.src == ip("2001:db8:1::2"));
    CHECK(p.dport == 1419);
    CHECK(p.payload.size() == 3);
    REQUIRE(decode_frame(kLinkLinuxSll2, sll2(v4), 0, p, why) == DecodeStatus::ok);
    REQUIRE(decode_frame(kLinkRaw, v6, 0, p, why) == DecodeStatus::ok);
    REQUIRE(decode_frame(kLinkIpv4, v4, 0, p, why) == DecodeStatus::ok);
    Bytes null_frame = {2, 0, 0, 0};
    REQUIRE(decode_frame(kLinkNull, cat(null_frame, v4), 0, p, why) == DecodeStatus::ok);
    CHECK(link_type_supported(kLinkLinuxSll2));
    CHECK_FALSE(link_type_supported(127));  // 802.11 radiotap
    CHECK(link_type_name(kLinkLinuxSll) == "LINUX_SLL");
}

TEST_CASE("ctl analyze: frames that are ignored or cannot be parsed", "[ctl][analyze]") {
    DecodedPacket p;
    std::string why;
    Bytes arp(42, 0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    CHECK(decode_frame(kLinkEthernet, arp, 42, p, why) == DecodeStatus::ignored);

    Bytes icmp = ip_packet(Transport::udp, G, 1, H, 2, {});
    icmp[9] = 1;
    CHECK(decode_frame(kLinkRaw, icmp, 0, p, why) == DecodeStatus::ignored);

    const Bytes full = ip_packet(Transport::tcp, G, 40000, H, 407, Bytes(100, 0xAB));
    Bytes cut(full.begin(), full.begin() + 60);  // snap length 60
    REQUIRE(decode_frame(kLinkRaw, cut, static_cast<std::uint32_t>(full.size()), p, why) == DecodeStatus::error);
    CHECK(why.find("snap length") != std::string::npos);

    Bytes frag = full;
    frag[6] = 0x20;  // more fragments
    REQUIRE(decode_frame(kLinkRaw, frag, 0, p, why) == DecodeStatus::error);
    CHECK(why.find("fragment") != std::string::npos);

    Bytes bad = full;
    bad[0] = 0x75;
    REQUIRE(decode_frame(kLinkRaw, bad, 0, p, why) == DecodeStatus::error);
    CHECK(why.find("IP version 7") != std::string::npos);

    Bytes shortudp = ip_packet(Transport::udp, G, 1, H, 407, Bytes(10, 0));
    put16(shortudp, 24, 200);  // UDP length beyond the IP payload
    REQUIRE(decode_frame(kLinkRaw, shortudp, 0, p, why) == DecodeStatus::error);
    CHECK(why.find("UDP length 200") != std::string::npos);
}

TEST_CASE("ctl analyze: a TCP intercom session, offer split across segments, stream used", "[ctl][analyze]") {
    Config c;
    Analyzer a(c, kLinkEthernet);
    const std::uint32_t gs = 1000, hs = 5000;
    auto tcp = [&](bool from_guest, std::uint32_t seq, std::uint8_t flags, const Bytes& payload) {
        return ethernet(from_guest ? ip_packet(Transport::tcp, G, 40000, H, 407, payload, seq, flags)
                                   : ip_packet(Transport::tcp, H, 407, G, 40000, payload, seq, flags));
    };
    const Bytes h = timbuktu::hello_frame(hello(timbuktu::kServiceIntercom));
    const Bytes reply = cat(timbuktu::hello_ack_frame(ack(timbuktu::kServiceIntercom)),
                            timbuktu::port_offer_frame(offer(timbuktu::kServiceIntercom, Transport::udp, 40001)));
    feed(a, tcp(true, gs, kSyn, {}));                                   // 1
    feed(a, tcp(false, hs, kSyn | kAck, {}));                           // 2
    feed(a, tcp(true, gs + 1, kAck, {}));                               // 3
    feed(a, tcp(true, gs + 1, kAck | kPsh, h));                         // 4 HELLO
    Bytes first(reply.begin(), reply.begin() + 20), second(reply.begin() + 20, reply.end());
    feed(a, tcp(false, hs + 1, kAck | kPsh, first));                    // 5
    feed(a, tcp(false, hs + 1, kAck | kPsh, first));                    // 6 retransmission
    feed(a, tcp(false, hs + 1 + 20, kAck | kPsh, second));              // 7 rest + offer
    feed(a, ethernet(ip_packet(Transport::udp, G, 50000, H, 40001, {9, 9})));  // 8 the expected stream
    feed(a, ethernet(ip_packet(Transport::udp, G, 50001, H, 5353, {9})));      // 9 unrelated
    feed(a, tcp(true, gs + 1 + static_cast<std::uint32_t>(h.size()), kAck | kFin, {}));  // 10

    auto r = a.finish();
    CHECK(r.frames == 10);
    REQUIRE(r.sessions.size() == 1);
    const auto& s = r.sessions[0];
    CHECK(s.timbuktu);
    CHECK(s.service == "intercom");
    CHECK(s.transport == Transport::tcp);
    CHECK(s.guest == G);
    CHECK(s.guest_port == 40000);
    CHECK(s.host == H);
    CHECK(s.contact_port == 407);
    CHECK(s.offers == 1);
    CHECK(s.first_frame == 1);
    CHECK(s.last_frame == 10);
    CHECK(s.phase == "framed");
    REQUIRE(r.expectations.size() == 1);
    const auto& e = r.expectations[0];
    CHECK(e.frame == 7);
    CHECK(e.proto == Transport::udp);
    CHECK(e.src == G);
    CHECK(e.dst == H);
    CHECK(e.dport == 40001);
    CHECK(e.service == "intercom");
    CHECK(e.timeout == 120);
    CHECK(e.used_frame == std::optional<std::uint64_t>(8));
    CHECK(r.refusals.empty());
    CHECK(r.unparsed.empty());
    CHECK(r.ignored_frames == 2);  // the expected stream and the unrelated datagram
    CHECK(r.counters.sessions == 1);
    CHECK(r.counters.offers == 1);

    auto j = to_json(r, "x.pcap");
    CHECK(j["file"] == "x.pcap");
    CHECK(j["link_type"] == "EN10MB");
    CHECK(j["timbuktu_sessions"] == 1);
    CHECK(j["sessions"][0]["service"] == "intercom");
    CHECK(j["sessions"][0]["guest"] == "198.51.100.2");
    CHECK(j["sessions"][0]["host"] == "203.0.113.2");
    CHECK(j["expectations"][0]["dport"] == 40001);
    CHECK(j["expectations"][0]["used_frame"] == 8);
    CHECK(j["counters"]["expectations_created"] == 1);
    for (const char* k : {"frames", "ignored_frames", "sessions", "expectations", "refusals", "unparsed",
                          "tcp_contact_ports", "udp_contact_ports", "counters"})
        CHECK(j.contains(k));
    auto text = format_report(r, "x.pcap");
    // Issue 9: the summary counts flows of Timbuktu outside the model apart.
    CHECK(text.rfind("x.pcap: 10 frames (EN10MB), 1 Timbuktu session, 0 flows Timbuktu outside the model, 0 flows "
                     "on contact ports that are not Timbuktu, 1 expectation, 0 refusals, 0 unparsed frames\n",
                     0) == 0);
    CHECK(text.find("session 1  tcp 198.51.100.2:40000 -> 203.0.113.2:407  service intercom, 1 offer") !=
          std::string::npos);
}

TEST_CASE("ctl analyze: the guest is who sent to the contact port when the SYN is missing", "[ctl][analyze]") {
    Config c;
    Analyzer a(c, kLinkRaw);
    const Bytes reply = cat(timbuktu::hello_ack_frame(ack(timbuktu::kServiceChat)),
                            timbuktu::port_offer_frame(offer(timbuktu::kServiceChat, Transport::tcp, 40002)));
    // The capture starts with the host's answer; the guest's HELLO comes next.
    a.add_frame(ip_packet(Transport::tcp, H, 407, G, 40000, {}, 1, kAck), 40);
    a.add_frame(ip_packet(Transport::tcp, G, 40000, H, 407, timbuktu::hello_frame(hello(timbuktu::kServiceChat)), 100), 0);
    a.add_frame(ip_packet(Transport::tcp, H, 407, G, 40000, reply, 1), 0);
    auto r = a.finish();
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].guest == G);
    CHECK(r.sessions[0].service == "chat");
    REQUIRE(r.expectations.size() == 1);
    CHECK(r.expectations[0].dport == 40002);
    CHECK_FALSE(r.expectations[0].used_frame);
}

TEST_CASE("ctl analyze: legacy UDP contact with refused and forged offers", "[ctl][analyze]") {
    Config c;  // allowed_ports 1024-65535
    Analyzer a(c, kLinkLinuxSll);
    const IpAddress g6 = ip("2001:db8:1::2"), h6 = ip("2001:db8:2::2");
    // IPv4 legacy contact on UDP 1419: two offers, one below 1024 (refused).
    a.add_frame(sll(ip_packet(Transport::udp, G, 50000, H, 1419, timbuktu::hello_frame(hello(timbuktu::kServiceControl)))), 0);
    Bytes answer = cat(cat(timbuktu::hello_ack_frame(ack(timbuktu::kServiceControl)),
                           timbuktu::port_offer_frame(offer(timbuktu::kServiceControl, Transport::tcp, 1417))),
                       timbuktu::port_offer_frame(offer(timbuktu::kServiceControl, Transport::tcp, 80)));
    a.add_frame(sll(ip_packet(Transport::udp, H, 1419, G, 50000, answer)), 0);
    // IPv6 TCP contact where the guest sends a PORT-OFFER: forged.
    a.add_frame(sll(ip_packet(Transport::tcp, g6, 40000, h6, 407, {}, 1, kSyn)), 0);
    a.add_frame(sll(ip_packet(Transport::tcp, g6, 40000, h6, 407,
                              cat(timbuktu::hello_frame(hello(timbuktu::kServiceChat)),
                                  timbuktu::port_offer_frame(offer(timbuktu::kServiceChat, Transport::tcp, 5000))),
                              2)),
                0);
    // A flow on the contact port that is not Timbuktu.
    a.add_frame(sll(ip_packet(Transport::udp, G, 50002, H, 407, {'G', 'E', 'T', ' ', '/', 0, 0, 0})), 0);
    auto r = a.finish();
    REQUIRE(r.sessions.size() == 3);
    CHECK(r.timbuktu_sessions() == 2);
    CHECK(r.sessions[0].transport == Transport::udp);
    CHECK(r.sessions[0].service == "control");
    CHECK(r.sessions[0].offers == 2);
    REQUIRE(r.expectations.size() == 1);
    CHECK(r.expectations[0].dport == 1417);
    CHECK(r.expectations[0].proto == Transport::tcp);
    REQUIRE(r.refusals.size() == 2);
    CHECK(r.refusals[0].reason == "port-not-allowed");
    CHECK(r.refusals[0].session == 1);
    CHECK(r.refusals[1].reason == "forged");
    CHECK(r.refusals[1].session == 2);
    CHECK(r.sessions[1].offers == 0);  // a forged offer is not an offer
    CHECK(r.sessions[1].guest == g6);
    CHECK_FALSE(r.sessions[2].timbuktu);
    CHECK_FALSE(r.sessions[2].not_timbuktu.empty());
    CHECK(r.counters.forged == 1);
}

TEST_CASE("ctl analyze: configured contact ports and malformed frames", "[ctl][analyze]") {
    Config c;
    c.tcp_contact_ports = {1843};
    c.udp_contact_ports = {};
    Analyzer a(c, kLinkRaw);
    // On 407 nothing is analyzed now; on 1843 it is.
    a.add_frame(ip_packet(Transport::tcp, G, 40000, H, 407, timbuktu::hello_frame(hello(1))), 0);
    a.add_frame(ip_packet(Transport::tcp, G, 40001, H, 1843, {}, 10, kSyn), 0);
    a.add_frame(ip_packet(Transport::tcp, G, 40001, H, 1843, timbuktu::hello_frame(hello(timbuktu::kServiceChat)), 11), 0);
    // The host answers with a frame of guest class: a reflection, the flow is hostile (B10).
    auto bogus = timbuktu::hello_ack_frame(ack(timbuktu::kServiceChat));
    bogus[0] = 0x00;
    bogus[1] = 0x01;
    a.add_frame(ip_packet(Transport::tcp, H, 1843, G, 40001, bogus, 500), 0);
    a.add_frame(Bytes{0x45, 0}, 0);  // truncated
    auto r = a.finish();
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].contact_port == 1843);
    CHECK(r.ignored_frames == 1);
    REQUIRE(r.unparsed.size() == 2);
    CHECK(r.unparsed[0].layer == "timbuktu");
    CHECK(r.unparsed[0].frame == 4);
    CHECK(r.unparsed[0].session == std::optional<std::size_t>(1));
    CHECK(r.unparsed[0].reason.find("hostile") != std::string::npos);
    CHECK(r.unparsed[1].layer == "packet");
    CHECK(r.unparsed[1].frame == 5);
    CHECK(r.unparsed[1].reason.find("IPv4 header needs 20 bytes, 2 captured") != std::string::npos);
}

TEST_CASE("ctl analyze: the daemon's decoder, so an AH header hides nothing from analyze", "[ctl][analyze]") {
    // An IPv6 UDP datagram behind an authentication header (12 bytes: length
    // field 1 = (1 + 2) * 4). tbhelperd's decoder walks it; before the redesign
    // analyze had its own decoder, which took such a packet for other traffic.
    const Bytes plain = ip_packet(Transport::udp, ip("2001:db8:1::2"), 5000, ip("2001:db8:2::2"), 1419, {7, 8, 9});
    Bytes ah(12, 0);
    ah[0] = IPPROTO_UDP;  // next header
    ah[1] = 1;            // payload length in 4-byte words, less 2
    Bytes pkt(plain.begin(), plain.begin() + 40);
    pkt[6] = IPPROTO_AH;
    put16(pkt, 4, static_cast<std::uint16_t>(plain.size() - 40 + ah.size()));
    pkt.insert(pkt.end(), ah.begin(), ah.end());
    pkt.insert(pkt.end(), plain.begin() + 40, plain.end());
    DecodedPacket p;
    std::string why;
    REQUIRE(decode_frame(kLinkRaw, pkt, 0, p, why) == DecodeStatus::ok);
    CHECK(p.proto == Transport::udp);
    CHECK(p.dport == 1419);
    CHECK(p.payload.size() == 3);
    CHECK(p.payload[0] == 7);
    // The same bytes through the daemon's decoder: the same payload.
    net::ParsedPacket d;
    REQUIRE(net::parse_packet(pkt, d) == net::ParseError::none);
    CHECK(d.payload_length == p.payload.size());
    CHECK(pkt.data() + d.payload_offset == p.payload.data());
}
