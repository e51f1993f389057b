// tbhelperctl's firewall-pair facts (lib/ctl/ha.hpp, docs/tbhelperctl.md#ha).
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "ctl/ha.hpp"

using namespace tb;
using namespace tb::ctl;

TEST_CASE("ha: the role file keepalived's notify script writes", "[ctl][ha]") {
    CHECK(parse_ha_role(std::nullopt) == HaRole::none);
    CHECK(parse_ha_role(std::string("active\n")) == HaRole::active);
    CHECK(parse_ha_role(std::string("backup")) == HaRole::backup);
    CHECK(parse_ha_role(std::string("fault\n")) == HaRole::fault);
    CHECK(parse_ha_role(std::string("MASTER\n")) == HaRole::unreadable);
    CHECK(parse_ha_role(std::string("active\nbackup\n")) == HaRole::unreadable);
    CHECK(parse_ha_role(std::string("")) == HaRole::unreadable);
    CHECK(ha_role_name(HaRole::backup) == "backup");
}

TEST_CASE("ha: conntrackd's ExpectationSync, as its parser reads it", "[ctl][ha]") {
    auto sync = [](const char* text) { return conntrackd_expectation_sync(std::string(text), "timbuktu"); };
    CHECK(conntrackd_expectation_sync(std::nullopt, "timbuktu") == ExpectSync::no_config);
    CHECK(sync("Sync {\n Mode FTFW {\n }\n}\n") == ExpectSync::absent);
    CHECK(sync("Sync {\n Options {\n  ExpectationSync On\n }\n}\n") == ExpectSync::all);
    CHECK(sync("Sync { Options { expectationsync off } }") == ExpectSync::off);
    CHECK(sync("Sync {\n Options {\n  ExpectationSync {\n   ftp\n   timbuktu\n  }\n }\n}\n") == ExpectSync::listed);
    CHECK(sync("Sync { Options { ExpectationSync { ftp sip } } }") == ExpectSync::other_helpers);
    CHECK(sync("Sync { Options { ExpectationSync {ftp timbuktu} } }") == ExpectSync::listed);
    // A comment is not a clause.
    CHECK(sync("# ExpectationSync On\nSync { }\n") == ExpectSync::absent);
    CHECK(sync("Sync { Options { ExpectationSync { ftp # timbuktu\n } } }") == ExpectSync::other_helpers);
    // The package's own example syncs timbuktu.
    CHECK(expect_sync_covers(ExpectSync::listed));
    CHECK(expect_sync_covers(ExpectSync::all));
    CHECK_FALSE(expect_sync_covers(ExpectSync::other_helpers));
}

TEST_CASE("ha: status fields and check findings", "[ctl][ha]") {
    Config single;
    CHECK(audit_ha(HaRole::none, ExpectSync::no_config, single).empty());
    CHECK(format_ha_line(HaRole::none, ExpectSync::no_config, single).empty());

    Config pair = parse_config("ha_sync_interface = \"sync0\"\nha_sync_peer = \"192.0.2.2\"\n", "t.conf");
    auto j = ha_status_json(HaRole::backup, ExpectSync::listed, pair);
    CHECK(j["role"] == "backup");
    CHECK(j["conntrackd_expectation_sync"] == "listed");
    CHECK(j["conntrackd_syncs_timbuktu"] == true);
    CHECK(j["sync_interface"] == "sync0");
    CHECK(j["sync_peer"] == "192.0.2.2");
    CHECK(audit_ha(HaRole::backup, ExpectSync::listed, pair).empty());
    CHECK(format_ha_line(HaRole::backup, ExpectSync::listed, pair).find("role backup, conntrackd syncs timbuktu") !=
          std::string::npos);

    auto codes = [](const std::vector<Finding>& fs) {
        std::vector<std::string> c;
        for (const auto& f : fs) c.push_back(f.code);
        return c;
    };
    CHECK(codes(audit_ha(HaRole::active, ExpectSync::other_helpers, pair)) ==
          std::vector<std::string>{"ha-expectations-not-synced"});
    CHECK(codes(audit_ha(HaRole::active, ExpectSync::no_config, pair)) ==
          std::vector<std::string>{"ha-conntrackd-missing"});
    // A conntrackd.conf alone (Debian's package installs one) makes no pair.
    CHECK(audit_ha(HaRole::none, ExpectSync::all, single).empty());
    CHECK(audit_ha(HaRole::none, ExpectSync::absent, single).empty());
    // keepalived's role file does: then the session state must be shared.
    CHECK(codes(audit_ha(HaRole::active, ExpectSync::all, single)) == std::vector<std::string>{"ha-state-not-shared"});
    CHECK(codes(audit_ha(HaRole::unreadable, ExpectSync::listed, pair)) ==
          std::vector<std::string>{"ha-role-unreadable"});
}
