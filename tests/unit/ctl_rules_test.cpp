// lib/ctl: `tbhelperctl rules` text generation.
#include <catch2/catch.hpp>

#include <string>

#include "config/config.hpp"
#include "ctl/rules.hpp"

using namespace tb;
using namespace tb::ctl;

namespace {
std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
    return n;
}
}  // namespace

TEST_CASE("ctl rules: default configuration", "[ctl][rules]") {
    Config c;
    auto text = nft_ruleset(c, "test.conf");
    CHECK(text.find("table inet tbhelper {") != std::string::npos);
    CHECK(text.find("ct helper timbuktu-tcp {\n\t\ttype \"timbuktu\" protocol tcp\n\t\tl3proto inet\n\t}") !=
          std::string::npos);
    CHECK(text.find("ct helper timbuktu-udp {\n\t\ttype \"timbuktu\" protocol udp\n\t\tl3proto inet\n\t}") !=
          std::string::npos);
    CHECK(text.find("type filter hook prerouting priority filter; policy accept;") != std::string::npos);
    CHECK(text.find("type filter hook output priority filter; policy accept;") != std::string::npos);
    // Both hooks, both transports, new connections only.
    CHECK(count(text, "ct state new tcp dport 407 ct helper set \"timbuktu-tcp\"") == 2);
    CHECK(count(text, "ct state new udp dport { 407, 1419 } ct helper set \"timbuktu-udp\"") == 2);
    // The commented filter example, with the A3 warning.
    CHECK(text.find("#   ct state established,related accept") != std::string::npos);
    CHECK(text.find("#   ct state new tcp dport 407 accept") != std::string::npos);
    CHECK(text.find("test.conf") != std::string::npos);
}

TEST_CASE("ctl rules: configured ports appear", "[ctl][rules]") {
    Config c;
    c.tcp_contact_ports = {1843, 407};
    c.udp_contact_ports = {407};
    auto text = nft_ruleset(c, "site.conf");
    CHECK(count(text, "tcp dport { 1843, 407 } ct helper set \"timbuktu-tcp\"") == 2);
    CHECK(count(text, "udp dport 407 ct helper set \"timbuktu-udp\"") == 2);
    CHECK(text.find("1419") == std::string::npos);
}

TEST_CASE("ctl rules: a transport without contact ports has no helper object", "[ctl][rules]") {
    Config c;
    c.udp_contact_ports.clear();
    auto text = nft_ruleset(c, "x");
    CHECK(text.find("timbuktu-udp") == std::string::npos);
    CHECK(text.find("timbuktu-tcp") != std::string::npos);
}

TEST_CASE("ctl rules: the apply buffer replaces an earlier copy in one transaction", "[ctl][rules]") {
    Config c;
    auto buf = nft_apply_buffer(c, "x");
    auto create = buf.find("table inet tbhelper\n");
    auto del = buf.find("delete table inet tbhelper\n");
    auto full = buf.find("table inet tbhelper {");
    REQUIRE(create != std::string::npos);
    REQUIRE(del != std::string::npos);
    REQUIRE(full != std::string::npos);
    CHECK(create < del);
    CHECK(del < full);
    CHECK(count(buf, "ct helper set") == 4);
}

TEST_CASE("ctl rules: iptables-restore form", "[ctl][rules]") {
    Config c;
    c.tcp_contact_ports = {407, 1843};
    auto text = iptables_ruleset(c, "x");
    CHECK(text.find("*raw\n") != std::string::npos);
    CHECK(text.find("\nCOMMIT\n") != std::string::npos);
    for (const char* chain : {"PREROUTING", "OUTPUT"}) {
        for (const char* line : {"-p tcp --dport 407 -j CT --helper timbuktu", "-p tcp --dport 1843 -j CT --helper timbuktu",
                                 "-p udp --dport 407 -j CT --helper timbuktu",
                                 "-p udp --dport 1419 -j CT --helper timbuktu"}) {
            INFO(chain << " " << line);
            CHECK(count(text, std::string("-A ") + chain + " " + line + "\n") == 1);
        }
    }
    // Every non-comment line is iptables-restore syntax (no nft leaked in).
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        auto line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line[0] == '#') continue;
        INFO(line);
        CHECK((line[0] == '*' || line[0] == ':' || line.rfind("-A ", 0) == 0 || line == "COMMIT"));
    }
}

TEST_CASE("ctl rules: port sets", "[ctl][rules]") {
    CHECK(nft_port_set({407}) == "407");
    CHECK(nft_port_set({407, 1419}) == "{ 407, 1419 }");
}
