// tbhelperd's journal entries (nfhelper/log.cpp): the fields an event carries
// to journald, escaped like the message. That journald stores them and that
// `journalctl TBHELPER_EVENT=...` selects them is tested under systemd in the
// package test bed (tests/package/vm/systemd-package-test.sh).
#include <catch2/catch.hpp>

#include "../../nfhelper/log.hpp"

using namespace tb;
using namespace tb::daemon;

TEST_CASE("journal entry: message, priority, identifier, then the event's fields") {
    const LogField fields[] = {{"TBHELPER_EVENT", "expect"}, {"TBHELPER_GUEST", "198.51.100.2"},
                               {"TBHELPER_PORT", "40001"}};
    const auto e = journal_entry(LogLevel::info, "tcp 1.2.3.4:5 -> 6.7.8.9:407: expect ...", fields);
    REQUIRE(e.size() == 6);
    CHECK(e[0] == "MESSAGE=tcp 1.2.3.4:5 -> 6.7.8.9:407: expect ...");
    CHECK(e[1] == "PRIORITY=6");
    CHECK(e[2] == "SYSLOG_IDENTIFIER=tbhelperd");
    CHECK(e[3] == "TBHELPER_EVENT=expect");
    CHECK(e[4] == "TBHELPER_GUEST=198.51.100.2");
    CHECK(e[5] == "TBHELPER_PORT=40001");
    CHECK(journal_entry(LogLevel::warning, "x", {})[1] == "PRIORITY=4");
    CHECK(journal_entry(LogLevel::error, "x", {})[1] == "PRIORITY=3");
    CHECK(journal_entry(LogLevel::debug, "x", {})[1] == "PRIORITY=7");
}

TEST_CASE("journal entry: peer bytes are escaped in the message and in field values") {
    const LogField fields[] = {{"TBHELPER_SERVICE", std::string("chat\nPRIORITY=0\x1b[2J")}};
    const auto e = journal_entry(LogLevel::info, std::string("name \0<0>evil\n", 14), fields);
    CHECK(e[0] == "MESSAGE=name \\x00<0>evil\\x0a");
    CHECK(e[3] == "TBHELPER_SERVICE=chat\\x0aPRIORITY=0\\x1b[2J");
}

TEST_CASE("journal entry: only TBHELPER_ field names are kept") {
    CHECK(valid_field_name("TBHELPER_EVENT"));
    CHECK(valid_field_name("TBHELPER_PORT2"));
    CHECK_FALSE(valid_field_name("TBHELPER_"));
    CHECK_FALSE(valid_field_name("MESSAGE"));
    CHECK_FALSE(valid_field_name("TBHELPER_event"));
    CHECK_FALSE(valid_field_name("TBHELPER_A=B"));
    CHECK_FALSE(valid_field_name(std::string("TBHELPER_") + std::string(60, 'A')));
    const LogField bad[] = {{"PRIORITY", "0"}, {"TBHELPER_OK", "1"}};
    const auto e = journal_entry(LogLevel::info, "m", bad);
    REQUIRE(e.size() == 4);
    CHECK(e[3] == "TBHELPER_OK=1");
}
