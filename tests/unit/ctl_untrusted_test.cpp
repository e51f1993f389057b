// lib/ctl: text from the network in tbhelperctl's output (issue 8, items 8 to
// 10): escaped in every text for people, real strings in JSON, invalid UTF-8
// never losing a JSON report; and the indexed expectations of analyze.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "ctl/analyze.hpp"
#include "ctl/audit.hpp"
#include "ctl/expectations.hpp"
#include "ctl/format.hpp"
#include "ctl/status.hpp"
#include "timbuktu/services.hpp"
#include "timbuktu/wire.hpp"

using namespace tb;
using namespace tb::ctl;
using Bytes = std::vector<std::uint8_t>;
using nlohmann::json;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
const IpAddress G = ip("198.51.100.2");
const IpAddress H = ip("203.0.113.2");

// A NUL and "<0>" (a forged journald priority), ESC sequences, BEL, DEL, a
// lone continuation byte and an overlong '/': every kind of byte that must not
// reach a terminal as it is.
const std::string kHostileName = std::string("ev\0il<0>\x1b[2J\x07\x7f\x80\xc0\xaf", 17);
const std::string kHostName = "host\x1b]0;owned\x07";

DecodedPacket tcp(bool from_guest, std::uint32_t seq, std::span<const std::uint8_t> payload, bool syn = false) {
    DecodedPacket p;
    p.proto = Transport::tcp;
    p.src = from_guest ? G : H;
    p.dst = from_guest ? H : G;
    p.sport = from_guest ? 40000 : 407;
    p.dport = from_guest ? 407 : 40000;
    p.seq = seq;
    p.syn = syn;
    p.ack = !syn || !from_guest;
    p.payload = payload;
    return p;
}

// A TCP intercom session whose guest and host names carry hostile bytes.
AnalysisReport hostile_names_report() {
    Config c;
    Analyzer a(c, kLinkRaw);
    timbuktu::Hello h;
    h.version_major = 5;
    h.service = timbuktu::kServiceIntercom;
    h.guest_name = kHostileName;
    timbuktu::HelloAck k;
    k.version_major = 5;
    k.service = timbuktu::kServiceIntercom;
    k.host_name = kHostName;
    const Bytes hello = timbuktu::hello_frame(h), ack = timbuktu::hello_ack_frame(k);
    a.add_packet(tcp(true, 99, {}, true));
    a.add_packet(tcp(true, 100, hello));
    a.add_packet(tcp(false, 500, ack));
    return a.finish();
}

// No byte below 0x20 but the newline, no DEL, no byte of 0x80 and above that is
// not part of valid UTF-8 (the report's own text is ASCII).
bool terminal_safe(const std::string& text) {
    for (unsigned char ch : text)
        if ((ch < 0x20 && ch != '\n') || ch >= 0x7f) return false;
    return true;
}

}  // namespace

TEST_CASE("ctl analyze: names with control bytes and invalid UTF-8, text report", "[ctl][analyze][untrusted]") {
    auto r = hostile_names_report();
    REQUIRE(r.sessions.size() == 1);
    REQUIRE(r.sessions[0].timbuktu);
    auto text = format_report(r, "cap\x1b.pcap");
    INFO(text);
    CHECK(terminal_safe(text));
    // Escaped once (the engine escapes names in its events; the report does not double that).
    CHECK(text.find("name 'ev\\x00il<0>\\x1b[2J\\x07\\x7f\\x80\\xc0\\xaf'") != std::string::npos);
    CHECK(text.find("name 'host\\x1b]0;owned\\x07'") != std::string::npos);
    CHECK(text.rfind("cap\\x1b.pcap: ", 0) == 0);
    // JSON: the whole report dumps.
    REQUIRE_NOTHROW(json::parse(dump_json(to_json(r, "x.pcap"))));
}

TEST_CASE("ctl analyze: raw network bytes in any report text", "[ctl][analyze][untrusted]") {
    // Whatever carries raw bytes into a report (an event, a reason, a refusal's
    // detail, the file name), the text is escaped and the JSON is not lost.
    AnalysisReport r;
    r.link_type = kLinkRaw;
    AnalysisSession s;
    s.id = 1;
    s.guest = G;
    s.host = H;
    s.not_timbuktu = "bad \x1b[2J name \xff";
    static const char kEvent[] = "raw\0\x07 and escaped \\x1b stay \xe2\x82";
    s.events.push_back({1, "info", std::string(kEvent, sizeof kEvent - 1)});
    r.sessions.push_back(s);
    r.refusals.push_back({1, 1, "forged", "detail \x9b\x1b"});
    r.unparsed.push_back({1, "timbuktu", 1, "reason \x7f"});
    const std::string file = "cap\xff\x1b.pcap";
    auto text = format_report(r, file);
    INFO(text);
    CHECK(terminal_safe(text));
    CHECK(text.find("bad \\x1b[2J name \\xff") != std::string::npos);
    // Escaped once, at this edge: a backslash from the capture is escaped too,
    // so the report is unambiguous.
    CHECK(text.find("raw\\x00\\x07 and escaped \\x5cx1b stay \\xe2\\x82") != std::string::npos);
    CHECK(text.find("detail \\x9b\\x1b") != std::string::npos);
    CHECK(text.find("reason \\x7f") != std::string::npos);
    CHECK(text.rfind("cap\\xff\\x1b.pcap: ", 0) == 0);

    auto j = to_json(r, file);
    // nlohmann-json's default handler throws on the invalid bytes (the report
    // would be lost); dump_json replaces them with U+FFFD.
    CHECK_THROWS(j.dump());
    std::string out;
    REQUIRE_NOTHROW(out = dump_json(j, 2));
    auto back = json::parse(out);
    CHECK(back["file"] == "cap\xef\xbf\xbd\x1b.pcap");  // real string: ESC kept, 0xff replaced
    CHECK(back["sessions"][0]["events"][0]["text"].get<std::string>().rfind(std::string("raw\0\x07", 5), 0) == 0);
    CHECK(out.find('\x1b') == std::string::npos);  // JSON writes control bytes as \u001b
    CHECK(out.find("\\u001b") != std::string::npos);
}

TEST_CASE("ctl status and expectations: daemon strings escaped in text, real in JSON", "[ctl][untrusted]") {
    json status = {{"ok", true},
                   {"version", "0.1\x1b[31m"},
                   {"queue", 407},
                   {"uptime", 5},
                   {"helpers", json::array({{{"name", "time\x07"}, {"l3", "ipv4"}, {"l4", "tcp"}}})},
                   {"counters", {{"packets", 1}, {"weird\x1b", 2}}}};
    auto text = format_status(status, "/run/x.sock");
    INFO(text);
    CHECK(terminal_safe(text));
    CHECK(text.find("0.1\\x1b[31m") != std::string::npos);
    CHECK(text.find("time\\x07 ipv4/tcp") != std::string::npos);
    CHECK(text.find("weird\\x1b") != std::string::npos);
    CHECK(status_json(status, "/run/x.sock")["version"] == "0.1\x1b[31m");

    ExpectationRow row;
    row.proto = Transport::udp;
    row.src = G;
    row.dst = H;
    row.dport = 40000;
    row.timeout = 100;
    row.helper = "timbuktu";
    row.master = {Transport::tcp, G, H, 40000, 407};
    row.service = std::string("inter\x1b[0mcom\xff", 13);
    auto table = format_table({row});
    CHECK(terminal_safe(table));
    CHECK(table.find("inter\\x1b[0mcom\\xff") != std::string::npos);
    auto line = format_event("new", row);
    CHECK(terminal_safe(line));
    CHECK(line.find("service=inter\\x1b[0mcom\\xff") != std::string::npos);
    REQUIRE_NOTHROW(dump_json(event_json("new", row)));
    CHECK(json::parse(dump_json(event_json("new", row)))["service"].get<std::string>().rfind("inter\x1b[0mcom", 0) ==
          0);
}

TEST_CASE("ctl check: findings quoting kernel or ruleset names are escaped", "[ctl][untrusted]") {
    std::vector<Finding> f = {{"error", "helper-disabled", "helper timbuktu is registered but disabled (x\x1b[2J)",
                               "systemctl start tbhelperd"}};
    auto text = format_findings(f);
    CHECK(terminal_safe(text));
    CHECK(text.find("(x\\x1b[2J)") != std::string::npos);
    CHECK(to_json(f)[0]["message"].get<std::string>().find('\x1b') != std::string::npos);
}

TEST_CASE("ctl analyze: a repeated offer replaces the unused one, not a used one", "[ctl][analyze]") {
    Config c;
    Analyzer a(c, kLinkRaw);
    timbuktu::Hello h;
    h.service = timbuktu::kServiceIntercom;
    timbuktu::HelloAck k;
    k.service = timbuktu::kServiceIntercom;
    k.host_name = "h";
    timbuktu::PortOffer o;
    o.service = timbuktu::kServiceIntercom;
    o.transport = Transport::udp;
    o.port = 40001;
    const Bytes hello = timbuktu::hello_frame(h), ack = timbuktu::hello_ack_frame(k), offer = timbuktu::port_offer_frame(o);
    std::uint32_t hs = 500;
    a.add_packet(tcp(true, 99, {}, true));  // 1
    a.add_packet(tcp(true, 100, hello));    // 2
    a.add_packet(tcp(false, hs, ack));      // 3
    hs += static_cast<std::uint32_t>(ack.size());
    a.add_packet(tcp(false, hs, offer));  // 4: offer
    hs += static_cast<std::uint32_t>(offer.size());
    a.add_packet(tcp(false, hs, offer));  // 5: the same offer again replaces frame 4's
    hs += static_cast<std::uint32_t>(offer.size());
    DecodedPacket u;
    u.proto = Transport::udp;
    u.src = G;
    u.sport = 50000;
    u.dst = H;
    u.dport = 40001;
    const Bytes data = {1, 2};
    u.payload = data;
    a.add_packet(u);                      // 6: uses frame 5's
    a.add_packet(tcp(false, hs, offer));  // 7: a new one; frame 5's was used and stays
    u.sport = 50001;
    a.add_packet(u);  // 8: uses frame 7's
    u.sport = 50002;
    a.add_packet(u);  // 9: nothing left to use
    auto r = a.finish();
    REQUIRE(r.expectations.size() == 2);
    CHECK(r.expectations[0].frame == 5);
    CHECK(r.expectations[0].used_frame == std::optional<std::uint64_t>(6));
    CHECK(r.expectations[1].frame == 7);
    CHECK(r.expectations[1].used_frame == std::optional<std::uint64_t>(8));
    CHECK(r.sessions[0].offers == 3);
}
