// lib/ctl: `tbhelperctl check` over libnftables JSON (the shapes nft 1.0.6
// prints for `nft -j list ...`) and kernel module lists.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "ctl/audit.hpp"

using namespace tb;
using namespace tb::ctl;
using nlohmann::json;

namespace {

// {"nftables": [metainfo, objects...]} from a list of objects.
json nft(std::vector<json> objs) {
    json a = json::array({json::parse(R"({"metainfo": {"version": "1.0.6", "json_schema_version": 1}})")});
    for (const auto& o : objs) a.push_back(o);
    return json{{"nftables", a}};
}

json chain(const char* family, const char* table, const char* name, const char* hook = nullptr,
           const char* policy = "accept") {
    json c = {{"family", family}, {"table", table}, {"name", name}, {"handle", 1}};
    if (hook) {
        c["type"] = "filter";
        c["hook"] = hook;
        c["prio"] = 0;
        c["policy"] = policy;
    }
    return json{{"chain", c}};
}

json rule(const char* family, const char* table, const char* chain_name, json expr) {
    return json{{"rule", {{"family", family}, {"table", table}, {"chain", chain_name}, {"handle", 2}, {"expr", expr}}}};
}

json dport(const char* proto, json right, const char* op = "==") {
    return json{{"match", {{"op", op}, {"left", {{"payload", {{"protocol", proto}, {"field", "dport"}}}}}, {"right", right}}}};
}
json ct_state(json right) {
    return json{{"match", {{"op", "in"}, {"left", {{"ct", {{"key", "state"}}}}}, {"right", right}}}};
}
json iifname(const char* name) {
    return json{{"match", {{"op", "=="}, {"left", {{"meta", {{"key", "iifname"}}}}}, {"right", name}}}};
}
json saddr(const char* addr) {
    return json{{"match", {{"op", "=="}, {"left", {{"payload", {{"protocol", "ip"}, {"field", "saddr"}}}}}, {"right", addr}}}};
}
json set(std::initializer_list<json> v) {
    json a = json::array();
    for (const auto& x : v) a.push_back(x);
    return json{{"set", a}};
}
const json kAccept = json{{"accept", nullptr}};
const json kDrop = json{{"drop", nullptr}};

json helper_obj(const char* name, const char* proto, const char* type = "timbuktu") {
    return json{{"ct helper",
                 {{"family", "inet"}, {"name", name}, {"table", "tbhelper"}, {"type", type}, {"protocol", proto},
                  {"l3proto", "inet"}}}};
}

json assign_rule(const char* chain_name, const char* proto, json ports, const char* obj) {
    return rule("inet", "tbhelper", chain_name,
                json::array({ct_state("new"), dport(proto, ports), json{{"ct helper", obj}}}));
}

// What `nft -j list table inet tbhelper` shows for the generated table.
json tbhelper_table(json tcp_ports, json udp_ports) {
    return nft({json{{"table", {{"family", "inet"}, {"name", "tbhelper"}}}}, helper_obj("timbuktu-tcp", "tcp"),
                helper_obj("timbuktu-udp", "udp"), chain("inet", "tbhelper", "prerouting", "prerouting"),
                chain("inet", "tbhelper", "output", "output"),
                assign_rule("prerouting", "tcp", tcp_ports, "timbuktu-tcp"),
                assign_rule("prerouting", "udp", udp_ports, "timbuktu-udp"),
                assign_rule("output", "tcp", tcp_ports, "timbuktu-tcp"),
                assign_rule("output", "udp", udp_ports, "timbuktu-udp")});
}

bool has_code(const std::vector<Finding>& f, const std::string& code) {
    for (const auto& x : f)
        if (x.code == code) return true;
    return false;
}

}  // namespace

TEST_CASE("ctl check: findings text and JSON", "[ctl][check]") {
    CHECK(format_findings({}) == "no problems found\n");
    std::vector<Finding> f = {{"error", "rules-missing", "table inet tbhelper is not loaded", "tbhelperctl rules --apply"}};
    CHECK(format_findings(f) == "error: table inet tbhelper is not loaded; fix: tbhelperctl rules --apply [rules-missing]\n");
    json j = to_json(f);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["severity"] == "error");
    CHECK(j[0]["code"] == "rules-missing");
    CHECK(j[0]["message"] == "table inet tbhelper is not loaded");
    CHECK(j[0]["fix"] == "tbhelperctl rules --apply");
}

TEST_CASE("ctl check: the generated table matches the configuration", "[ctl][check]") {
    Config c;
    auto t = tbhelper_table(407, set({407, 1419}));
    auto a = read_helper_assignments(t);
    CHECK(a.problems.empty());
    CHECK(a.ports["prerouting"]["tcp"] == std::set<std::uint16_t>{407});
    CHECK(a.ports["output"]["udp"] == std::set<std::uint16_t>{407, 1419});
    CHECK(audit_helper_table(t, c, "test.conf").empty());
}

TEST_CASE("ctl check: rules for other ports than the configuration's", "[ctl][check]") {
    Config c;
    c.tcp_contact_ports = {1843};
    auto f = audit_helper_table(tbhelper_table(407, set({407, 1419})), c, "site.conf");
    REQUIRE(f.size() == 1);
    CHECK(f[0].code == "rules-mismatch");
    CHECK(f[0].message.find("site.conf") != std::string::npos);
    CHECK(f[0].message.find("hook prerouting lacks TCP 1843") != std::string::npos);
    CHECK(f[0].message.find("hook prerouting has TCP 407, which the configuration does not list") != std::string::npos);
    CHECK(f[0].fix.find("tbhelperctl rules --apply --config site.conf") != std::string::npos);
}

TEST_CASE("ctl check: port ranges and wrong helper types in the table", "[ctl][check]") {
    Config c;
    c.udp_contact_ports = {407, 408, 409};
    auto t = tbhelper_table(407, set({json{{"range", {407, 409}}}}));
    CHECK(audit_helper_table(t, c, "x").empty());
    auto bad = nft({helper_obj("timbuktu-tcp", "tcp", "ftp"), chain("inet", "tbhelper", "prerouting", "prerouting"),
                    assign_rule("prerouting", "tcp", 407, "timbuktu-tcp")});
    auto f = audit_helper_table(bad, Config{}, "x");
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("has type \"ftp\"") != std::string::npos);
}

TEST_CASE("ctl check: A3, UDP 407 accepted and TCP 407 dropped by policy", "[ctl][check]") {
    Config c;
    auto rs = nft({chain("inet", "filter", "forward", "forward", "drop"),
                   rule("inet", "filter", "forward", json::array({ct_state(json::array({"established", "related"})), kAccept})),
                   rule("inet", "filter", "forward", json::array({dport("udp", set({407, 1419})), kAccept}))});
    auto r = evaluate_hook(rs, "ipv4", "forward", {"new", "tcp", 407});
    CHECK(r.verdict == Verdict::dropped);
    CHECK(r.by_policy);
    CHECK(evaluate_hook(rs, "ipv6", "forward", {"new", "udp", 407}).verdict == Verdict::accepted);
    auto f = audit_filter(rs, c);
    REQUIRE(f.size() == 1);
    CHECK(f[0].code == "tcp-contact-dropped");
    CHECK(f[0].message.find("accepts UDP { 407, 1419 } but drops TCP 407") != std::string::npos);
    CHECK(f[0].message.find("inet filter forward") != std::string::npos);
    CHECK(f[0].message.find("IPv4 and IPv6") != std::string::npos);
    CHECK(f[0].fix.find("nft insert rule inet filter forward ct state new tcp dport 407 accept") != std::string::npos);
}

TEST_CASE("ctl check: a correct filter is silent", "[ctl][check]") {
    Config c;
    auto rs = nft({chain("inet", "filter", "forward", "forward", "drop"),
                   chain("inet", "filter", "input", "input", "drop"),
                   rule("inet", "filter", "forward", json::array({ct_state(json::array({"established", "related"})), kAccept})),
                   rule("inet", "filter", "forward", json::array({dport("udp", set({407, 1419})), kAccept})),
                   rule("inet", "filter", "forward", json::array({dport("tcp", 407), kAccept})),
                   rule("inet", "filter", "input", json::array({iifname("lo"), kAccept}))});
    CHECK(audit_filter(rs, c).empty());
    CHECK(audit_filter(nft({}), c).empty());  // no filter at all
}

TEST_CASE("ctl check: an explicit drop rule before the TCP accept", "[ctl][check]") {
    Config c;
    auto rs = nft({chain("ip", "filter", "input", "input", "accept"),
                   rule("ip", "filter", "input", json::array({dport("udp", 407), kAccept})),
                   rule("ip", "filter", "input", json::array({dport("tcp", 407), kDrop})),
                   rule("ip", "filter", "input", json::array({dport("tcp", 407), kAccept}))});
    auto f = audit_filter(rs, c);
    REQUIRE(f.size() == 1);
    CHECK(f[0].code == "tcp-contact-dropped");
    CHECK(f[0].message.find("(a drop rule)") != std::string::npos);
    CHECK(f[0].message.find("[IPv4]") != std::string::npos);
}

TEST_CASE("ctl check: interface-only accepts do not count, jumps and named sets do", "[ctl][check]") {
    Config c;
    // `iifname "gw0" accept` would accept anything; the heuristic does not take it
    // as accepting TCP 407.
    auto rs = nft({chain("inet", "fw", "forward", "forward", "drop"), chain("inet", "fw", "from_guest"),
                   json{{"set", {{"family", "inet"}, {"table", "fw"}, {"name", "tb_tcp"}, {"type", "inet_service"},
                                 {"elem", json::array({407, 1843})}}}},
                   rule("inet", "fw", "forward", json::array({ct_state(json::array({"established", "related"})), kAccept})),
                   rule("inet", "fw", "forward", json::array({iifname("gw0"), json{{"jump", {{"target", "from_guest"}}}}})),
                   rule("inet", "fw", "from_guest", json::array({dport("udp", 407), kAccept})),
                   rule("inet", "fw", "from_guest", json::array({saddr("198.51.100.2"), dport("tcp", "@tb_tcp"), kAccept}))});
    CHECK(evaluate_hook(rs, "ipv4", "forward", {"new", "tcp", 407}).verdict == Verdict::accepted);
    CHECK(evaluate_hook(rs, "ipv4", "forward", {"new", "tcp", 22}).verdict == Verdict::dropped);
    CHECK(audit_filter(rs, c).empty());

    auto only_iif = nft({chain("inet", "fw", "forward", "forward", "drop"),
                         rule("inet", "fw", "forward", json::array({ct_state(json::array({"established", "related"})), kAccept})),
                         rule("inet", "fw", "forward", json::array({dport("udp", 407), kAccept})),
                         rule("inet", "fw", "forward", json::array({iifname("gw0"), kAccept}))});
    CHECK(has_code(audit_filter(only_iif, c), "tcp-contact-dropped"));
}

TEST_CASE("ctl check: related streams dropped", "[ctl][check]") {
    Config c;
    auto rs = nft({chain("inet", "filter", "forward", "forward", "drop"),
                   rule("inet", "filter", "forward", json::array({dport("udp", set({407, 1419})), kAccept})),
                   rule("inet", "filter", "forward", json::array({dport("tcp", 407), kAccept}))});
    auto f = audit_filter(rs, c);
    REQUIRE(f.size() == 1);
    CHECK(f[0].code == "related-dropped");
    CHECK(f[0].fix == "nft insert rule inet filter forward ct state established,related accept");
}

TEST_CASE("ctl check: ip and ip6 tables are evaluated per family", "[ctl][check]") {
    Config c;
    auto rs = nft({chain("ip6", "filter", "forward", "forward", "drop"),
                   rule("ip6", "filter", "forward", json::array({ct_state("related"), kAccept})),
                   rule("ip6", "filter", "forward", json::array({dport("udp", 407), kAccept}))});
    CHECK(evaluate_hook(rs, "ipv4", "forward", {"new", "tcp", 407}).verdict == Verdict::undecided);
    auto f = audit_filter(rs, c);
    REQUIRE(f.size() == 1);
    CHECK(f[0].message.find("[IPv6]") != std::string::npos);
}

TEST_CASE("ctl check: kernel modules", "[ctl][check]") {
    const NeededModule m{"nfnetlink_cthelper", "CONFIG_NF_CT_NETLINK_HELPER"};
    ModuleSources s;
    CHECK(module_state(m, s) == ModuleState::unknown);
    s.proc_modules = "nfnetlink_cthelper 20480 0 - Live 0x0000000000000000\nnf_conntrack 1 2 - Live 0\n";
    CHECK(module_state(m, s) == ModuleState::loaded);
    s.proc_modules.clear();
    s.modules_dep = "kernel/net/netfilter/nfnetlink_cthelper.ko: kernel/net/netfilter/nfnetlink.ko\n";
    CHECK(module_state(m, s) == ModuleState::loadable);
    s.modules_dep = "kernel/net/netfilter/nfnetlink_cthelper2.ko:\n";
    CHECK(module_state(m, s) == ModuleState::missing);
    s.modules_builtin = "kernel/net/netfilter/nfnetlink_cthelper.ko\n";
    CHECK(module_state(m, s) == ModuleState::builtin);
    ModuleSources k;
    k.kernel_config = "CONFIG_NF_CT_NETLINK=y\n# CONFIG_NF_CT_NETLINK_HELPER is not set\n";
    CHECK(module_state(m, k) == ModuleState::missing);
    k.kernel_config = "CONFIG_NF_CT_NETLINK_HELPER=y\n";
    CHECK(module_state(m, k) == ModuleState::builtin);
    k.sys_module = {"nfnetlink_cthelper"};
    CHECK(module_state(m, k) == ModuleState::loaded);
}

TEST_CASE("ctl check: a rule queueing to the daemon's queues", "[ctl][check]") {
    Config config;  // queue 407, gso on: segment queue 408
    auto q = [](json num) {
        json stmt = json::object();
        if (!num.is_null()) stmt["num"] = num;
        stmt["flags"] = "bypass";
        return json::array({json{{"queue", stmt}}});
    };
    // Another program's queue: nothing to say.
    CHECK(audit_queue_numbers(nft({chain("inet", "ids", "fwd", "forward"), rule("inet", "ids", "fwd", q(9))}), config)
              .empty());
    // The segment queue, by number.
    auto f = audit_queue_numbers(nft({chain("inet", "ids", "fwd", "forward"), rule("inet", "ids", "fwd", q(408))}),
                                 config);
    REQUIRE(f.size() == 1);
    CHECK(f[0].code == "queue-number-taken");
    CHECK(f[0].severity == "error");
    CHECK(f[0].message.find("table inet ids chain fwd queues packets to queue 408") != std::string::npos);
    CHECK(f[0].message.find("segment_queue") != std::string::npos);
    // A range over both, once each, however many rules.
    f = audit_queue_numbers(nft({chain("inet", "ids", "fwd", "forward"),
                                 rule("inet", "ids", "fwd", q(json{{"range", json::array({400, 410})}})),
                                 rule("inet", "ids", "fwd", q(407))}),
                            config);
    CHECK(f.size() == 2);
    // No number: queue 0. With gso = false, 408 is free again.
    CHECK(audit_queue_numbers(nft({chain("inet", "ids", "fwd", "forward"), rule("inet", "ids", "fwd", q(nullptr))}),
                              config)
              .empty());
    config.gso = false;
    CHECK(audit_queue_numbers(nft({chain("inet", "ids", "fwd", "forward"), rule("inet", "ids", "fwd", q(408))}), config)
              .empty());
}
