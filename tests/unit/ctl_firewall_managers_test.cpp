// lib/ctl: `tbhelperctl check` over rulesets that firewalld and ufw wrote,
// captured with `nft -j list ruleset` in the package test bed
// (tests/package/vm/firewall-managers-test.sh prints them between
// "=== CAPTURE NAME" lines): Debian 12, firewalld 1.3.3 (nftables backend),
// ufw 0.36.2 (iptables-nft 1.8.9), nft 1.0.6. docs/firewall-managers.md.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "ctl/audit.hpp"

using namespace tb;
using namespace tb::ctl;
using nlohmann::json;

namespace {

// tests/unit/data/NAME, found next to this file (the tests run from the
// repository root, and the compiler sees this file as tests/unit/...).
json ruleset(const char* name) {
    std::string here = __FILE__;
    auto slash = here.find_last_of('/');
    std::string path = (slash == std::string::npos ? std::string(".") : here.substr(0, slash)) + "/data/" + name;
    std::ifstream in(path);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return json::parse(text.str());
}

bool has_code(const std::vector<Finding>& f, const std::string& code) {
    for (const auto& x : f)
        if (x.code == code) return true;
    return false;
}
[[maybe_unused]] const Finding* finding(const std::vector<Finding>& f, const std::string& code) {
    for (const auto& x : f)
        if (x.code == code) return &x;
    return nullptr;
}

}  // namespace

TEST_CASE("firewalld with the service timbuktu in zone internal and policy guests-to-hosts: correct") {
    const json r = ruleset("ruleset-firewalld-service.json");
    Config c;
    CHECK(detect_firewall_manager(r) == FirewallManager::firewalld);
    CHECK(firewalld_assigns_helper(r));
    auto findings = audit_filter(r, c);
    INFO(format_findings(findings));
    CHECK(findings.empty());
    // The contact and the related streams, incoming (zone internal) and forwarded (the policy).
    for (const char* hook : {"input", "forward"}) {
        INFO(hook);
        CHECK(evaluate_hook(r, "ipv4", hook, {"new", "tcp", 407}).verdict == Verdict::accepted);
        CHECK(evaluate_hook(r, "ipv4", hook, {"new", "udp", 407}).verdict == Verdict::accepted);
        CHECK(evaluate_hook(r, "ipv4", hook, {"related", "tcp", std::nullopt}).verdict == Verdict::accepted);
    }
    // Anything else is still firewalld's: dropped (rejected) on input.
    CHECK(evaluate_hook(r, "ipv4", "input", {"new", "tcp", 40000}).verdict == Verdict::dropped);
}

TEST_CASE("firewalld with the contact ports alone: no helper of ours in its table") {
    const json r = ruleset("ruleset-firewalld-ports-only.json");
    CHECK(detect_firewall_manager(r) == FirewallManager::firewalld);
    CHECK_FALSE(firewalld_assigns_helper(r));
}

TEST_CASE("firewalld with UDP 407 open and TCP 407 not: the A3 finding, fixed with firewall-cmd") {
    const json r = ruleset("ruleset-firewalld-udp-only.json");
    Config c;
    auto findings = audit_filter(r, c);
    INFO(format_findings(findings));
    const Finding* f = finding(findings, "tcp-contact-dropped");
    REQUIRE(f != nullptr);
    CHECK(f->message.find("inet firewalld") != std::string::npos);
    CHECK(f->fix.find("firewall-cmd --add-service=timbuktu") != std::string::npos);
    CHECK(f->fix.find("nft insert") == std::string::npos);
}

TEST_CASE("ufw with UDP 407 allowed alone: the A3 finding, fixed with ufw allow Timbuktu") {
    const json r = ruleset("ruleset-ufw-udp-only.json");
    Config c;
    CHECK(detect_firewall_manager(r) == FirewallManager::ufw);
    CHECK_FALSE(firewalld_assigns_helper(r));
    auto findings = audit_filter(r, c);
    INFO(format_findings(findings));
    // One finding per family (ufw's chains are ip filter INPUT and ip6 filter
    // INPUT). IPv4 too: ufw's chain ufw-not-local returns for local addresses
    // (-m addrtype) before its drop, and that drop must not count.
    int seen = 0;
    for (const auto& f : findings) {
        if (f.code != "tcp-contact-dropped") continue;
        ++seen;
        CHECK(f.fix == "ufw allow Timbuktu");
        const bool v4 = f.message.find("chain ip filter INPUT") != std::string::npos &&
                        f.message.find("[IPv4]") != std::string::npos;
        const bool v6 = f.message.find("chain ip6 filter INPUT") != std::string::npos &&
                        f.message.find("[IPv6]") != std::string::npos;
        CHECK((v4 || v6));
    }
    CHECK(seen == 2);
    // ufw's before rules accept related (an xtables conntrack match).
    CHECK_FALSE(has_code(findings, "related-dropped"));
}

TEST_CASE("ufw with allow Timbuktu and route allow in on tbpgw0 out on tbphw0 to any app Timbuktu: correct") {
    const json r = ruleset("ruleset-ufw-app.json");
    Config c;
    CHECK(detect_firewall_manager(r) == FirewallManager::ufw);
    auto findings = audit_filter(r, c);
    INFO(format_findings(findings));
    CHECK_FALSE(has_code(findings, "tcp-contact-dropped"));
    CHECK_FALSE(has_code(findings, "related-dropped"));
    for (const char* l3 : {"ipv4", "ipv6"}) {
        INFO(l3);
        CHECK(evaluate_hook(r, l3, "input", {"new", "tcp", 407}).verdict == Verdict::accepted);
        CHECK(evaluate_hook(r, l3, "input", {"related", "udp", std::nullopt}).verdict == Verdict::accepted);
        CHECK(evaluate_hook(r, l3, "input", {"related", "tcp", std::nullopt}).verdict == Verdict::accepted);
        // Routed: the route rule names interfaces, which the heuristic does not
        // decide, but its port match is explicit.
        CHECK(evaluate_hook(r, l3, "forward", {"new", "tcp", 407}).verdict == Verdict::accepted);
        CHECK(evaluate_hook(r, l3, "forward", {"related", "tcp", std::nullopt}).verdict == Verdict::accepted);
        // ufw's default policy still drops the rest.
        CHECK(evaluate_hook(r, l3, "input", {"new", "tcp", 40000}).verdict == Verdict::dropped);
        CHECK(evaluate_hook(r, l3, "forward", {"new", "tcp", 40000}).verdict == Verdict::dropped);
    }
}

TEST_CASE("a plain nftables ruleset is nobody's") {
    json r = json::parse(R"({"nftables": [{"metainfo": {"json_schema_version": 1}},
        {"table": {"family": "inet", "name": "filter", "handle": 1}},
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}]})");
    CHECK(detect_firewall_manager(r) == FirewallManager::none);
    CHECK_FALSE(firewalld_assigns_helper(r));
}

// rp-filter-loose: spoofed contact traffic is dropped neither by the kernel's
// strict rp_filter (IPv4) nor by a fib rule. firewalld's IPv6_rpfilter=yes
// (Debian's default) is such a fib rule in table inet firewalld's
// filter_PREROUTING, so on firewalld's rulesets only IPv4 is reported, and
// the fix is in firewalld's words, not tbhelper's anti-spoofing chain (table
// inet tbhelper is not loaded where firewalld attaches the helper).
TEST_CASE("ctl check on firewalld: rp-filter-loose in firewalld's words", "[ctl][audit][firewalld][antispoof]") {
    Config c;
    ReversePathSysctls loose;  // Debian's default: rp_filter 2 everywhere
    loose.ipv4_rp_filter = {{"all", 2}, {"default", 2}, {"lo", 0}, {"tbpgw0", 2}, {"tbphw0", 2}};
    loose.ipv6_enabled = true;
    for (const char* name : {"ruleset-firewalld-service.json", "ruleset-firewalld-udp-only.json"}) {
        INFO(name);
        const json nft = ruleset(name);
        const FirewallManager m = detect_firewall_manager(nft);
        REQUIRE(m == FirewallManager::firewalld);
        const AntispoofCoverage cov = find_antispoof_rules(nft, c);
        CHECK(cov.ipv6);   // IPv6_rpfilter's fib rule
        CHECK_FALSE(cov.ipv4);
        CHECK(cov.where_ipv6 == "inet firewalld filter_PREROUTING");
        auto f = audit_reverse_path(loose, cov, "tbhelperctl rules --apply", m);
        REQUIRE(f);
        CHECK(f->code == "rp-filter-loose");
        CHECK(f->message.find("IPv4 reverse-path filtering is loose") != std::string::npos);
        CHECK(f->message.find("IPv6") == std::string::npos);
        CHECK(f->fix.find("sysctl -w net.ipv4.conf.all.rp_filter=1") != std::string::npos);
        CHECK(f->fix.find("/etc/sysctl.d/") != std::string::npos);
        CHECK(f->fix.find("tbhelperctl rules --apply") == std::string::npos);
        CHECK(f->fix.find("IPv6_rpfilter") == std::string::npos);
    }
    SECTION("strict rp_filter for IPv4: nothing to report") {
        ReversePathSysctls strict = loose;
        for (auto& [k, v] : strict.ipv4_rp_filter) v = k == "lo" ? 0 : 1;
        const json nft = ruleset("ruleset-firewalld-service.json");
        CHECK_FALSE(audit_reverse_path(strict, find_antispoof_rules(nft, c), "tbhelperctl rules --apply",
                                       FirewallManager::firewalld));
    }
    SECTION("IPv6_rpfilter=no (the fib rule gone): firewalld.conf's setting is the fix for IPv6") {
        json nft = ruleset("ruleset-firewalld-service.json");
        auto& items = nft["nftables"];
        for (auto it = items.begin(); it != items.end();) {
            if (it->contains("rule") && (*it)["rule"]["chain"] == "filter_PREROUTING" &&
                (*it)["rule"].dump().find("\"fib\"") != std::string::npos)
                it = items.erase(it);
            else
                ++it;
        }
        const AntispoofCoverage cov = find_antispoof_rules(nft, c);
        CHECK_FALSE(cov.ipv6);
        auto f = audit_reverse_path(loose, cov, "tbhelperctl rules --apply", FirewallManager::firewalld);
        REQUIRE(f);
        CHECK(f->message.find("IPv6 has no reverse-path filter") != std::string::npos);
        CHECK(f->fix.rfind("set IPv6_rpfilter=yes in /etc/firewalld/firewalld.conf, then firewall-cmd --reload; "
                           "sysctl -w net.ipv4.conf.all.rp_filter=1",
                           0) == 0);
    }
}

// ufw loads tbhelper's own rules (tbhelperctl rules --apply): its capture has
// table inet tbhelper's anti-spoofing chain, which covers both families, and
// elsewhere the generic fix (that chain) is the right one.
TEST_CASE("ctl check on ufw: the anti-spoofing chain of rules --apply covers both families",
          "[ctl][audit][ufw][antispoof]") {
    Config c;
    const json nft = ruleset("ruleset-ufw-app.json");
    REQUIRE(detect_firewall_manager(nft) == FirewallManager::ufw);
    const AntispoofCoverage cov = find_antispoof_rules(nft, c);
    CHECK(cov.ipv4);
    CHECK(cov.ipv6);
    ReversePathSysctls loose;
    loose.ipv4_rp_filter = {{"all", 2}, {"default", 2}, {"eth0", 2}};
    CHECK_FALSE(audit_reverse_path(loose, cov, "tbhelperctl rules --apply", FirewallManager::ufw));
    auto f = audit_reverse_path(loose, AntispoofCoverage{}, "tbhelperctl rules --apply", FirewallManager::ufw);
    REQUIRE(f);
    CHECK(f->fix.find("load the anti-spoofing chain: tbhelperctl rules --apply") == 0);
}
