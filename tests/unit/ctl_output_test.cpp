// lib/ctl: tables, expectation rows and their JSON, status formatting.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "ctl/expectations.hpp"
#include "ctl/format.hpp"
#include "ctl/status.hpp"

using namespace tb;
using namespace tb::ctl;
using nlohmann::json;

namespace {
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

ExpectationRow row(Transport proto, const char* src, const char* dst, std::uint16_t dport, const char* helper = "timbuktu") {
    ExpectationRow r;
    r.proto = proto;
    r.src = ip(src);
    r.dst = ip(dst);
    r.dport = dport;
    r.timeout = 117;
    r.master = {Transport::tcp, ip(src), ip(dst), 51234, 407};
    r.helper = helper;
    return r;
}
}  // namespace

TEST_CASE("ctl format: table columns line up, no trailing blanks", "[ctl][format]") {
    Table t({"A", "BB", "C"});
    t.add({"xxx", "y", ""});
    t.add({"z", "wwww", "last"});
    CHECK(t.render() == "A    BB    C\nxxx  y\nz    wwww  last\n");
}

TEST_CASE("ctl format: durations and endpoints", "[ctl][format]") {
    CHECK(format_duration(12.9) == "12s");
    CHECK(format_duration(65) == "1m 05s");
    CHECK(format_duration(3723) == "1h 02m 03s");
    CHECK(format_duration(90061) == "1d 01h 01m 01s");
    CHECK(format_duration(-3) == "0s");
    CHECK(format_endpoint(ip("198.51.100.2"), 407) == "198.51.100.2:407");
    CHECK(format_endpoint(ip("2001:db8::2"), 407) == "[2001:db8::2]:407");
}

TEST_CASE("ctl expectations: only helper timbuktu, sorted", "[ctl][expectations]") {
    std::vector<ExpectationRow> rows = {row(Transport::udp, "198.51.100.2", "203.0.113.2", 40001),
                                        row(Transport::tcp, "198.51.100.2", "203.0.113.2", 21, "ftp"),
                                        row(Transport::tcp, "198.51.100.2", "203.0.113.2", 40002)};
    auto kept = filter_timbuktu(rows);
    REQUIRE(kept.size() == 2);
    CHECK(kept[0].proto == Transport::tcp);
    CHECK(kept[1].proto == Transport::udp);
}

TEST_CASE("ctl expectations: JSON fields of docs/tbhelperctl.md#expectations", "[ctl][expectations]") {
    auto r = row(Transport::udp, "198.51.100.2", "203.0.113.2", 40001);
    json j = to_json(r);
    CHECK(j["proto"] == "udp");
    CHECK(j["src"] == "198.51.100.2");
    CHECK(j["dst"] == "203.0.113.2");
    CHECK(j["dport"] == 40001);
    CHECK(j["timeout"] == 117);
    CHECK(j["master"]["proto"] == "tcp");
    CHECK(j["master"]["src"] == "198.51.100.2");
    CHECK(j["master"]["dst"] == "203.0.113.2");
    CHECK(j["master"]["sport"] == 51234);
    CHECK(j["master"]["dport"] == 407);
    CHECK_FALSE(j.contains("service"));  // unknown: omitted, not null
    r.service = "intercom";
    CHECK(to_json(r)["service"] == "intercom");
    json a = to_json(std::vector<ExpectationRow>{r, r});
    CHECK(a.is_array());
    CHECK(a.size() == 2);
    CHECK(to_json(std::vector<ExpectationRow>{}).dump() == "[]");
}

TEST_CASE("ctl expectations: services named from the daemon's answer", "[ctl][expectations]") {
    std::vector<ExpectationRow> rows = {row(Transport::udp, "198.51.100.2", "203.0.113.2", 40001),
                                        row(Transport::tcp, "2001:db8:1::2", "2001:db8:2::2", 40002),
                                        row(Transport::tcp, "198.51.100.2", "203.0.113.2", 40003)};
    json answer = json::parse(R"({"ok": true, "expectations": [
        {"proto": "udp", "src": "198.51.100.2", "dst": "203.0.113.2", "dport": 40001, "service": "chat", "created": 10},
        {"proto": "udp", "src": "198.51.100.2", "dst": "203.0.113.2", "dport": 40001, "service": "intercom", "created": 20},
        {"proto": "tcp", "src": "2001:db8:1::2", "dst": "2001:db8:2::2", "dport": 40002, "service": "drag-and-drop"},
        {"proto": "tcp", "src": "198.51.100.2", "dst": "203.0.113.2", "dport": 40004, "service": "chat"},
        {"proto": "tcp", "src": "not an address", "dst": "203.0.113.2", "dport": 40003, "service": "x"},
        {"garbage": true}, 7]})");
    CHECK(name_services(rows, answer) == 2);
    CHECK(rows[0].service == std::optional<std::string>("intercom"));  // most recent wins
    CHECK(rows[1].service == std::optional<std::string>("drag-and-drop"));
    CHECK_FALSE(rows[2].service);
    CHECK(name_services(rows, json::parse(R"({"ok": false})")) == 0);
    CHECK(name_services(rows, json()) == 0);
}

TEST_CASE("ctl expectations: table and event lines", "[ctl][expectations]") {
    auto r = row(Transport::udp, "198.51.100.2", "203.0.113.2", 40001);
    r.service = "intercom";
    auto text = format_table({r});
    CHECK(text.rfind("PROTO  GUEST         ADDRESS      PORT   SERVICE   TIMEOUT  MASTER\n", 0) == 0);
    CHECK(text.find("udp    198.51.100.2  203.0.113.2  40001  intercom  117s     tcp 198.51.100.2:51234 -> "
                    "203.0.113.2:407\n") != std::string::npos);
    CHECK(format_table({}).empty());
    CHECK(format_event("new", r) ==
          "[NEW] udp 198.51.100.2 -> 203.0.113.2:40001 service=intercom timeout=117s master tcp "
          "198.51.100.2:51234 -> 203.0.113.2:407");
    CHECK(format_event("destroy", r).rfind("[DESTROY] udp", 0) == 0);
    json e = event_json("destroy", r);
    CHECK(e["event"] == "destroy");
    CHECK(e["dport"] == 40001);
    CHECK(e["master"]["dport"] == 407);
}

TEST_CASE("ctl status: mandatory keys, JSON and text", "[ctl][status]") {
    json r = json::parse(R"({"ok": true, "version": "0.1.0", "queue": 407, "pid": 1234,
        "helpers": [{"name": "timbuktu", "l3": "ipv4", "l4": "tcp"}, {"name": "timbuktu", "l3": "ipv6", "l4": "udp"}],
        "uptime": 3723.5, "config": "/etc/tbhelper/tbhelper.conf", "sessions_tracked": 3,
        "counters": {"packets": 10, "sessions": 2, "not_timbuktu": 0, "offers": 1, "expectations_created": 1,
                     "expectations_refused": 0, "malformed": 0, "forged": 0, "rewrites": 0, "stream_lost": 0}})");
    CHECK(missing_status_keys(r).empty());
    json j = status_json(r, "/run/x.sock");
    CHECK_FALSE(j.contains("ok"));
    for (const auto& k : kStatusKeys) CHECK(j.contains(k));
    for (const auto& k : kStatusCounterKeys) CHECK(j["counters"].contains(k));
    CHECK(j["socket"] == "/run/x.sock");
    auto text = format_status(r, "/run/x.sock");
    CHECK(text.rfind("tbhelperd 0.1.0, pid 1234, up 1h 02m 03s\n", 0) == 0);
    CHECK(text.find("helpers    timbuktu ipv4/tcp, timbuktu ipv6/udp\n") != std::string::npos);
    CHECK(text.find("queue      407\n") != std::string::npos);
    CHECK(text.find("  expectations_created   1\n") != std::string::npos);
    CHECK(text.find("  stream_lost            0\n") != std::string::npos);
    // GSO's segment queue (docs/daemon.md#gso), when the daemon has one; null with gso = false.
    r["segment_queue"] = 408;
    CHECK(format_status(r, "/run/x.sock").find("queue      407, segments on 408\n") != std::string::npos);
    r["segment_queue"] = nullptr;
    CHECK(format_status(r, "/run/x.sock").find("queue      407\n") != std::string::npos);

    r["counters"].erase("forged");
    r.erase("uptime");
    auto missing = missing_status_keys(r);
    CHECK(missing == std::vector<std::string>{"uptime", "counters.forged"});
}
