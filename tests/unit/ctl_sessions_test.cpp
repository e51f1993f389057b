// tbhelperctl sessions (lib/ctl/sessions): the daemon's answer joined with
// the kernel's expectations on the master tuple, and the table for people.
// Against a real daemon: tests/kernel/61-ctl-expectations.sh.
#include <catch2/catch.hpp>

#include "ctl/sessions.hpp"

using namespace tb;
using namespace tb::ctl;

namespace {

nlohmann::json answer() {
    return nlohmann::json::parse(R"({"ok": true, "total": 3, "sessions": [
        {"proto": "tcp", "guest": "198.51.100.2", "guest_port": 40000, "address": "203.0.113.2",
         "host": "203.0.113.2", "contact_port": 407, "service": "intercom", "phase": "framed",
         "offers": 2, "age": 75, "idle": 1},
        {"proto": "udp", "guest": "198.51.100.3", "guest_port": 5000, "address": "198.51.100.1",
         "host": "203.0.113.9", "contact_port": 1419, "service": "chat\u001b[2J", "phase": "framed",
         "offers": 0, "age": 7300, "idle": 3},
        {"proto": "tcp", "guest": 17}
    ]})");
}

ExpectationRow row(const char* guest, std::uint16_t sport, const char* address, std::uint16_t dport) {
    ExpectationRow r;
    r.proto = Transport::udp;
    r.src = *IpAddress::parse(guest);
    r.dst = *IpAddress::parse("203.0.113.2");
    r.dport = 40001;
    r.master.proto = Transport::tcp;
    r.master.src = *IpAddress::parse(guest);
    r.master.dst = *IpAddress::parse(address);
    r.master.sport = sport;
    r.master.dport = dport;
    r.helper = "timbuktu";
    return r;
}

}  // namespace

TEST_CASE("sessions: each session counts the kernel's expectations whose master it is") {
    std::vector<ExpectationRow> kernel{row("198.51.100.2", 40000, "203.0.113.2", 407),
                                       row("198.51.100.2", 40000, "203.0.113.2", 407),
                                       row("198.51.100.2", 40001, "203.0.113.2", 407),   // other connection
                                       row("198.51.100.3", 5000, "198.51.100.1", 1419)}; // tcp master: not the udp one
    auto report = sessions_report(answer(), kernel);
    REQUIRE(report);
    REQUIRE(report->size() == 2);  // the entry that does not parse is left out
    CHECK((*report)[0]["expectations"] == 2);
    CHECK((*report)[1]["expectations"] == 0);
    CHECK((*report)[0]["phase"] == "framed");
    // Without the kernel (not root): null, shown as "?".
    auto blind = sessions_report(answer(), std::nullopt);
    REQUIRE(blind);
    CHECK((*blind)[0]["expectations"].is_null());
    const std::string text = format_sessions(*blind, 3);
    CHECK(text.find("198.51.100.2:40000") != std::string::npos);
    CHECK(text.find("203.0.113.9:1419") != std::string::npos);
    CHECK(text.find(" ? ") != std::string::npos);
    CHECK(text.find("75s") != std::string::npos);  // under 2 minutes: seconds
    CHECK(text.find("2h") != std::string::npos);   // 7300 s
    CHECK(text.find("chat\\x1b[2J") != std::string::npos);  // escaped
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find("the 2 most recently active of 3 tracked sessions") != std::string::npos);
    CHECK(format_sessions(nlohmann::json::array(), 0) == "no sessions tracked\n");
    CHECK_FALSE(sessions_report(nlohmann::json::parse(R"({"ok": true})"), std::nullopt));
}
