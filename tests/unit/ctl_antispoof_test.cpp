// lib/ctl: the anti-spoofing chain of `tbhelperctl rules` and the
// reverse-path finding of `tbhelperctl check` (issue 8, spoofed host replies).
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "ctl/audit.hpp"
#include "ctl/rules.hpp"

using namespace tb;
using namespace tb::ctl;
using nlohmann::json;

namespace {

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
    return n;
}

// What nft 1.0.6 prints for `nft -j list ruleset` after `tbhelperctl rules
// --apply` (the antispoof chain, copied from a real run; other objects left out).
const char* kAppliedRuleset = R"({"nftables": [
 {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "tbhelper", "handle": 1}},
 {"chain": {"family": "inet", "table": "tbhelper", "name": "antispoof", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "tbhelper", "chain": "antispoof", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 407}}, {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, "right": false}}, {"drop": null}]}},
 {"rule": {"family": "inet", "table": "tbhelper", "chain": "antispoof", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [407, 1419]}}}, {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, "right": false}}, {"drop": null}]}}
]})";

// iptables-nft's `-A PREROUTING -p udp --sport 407 -m rpfilter --invert -j DROP`.
const char* kIptablesRpfilter = R"({"nftables": [
 {"table": {"family": "ip", "name": "raw", "handle": 1}},
 {"chain": {"family": "ip", "table": "raw", "name": "PREROUTING", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}},
 {"rule": {"family": "ip", "table": "raw", "chain": "PREROUTING", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "sport"}}, "right": 407}}, {"xt": {"type": "match", "name": "rpfilter"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}
]})";

json one_rule(const char* family, const char* hook, json expr) {
    json chain = {{"family", family}, {"table", "t"}, {"name", "c"}, {"handle", 1}};
    if (hook) {
        chain["type"] = "filter";
        chain["hook"] = hook;
        chain["prio"] = 0;
        chain["policy"] = "accept";
    }
    return json{{"nftables",
                 json::array({json{{"chain", chain}},
                              json{{"rule", {{"family", family}, {"table", "t"}, {"chain", "c"}, {"expr", expr}}}}})}};
}

json fib_missing(json flags = json::array({"saddr", "iif"})) {
    return json{{"match",
                 {{"op", "=="}, {"left", {{"fib", {{"result", "oif"}, {"flags", flags}}}}}, {"right", false}}}};
}

json port_match(const char* proto, const char* field, json right) {
    return json{{"match", {{"op", "=="}, {"left", {{"payload", {{"protocol", proto}, {"field", field}}}}}, {"right", right}}}};
}

json drop() { return json{{"drop", nullptr}}; }

ReversePathSysctls sysctls(int all, int dflt, std::map<std::string, int> ifaces, bool ipv6) {
    ReversePathSysctls s;
    s.ipv4_rp_filter = std::move(ifaces);
    s.ipv4_rp_filter["all"] = all;
    s.ipv4_rp_filter["default"] = dflt;
    s.ipv4_rp_filter["lo"] = 0;
    s.ipv6_enabled = ipv6;
    return s;
}

}  // namespace

TEST_CASE("ctl rules: the antispoof chain, both directions, both transports", "[ctl][rules][antispoof]") {
    Config c;
    auto text = nft_ruleset(c, "x");
    CHECK(text.find("\tchain antispoof {\n") != std::string::npos);
    CHECK(text.find("type filter hook prerouting priority raw; policy accept;") != std::string::npos);
    CHECK(count(text, "fib saddr . mark . iif oif missing drop") == 4);
    CHECK(text.find("\t\ttcp dport 407 fib saddr . mark . iif oif missing drop\n") != std::string::npos);
    CHECK(text.find("\t\ttcp sport 407 fib saddr . mark . iif oif missing drop\n") != std::string::npos);
    CHECK(text.find("\t\tudp dport { 407, 1419 } fib saddr . mark . iif oif missing drop\n") != std::string::npos);
    CHECK(text.find("\t\tudp sport { 407, 1419 } fib saddr . mark . iif oif missing drop\n") != std::string::npos);
    // The chain carries no state match: it sees the packet before conntrack.
    auto chain = text.substr(text.find("chain antispoof"), text.find("chain prerouting") - text.find("chain antispoof"));
    CHECK(chain.find("ct state") == std::string::npos);
    // The apply buffer holds the same chain.
    CHECK(count(nft_apply_buffer(c, "x"), "fib saddr . mark . iif oif missing drop") == 4);
}

TEST_CASE("ctl rules: the antispoof chain follows the configured ports", "[ctl][rules][antispoof]") {
    Config c;
    c.tcp_contact_ports = {1843, 407};
    c.udp_contact_ports.clear();
    auto text = nft_ruleset(c, "x");
    CHECK(text.find("tcp dport { 1843, 407 } fib saddr . mark . iif oif missing drop") != std::string::npos);
    CHECK(text.find("tcp sport { 1843, 407 } fib saddr . mark . iif oif missing drop") != std::string::npos);
    CHECK(text.find("udp dport") == std::string::npos);
    CHECK(text.find("udp sport") == std::string::npos);
}

TEST_CASE("ctl rules: --no-antispoof leaves the chain out", "[ctl][rules][antispoof]") {
    Config c;
    RulesOptions o;
    o.antispoof = false;
    auto text = nft_ruleset(c, "x", o);
    CHECK(text.find("chain antispoof") == std::string::npos);
    CHECK(text.find("fib ") == std::string::npos);
    CHECK(count(text, "ct helper set") == 4);  // the helper assignment is unchanged
    CHECK(nft_apply_buffer(c, "x", o).find("fib ") == std::string::npos);
    CHECK(iptables_ruleset(c, "x", o).find("-m rpfilter") == std::string::npos);
}

TEST_CASE("ctl rules: iptables form has the rpfilter equivalent in raw PREROUTING", "[ctl][rules][antispoof]") {
    Config c;
    auto text = iptables_ruleset(c, "x");
    for (const char* line : {"-A PREROUTING -p tcp --dport 407 -m rpfilter --validmark --invert -j DROP\n",
                             "-A PREROUTING -p tcp --sport 407 -m rpfilter --validmark --invert -j DROP\n",
                             "-A PREROUTING -p udp --dport 407 -m rpfilter --validmark --invert -j DROP\n",
                             "-A PREROUTING -p udp --sport 1419 -m rpfilter --validmark --invert -j DROP\n"}) {
        INFO(line);
        CHECK(count(text, line) == 1);
    }
    CHECK(count(text, "-m rpfilter") == 6);
    CHECK(text.find("-A OUTPUT -p tcp --dport 407 -m rpfilter") == std::string::npos);  // not on locally sent traffic
    // The DROP rules sit inside *raw ... COMMIT.
    CHECK(text.find("*raw\n") < text.find("-m rpfilter"));
    CHECK(text.find("-m rpfilter") < text.find("\nCOMMIT\n"));
}

TEST_CASE("ctl check: the applied antispoof chain covers IPv4 and IPv6", "[ctl][audit][antispoof]") {
    Config c;
    auto cov = find_antispoof_rules(json::parse(kAppliedRuleset), c);
    CHECK(cov.ipv4);
    CHECK(cov.ipv6);
    CHECK(cov.where_ipv4 == "inet tbhelper antispoof");
}

TEST_CASE("ctl check: which rules count as anti-spoofing", "[ctl][audit][antispoof]") {
    Config c;
    SECTION("ip family: IPv4 only") {
        auto cov = find_antispoof_rules(one_rule("ip", "prerouting", json::array({fib_missing(), drop()})), c);
        CHECK(cov.ipv4);
        CHECK_FALSE(cov.ipv6);
    }
    SECTION("inet with meta nfproto ipv6: IPv6 only") {
        json nfproto = {{"match", {{"op", "=="}, {"left", {{"meta", {{"key", "nfproto"}}}}}, {"right", "ipv6"}}}};
        auto cov = find_antispoof_rules(one_rule("inet", "prerouting", json::array({nfproto, fib_missing(), drop()})), c);
        CHECK_FALSE(cov.ipv4);
        CHECK(cov.ipv6);
    }
    SECTION("no port match: all traffic, contact included") {
        auto cov = find_antispoof_rules(one_rule("inet", "prerouting", json::array({fib_missing(), drop()})), c);
        CHECK(cov.ipv4);
        CHECK(cov.ipv6);
    }
    SECTION("a regular chain (jumped to from prerouting) counts") {
        auto cov = find_antispoof_rules(one_rule("inet", nullptr, json::array({fib_missing(), drop()})), c);
        CHECK(cov.ipv4);
    }
    SECTION("ports that are not contact ports do not count") {
        auto cov = find_antispoof_rules(
            one_rule("inet", "prerouting", json::array({port_match("tcp", "dport", 22), fib_missing(), drop()})), c);
        CHECK_FALSE(cov.ipv4);
        CHECK_FALSE(cov.ipv6);
    }
    SECTION("a fib match without a drop does not count") {
        json counter = {{"counter", {{"packets", 0}, {"bytes", 0}}}};
        auto cov = find_antispoof_rules(one_rule("inet", "prerouting", json::array({fib_missing(), counter})), c);
        CHECK_FALSE(cov.ipv4);
    }
    SECTION("fib without iif (daddr check) does not count") {
        auto cov = find_antispoof_rules(
            one_rule("inet", "prerouting", json::array({fib_missing(json::array({"daddr", "iif"})), drop()})), c);
        CHECK_FALSE(cov.ipv4);
    }
    SECTION("a chain on another hook does not count") {
        auto cov = find_antispoof_rules(one_rule("inet", "forward", json::array({fib_missing(), drop()})), c);
        CHECK_FALSE(cov.ipv4);
    }
    SECTION("iptables-nft rpfilter with DROP counts, for its family") {
        auto cov = find_antispoof_rules(json::parse(kIptablesRpfilter), c);
        CHECK(cov.ipv4);
        CHECK_FALSE(cov.ipv6);
    }
    SECTION("an empty ruleset has none") {
        auto cov = find_antispoof_rules(json::parse(R"({"nftables": []})"), c);
        CHECK_FALSE(cov.ipv4);
        CHECK_FALSE(cov.ipv6);
    }
}

TEST_CASE("ctl check: rp-filter-loose when loose or off and no fib rule", "[ctl][audit][antispoof]") {
    const std::string fix = "tbhelperctl rules --apply";
    const AntispoofCoverage none;
    AntispoofCoverage both;
    both.ipv4 = both.ipv6 = true;
    AntispoofCoverage v4only;
    v4only.ipv4 = true;

    SECTION("Debian's default: loose everywhere, no rule") {
        auto f = audit_reverse_path(sysctls(2, 2, {{"eth0", 2}, {"eth1", 2}}, true), none, fix);
        REQUIRE(f);
        CHECK(f->severity == "warning");
        CHECK(f->code == "rp-filter-loose");
        CHECK(f->message.find("eth0 loose") != std::string::npos);
        CHECK(f->message.find("eth1 loose") != std::string::npos);
        CHECK(f->message.find("new interfaces loose") != std::string::npos);
        CHECK(f->message.find("IPv6 has no reverse-path filter") != std::string::npos);
        CHECK(f->message.find("lo ") == std::string::npos);  // loopback is not a segment a guest is on
        CHECK(f->fix.find("tbhelperctl rules --apply") != std::string::npos);
    }
    SECTION("the kernel uses max(all, interface): all=1 makes an off interface strict") {
        auto f = audit_reverse_path(sysctls(1, 0, {{"eth0", 0}, {"eth1", 1}}, false), none, fix);
        CHECK_FALSE(f);
    }
    SECTION("all=0, one interface strict, one off") {
        auto f = audit_reverse_path(sysctls(0, 1, {{"eth0", 1}, {"eth1", 0}}, false), none, fix);
        REQUIRE(f);
        CHECK(f->message.find("eth1 off") != std::string::npos);
        CHECK(f->message.find("eth0") == std::string::npos);
        CHECK(f->message.find("new interfaces") == std::string::npos);
        CHECK(f->message.find("IPv6") == std::string::npos);
    }
    SECTION("all=2 overrides a strict interface (max)") {
        auto f = audit_reverse_path(sysctls(2, 1, {{"eth0", 1}}, false), none, fix);
        REQUIRE(f);
        CHECK(f->message.find("eth0 loose") != std::string::npos);
    }
    SECTION("strict IPv4 but IPv6 on and unprotected") {
        auto f = audit_reverse_path(sysctls(1, 1, {{"eth0", 1}}, true), none, fix);
        REQUIRE(f);
        CHECK(f->message.find("IPv4 reverse-path") == std::string::npos);
        CHECK(f->message.find("for IPv6") != std::string::npos);
    }
    SECTION("the fib rule covers both families: no finding, whatever the sysctls") {
        CHECK_FALSE(audit_reverse_path(sysctls(0, 0, {{"eth0", 0}}, true), both, fix));
    }
    SECTION("an IPv4-only rule leaves IPv6 reported") {
        auto f = audit_reverse_path(sysctls(2, 2, {{"eth0", 2}}, true), v4only, fix);
        REQUIRE(f);
        CHECK(f->message.find("eth0") == std::string::npos);
        CHECK(f->message.find("for IPv6") != std::string::npos);
    }
    SECTION("IPv4 sysctls unreadable, IPv6 off: nothing to say") {
        ReversePathSysctls s;
        s.ipv6_enabled = false;
        CHECK_FALSE(audit_reverse_path(s, none, fix));
    }
    SECTION("the finding shows in --json with its stable code") {
        auto f = audit_reverse_path(sysctls(2, 2, {{"eth0", 2}}, true), none, fix);
        REQUIRE(f);
        auto j = to_json(std::vector<Finding>{*f});
        CHECK(j[0]["code"] == "rp-filter-loose");
        CHECK(j[0]["severity"] == "warning");
    }
}
