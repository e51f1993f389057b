// The one counter table (lib/helper/counter_table.cpp): unique names, help
// text for every entry, readings from the right source, and docs/daemon.md's
// list in step with it both ways.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "helper/counter_table.hpp"

using namespace tb;
using helper::counter_table;
using helper::CounterSources;
using helper::StatusPlace;

namespace {

// The names docs/daemon.md#control-socket lists: the first cell of each table
// row of that section, `hold_budget.KEY` for the budget's.
std::set<std::string> documented_names() {
    std::ifstream in("docs/daemon.md");
    REQUIRE(in.good());  // the unit tests run from the repository root
    std::string line;
    bool inside = false;
    std::set<std::string> names;
    const std::regex row(R"(^\| `([a-z_.]+)` \|)");
    while (std::getline(in, line)) {
        if (line.rfind("## ", 0) == 0) inside = line == "## Control socket";
        std::smatch m;
        if (inside && std::regex_search(line, m, row)) names.insert(m[1]);
    }
    return names;
}

std::string documented_key(const helper::CounterInfo& info) {
    switch (info.place) {
        case StatusPlace::counters:
        case StatusPlace::top: return std::string(info.status_key);
        case StatusPlace::hold_budget: return "hold_budget." + std::string(info.status_key);
    }
    return {};
}

}  // namespace

TEST_CASE("counter table: names unique, help for every entry, the mandatory ones first") {
    std::set<std::string> names, status_keys;
    bool mandatory_part = true;
    for (const auto& info : counter_table()) {
        INFO(info.name);
        CHECK(names.insert(std::string(info.name)).second);
        CHECK(status_keys.insert(documented_key(info)).second);
        CHECK(!info.help.empty());
        CHECK(info.help.back() == '.');
        CHECK(info.help.find('\n') == std::string_view::npos);  // one HELP line
        if (!info.mandatory) mandatory_part = false;
        CHECK((info.mandatory ? mandatory_part : true));
    }
    CHECK(names.size() > 30);
}

TEST_CASE("counter table: every figure is read from its own field") {
    timbuktu::Counters engine;
    helper::KernelCounters kernel;
    netfilter::QueueStats queue;
    stream::HoldBudget budget(1000);
    CounterSources::Daemon daemon{7, 8, 9};
    engine.packets = 11;
    engine.opcodes_unbucketed = 12;
    engine.rewrites_skipped = 13;
    kernel.spoofed = 14;
    queue.packets = 15;
    queue.handler_failures = 16;
    queue.gso_packets = 17;
    queue.segment_requeues = 18;
    const CounterSources all{&engine, &kernel, &queue, &budget, &daemon};
    auto value = [&](std::string_view name, const CounterSources& s) -> std::optional<std::uint64_t> {
        for (const auto& info : counter_table())
            if (info.name == name) return info.read(s);
        FAIL("no counter " << name);
        return std::nullopt;
    };
    CHECK(value("packets", all) == 15u);           // the queue's
    CHECK(value("packets_examined", all) == 11u);  // the engine's
    CHECK(value("opcodes_unbucketed", all) == 12u);
    CHECK(value("rewrites_skipped", all) == 13u);
    CHECK(value("spoofed", all) == 14u);
    CHECK(value("internal_errors", all) == 16u);
    CHECK(value("gso_packets", all) == 17u);
    CHECK(value("segment_requeues", all) == 18u);
    CHECK(value("log_suppressed", all) == 7u);
    CHECK(value("sessions_tracked", all) == 8u);
    CHECK(value("session_capacity", all) == 9u);
    CHECK(value("hold_budget_capacity", all) == 1000u);
    CHECK(value("forged", all) == 0u);

    // analyze has only the engine: the others are absent, not zero.
    CounterSources engine_only;
    engine_only.engine = &engine;
    CHECK(value("packets_examined", engine_only) == 11u);
    CHECK(!value("packets", engine_only));
    CHECK(!value("spoofed", engine_only));
    CHECK(!value("hold_budget_used", engine_only));
}

TEST_CASE("counter table: analyze reports exactly the engine's figures") {
    std::set<std::string> report;
    timbuktu::Counters engine;
    CounterSources engine_only;
    engine_only.engine = &engine;
    for (const auto& info : counter_table()) {
        INFO(info.name);
        CHECK(info.report_key.empty() == !info.read(engine_only).has_value());
        if (!info.report_key.empty()) report.insert(std::string(info.report_key));
    }
    // The names analyze's report has always had, plus opcodes_unbucketed.
    CHECK(report == std::set<std::string>{"packets", "sessions", "not_timbuktu", "offers", "expectations_created",
                                          "expectations_refused", "malformed", "forged", "rewrites",
                                          "rewrites_skipped", "stream_lost", "reflected", "unmodelled",
                                          "held_dropped", "opcodes_unbucketed"});
}

TEST_CASE("counter table: docs/daemon.md lists every entry and nothing else") {
    const auto documented = documented_names();
    std::set<std::string> table;
    for (const auto& info : counter_table()) table.insert(documented_key(info));
    for (const auto& name : table) {
        INFO("in the table, not in docs/daemon.md#control-socket: " << name);
        CHECK(documented.count(name) == 1);
    }
    for (const auto& name : documented) {
        INFO("in docs/daemon.md#control-socket, not in the table: " << name);
        CHECK(table.count(name) == 1);
    }
}
