// lib/config: the configuration file of spec/interfaces.md.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "config/config.hpp"
#include "timbuktu/policy.hpp"

using namespace tb;

namespace {
// Runs the parser and returns the error it throws (fails the test if none).
ConfigError error_of(const std::string& text) {
    try {
        parse_config(text, "test.conf");
    } catch (const ConfigError& e) {
        return e;
    }
    FAIL("no ConfigError for: " << text);
    return ConfigError("", 0, "", "");
}
bool mentions(const ConfigError& e, const std::string& s) { return std::string(e.what()).find(s) != std::string::npos; }
}  // namespace

TEST_CASE("config: defaults and a full file", "[config]") {
    auto d = parse_config("", "empty.conf");
    CHECK(d.queue == 407);
    CHECK(d.tcp_contact_ports == std::vector<std::uint16_t>{407});
    CHECK(d.udp_contact_ports == std::vector<std::uint16_t>{407, 1419});
    CHECK(d.allowed_ports == std::vector<PortRange>{{1024, 65535}});
    CHECK(d.max_expectations == 8);
    CHECK(d.expectation_timeout == 120);
    CHECK(d.nat_rewrite);
    CHECK(d.log_level == LogLevel::info);

    auto c = parse_config(R"(
queue = 12
tcp_contact_ports = [407, 1843]
udp_contact_ports = [407]
allowed_ports = ["5000-5100", "6000", 7000]
max_expectations = 3
expectation_timeout = 30
nat_rewrite = false
log_level = "debug"
)",
                          "full.conf");
    CHECK(c.queue == 12);
    CHECK(c.tcp_contact_ports == std::vector<std::uint16_t>{407, 1843});
    CHECK(c.allowed_ports == std::vector<PortRange>{{5000, 5100}, {6000, 6000}, {7000, 7000}});
    CHECK(c.port_allowed(5050));
    CHECK(c.port_allowed(7000));
    CHECK_FALSE(c.port_allowed(5101));
    CHECK(c.max_expectations == 3);
    CHECK_FALSE(c.nat_rewrite);
    CHECK(c.log_level == LogLevel::debug);
    auto p = timbuktu::Policy::from_config(c);
    CHECK(p.max_expectations == 3);
    CHECK(p.expectation_timeout == 30);
    CHECK_FALSE(p.nat_rewrite);
    CHECK(p.port_allowed(6000));
    CHECK_FALSE(p.port_allowed(6001));
}

TEST_CASE("config: unknown key names file, line and key", "[config]") {
    auto e = error_of("queue = 1\n\nmax_expectation = 4\n");
    CHECK(e.file() == "test.conf");
    CHECK(e.line() == 3);
    CHECK(e.key() == "max_expectation");
    CHECK(mentions(e, "test.conf:3: key 'max_expectation': unknown key"));
}

TEST_CASE("config: wrong types", "[config]") {
    CHECK(mentions(error_of("queue = \"407\""), "expected an integer, found a string"));
    CHECK(mentions(error_of("nat_rewrite = 1"), "expected true or false"));
    CHECK(mentions(error_of("tcp_contact_ports = 407"), "expected an array"));
    CHECK(mentions(error_of("allowed_ports = \"1024-65535\""), "expected an array"));
    CHECK(mentions(error_of("allowed_ports = [1.5]"), "found a floating-point number"));
    CHECK(mentions(error_of("log_level = 3"), "expected a string"));
    auto e = error_of("\n\nexpectation_timeout = true");
    CHECK(e.line() == 3);
    CHECK(e.key() == "expectation_timeout");
}

TEST_CASE("config: values out of range", "[config]") {
    CHECK(mentions(error_of("queue = 65536"), "out of range"));
    CHECK(mentions(error_of("queue = -1"), "out of range"));
    CHECK(mentions(error_of("max_expectations = 0"), "out of range"));
    CHECK(mentions(error_of("max_expectations = 33"), "out of range"));
    CHECK(mentions(error_of("expectation_timeout = 0"), "out of range"));
    CHECK(mentions(error_of("expectation_timeout = 86401"), "out of range"));
    CHECK(mentions(error_of("tcp_contact_ports = [0]"), "out of range"));
    CHECK(mentions(error_of("udp_contact_ports = [407, 407]"), "listed twice"));
    CHECK(mentions(error_of("log_level = \"verbose\""), "not one of"));
    CHECK(parse_config("max_expectations = 32", "x").max_expectations == 32);
}

TEST_CASE("config: bad range strings", "[config]") {
    for (const char* bad : {"\"0-10\"", "\"10-5\"", "\"abc\"", "\"1024-\"", "\"-5\"", "\"70000\"", "\"1-2-3\"",
                            "\"\"", "\" 80\""}) {
        auto e = error_of(std::string("allowed_ports = [") + bad + "]");
        CHECK(e.key() == "allowed_ports");
        CHECK(mentions(e, "is not a port"));
    }
    PortRange r;
    CHECK(parse_port_range("1-65535", r));
    CHECK(r == PortRange{1, 65535});
    CHECK(parse_port_range("80", r));
    CHECK(r == PortRange{80, 80});
    CHECK_FALSE(parse_port_range("65536", r));
    CHECK_FALSE(parse_port_range("5-4", r));
}

TEST_CASE("config: TOML syntax error and missing file", "[config]") {
    auto e = error_of("queue = = 3");
    CHECK(e.line() == 1);
    CHECK(e.file() == "test.conf");
    CHECK_THROWS_AS(load_config_file("/nonexistent/tbhelper.conf"), ConfigError);
    const std::string path = "/tmp/tbhelper-config-test.conf";
    {
        std::ofstream out(path);
        out << "queue = 9\nbogus = 1\n";
    }
    try {
        load_config_file(path);
        FAIL("expected a ConfigError");
    } catch (const ConfigError& err) {
        CHECK(err.file() == path);
        CHECK(err.line() == 2);
        CHECK(err.key() == "bogus");
    }
    std::remove(path.c_str());
}

TEST_CASE("config: reply_interface_check defaults to on, can be relaxed, names file, line and key", "[config]") {
    CHECK(parse_config("", "empty.conf").reply_interface_check);
    CHECK_FALSE(parse_config("reply_interface_check = false\n", "x.conf").reply_interface_check);
    CHECK(parse_config("reply_interface_check = true\n", "x.conf").reply_interface_check);
    auto e = error_of("queue = 1\nreply_interface_check = \"no\"\n");
    CHECK(e.line() == 2);
    CHECK(e.key() == "reply_interface_check");
    CHECK(mentions(e, "test.conf:2: key 'reply_interface_check': expected true or false, found a string"));
    CHECK(mentions(error_of("reply_interface_chek = false"), "reply_interface_check"));  // listed as known
}

TEST_CASE("config: session_capacity defaults to 16384, is bounded, names file, line and key", "[config]") {
    CHECK(parse_config("", "empty.conf").session_capacity == 16384);
    CHECK(parse_config("session_capacity = 100000\n", "x.conf").session_capacity == 100000);
    CHECK(parse_config("session_capacity = 64\n", "x.conf").session_capacity == kMinSessionCapacity);
    auto low = error_of("queue = 1\n\nsession_capacity = 10\n");
    CHECK(low.line() == 3);
    CHECK(low.key() == "session_capacity");
    CHECK(mentions(low, "test.conf:3: key 'session_capacity': 10 is out of range, expected 64 to 4194304"));
    CHECK(mentions(error_of("session_capacity = 4194305"), "out of range"));
    CHECK(mentions(error_of("session_capacity = \"big\""), "key 'session_capacity': expected an integer, found a string"));
    CHECK(mentions(error_of("session_capacty = 1000"), "session_capacity"));  // listed as known
}

TEST_CASE("config: the firewall pair's sync link (docs/ha.md#session-state)", "[config][ha]") {
    auto d = parse_config("", "empty.conf");
    CHECK_FALSE(d.ha_enabled());
    CHECK(d.ha_sync_port == 3781);
    auto c = parse_config("ha_sync_interface = \"sync0\"\nha_sync_peer = \"192.0.2.2\"\nha_sync_port = 4000\n", "t.conf");
    CHECK(c.ha_enabled());
    CHECK(c.ha_sync_interface == "sync0");
    REQUIRE(c.ha_sync_peer);
    CHECK(c.ha_sync_peer->to_string() == "192.0.2.2");
    CHECK(c.ha_sync_port == 4000);
    auto v6 = parse_config("ha_sync_interface = \"sync0\"\nha_sync_peer = \"2001:db8::2\"\n", "t.conf");
    CHECK(v6.ha_sync_peer->is_v6());

    auto alone = error_of("\nha_sync_interface = \"sync0\"\n");
    CHECK(alone.line() == 2);
    CHECK(alone.key() == "ha_sync_peer");
    CHECK(mentions(alone, "set both or neither"));
    CHECK(error_of("ha_sync_peer = \"192.0.2.2\"\n").key() == "ha_sync_interface");
    auto bad_addr = error_of("ha_sync_interface = \"sync0\"\nha_sync_peer = \"192.0.2.300\"\n");
    CHECK(bad_addr.line() == 2);
    CHECK(mentions(bad_addr, "not an IPv4 or IPv6 address"));
    CHECK(mentions(error_of("ha_sync_interface = \"a/b\"\nha_sync_peer = \"192.0.2.2\"\n"), "not a network interface name"));
    CHECK(mentions(error_of("ha_sync_interface = \"sixteen-chars-xx\"\nha_sync_peer = \"192.0.2.2\"\n"),
                   "not a network interface name"));
    CHECK(error_of("ha_sync_interface = 3\n").key() == "ha_sync_interface");
    CHECK(error_of("ha_sync_port = 0\n").key() == "ha_sync_port");
}

TEST_CASE("config: gso and segment_queue", "[config]") {
    auto d = parse_config("", "empty.conf");
    CHECK(d.gso);
    CHECK(d.segment_queue_number() == 408);  // queue + 1
    CHECK_FALSE(parse_config("gso = false", "x").gso);
    CHECK(parse_config("queue = 65535", "x").segment_queue_number() == 65534);
    auto c = parse_config("gso = true\nqueue = 500\nsegment_queue = 9\n", "x");
    CHECK(c.gso);
    CHECK(c.segment_queue_number() == 9);
    auto e = error_of("queue = 500\n\nsegment_queue = 500\n");
    CHECK(e.line() == 3);
    CHECK(e.key() == "segment_queue");
    CHECK(mentions(e, "test.conf:3: key 'segment_queue': 500 is the contact queue"));
    CHECK(mentions(error_of("gso = \"yes\""), "expected true or false"));
    CHECK(mentions(error_of("segment_queue = 65536"), "out of range"));
}
