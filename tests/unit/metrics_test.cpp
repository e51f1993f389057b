// The Prometheus text renderer (lib/ctl/metrics) and the parser of the
// kernel's NFQUEUE counters (lib/netfilter/queue_stats). The end-to-end
// check of `tbhelperctl metrics` with a real parser of the format is
// tests/integration/metrics_format.sh.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>

#include "ctl/metrics.hpp"
#include "helper/counter_table.hpp"
#include "netfilter/queue_proc.hpp"

using namespace tb;

TEST_CASE("metrics: HELP, TYPE and samples in the text format") {
    std::vector<ctl::MetricFamily> fams;
    fams.push_back({"tbhelper_packets_total", "Packets handed to the engine.", ctl::MetricKind::counter,
                    {{{}, std::uint64_t{42}}}});
    fams.push_back({"tbhelper_up", "1 when the daemon answered.", ctl::MetricKind::gauge, {{{}, 1.0}}});
    fams.push_back({"tbhelper_queue_dropped_total", "Dropped.", ctl::MetricKind::counter,
                    {{{{"queue", "407"}}, std::uint64_t{3}}}});
    const std::string text = ctl::render_prometheus(fams);
    CHECK(text ==
          "# HELP tbhelper_packets_total Packets handed to the engine.\n"
          "# TYPE tbhelper_packets_total counter\n"
          "tbhelper_packets_total 42\n"
          "# HELP tbhelper_up 1 when the daemon answered.\n"
          "# TYPE tbhelper_up gauge\n"
          "tbhelper_up 1\n"
          "# HELP tbhelper_queue_dropped_total Dropped.\n"
          "# TYPE tbhelper_queue_dropped_total counter\n"
          "tbhelper_queue_dropped_total{queue=\"407\"} 3\n");
}

TEST_CASE("metrics: help text and label values are escaped, bad names refused") {
    std::vector<ctl::MetricFamily> fams{
        {"tbhelper_x", "a\\b\nc", ctl::MetricKind::gauge, {{{{"name", "q\"u\\o\nte"}}, 0.5}}}};
    const std::string text = ctl::render_prometheus(fams);
    CHECK(text.find("# HELP tbhelper_x a\\\\b\\nc\n") != std::string::npos);
    CHECK(text.find("tbhelper_x{name=\"q\\\"u\\\\o\\nte\"} 0.5\n") != std::string::npos);
    CHECK_THROWS_AS(ctl::render_prometheus({{"9bad", "", ctl::MetricKind::gauge, {}}}), std::invalid_argument);
    CHECK_THROWS_AS(ctl::render_prometheus({{"ok", "", ctl::MetricKind::gauge, {{{{"a:b", "v"}}, 1.0}}}}),
                    std::invalid_argument);
    CHECK(ctl::valid_metric_name("tbhelper_ns:sub_total"));
    CHECK_FALSE(ctl::valid_metric_name(""));
    CHECK_FALSE(ctl::valid_metric_name("tb-helper"));
}

TEST_CASE("queue stats: the kernel's nine columns, foreign lines skipped") {
    // As nfnetlink_queue prints it ("%5u %6u %5u %1u %5u %5u %5u %8u %2d").
    const std::string text =
        "  407   1234     2 2 65531     5     7     1000  1\n"
        "    0 4294967295     0 2   128     0     0        0  1\n"
        "garbage line\n"
        "1 2 3\n"
        "1 2 3 4 5 6 7 8 9 10\n"
        "1 2 3 4 5 6 7 -8 9\n"
        "1 2 3 4 5 6 7 99999999999 9\n";
    auto all = netfilter::parse_queue_proc(text);
    REQUIRE(all.size() == 2);
    auto q = netfilter::find_queue(all, 407);
    REQUIRE(q);
    CHECK(q->peer_portid == 1234);
    CHECK(q->waiting == 2);
    CHECK(q->copy_range == 65531);
    CHECK(q->queue_dropped == 5);
    CHECK(q->user_dropped == 7);
    CHECK(q->id_sequence == 1000);
    CHECK(netfilter::find_queue(all, 0)->peer_portid == 4294967295u);
    CHECK_FALSE(netfilter::find_queue(all, 1));
    CHECK(netfilter::parse_queue_proc("").empty());
}

namespace {

// A status answer that carries every figure of the counter table, each with
// its own value (its index + 1), as the daemon's status_json places them.
nlohmann::json full_status() {
    nlohmann::json st = {{"ok", true}, {"version", "x"}, {"queue", 407}, {"uptime", 12.5},
                         {"counters", nlohmann::json::object()}, {"hold_budget", nlohmann::json::object()}};
    std::uint64_t v = 1;
    for (const auto& c : helper::counter_table()) {
        const std::string key(c.status_key);
        switch (c.place) {
            case helper::StatusPlace::counters: st["counters"][key] = v; break;
            case helper::StatusPlace::top: st[key] = v; break;
            case helper::StatusPlace::hold_budget: st["hold_budget"][key] = v; break;
        }
        ++v;
    }
    return st;
}

// The series docs/metrics.md lists: the first cell of each table row.
std::set<std::string> documented_series() {
    std::ifstream in("docs/metrics.md");
    REQUIRE(in.good());
    std::set<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("| `tbhelper_", 0) != 0) continue;
        const auto end = line.find('`', 3);
        std::string name = line.substr(3, end - 3);
        if (auto brace = name.find('{'); brace != std::string::npos) name.resize(brace);
        out.insert(name);
    }
    return out;
}

}  // namespace

TEST_CASE("metrics: every table figure the status carries is a series, named by its kind") {
    const auto st = full_status();
    ctl::MetricsInput in;
    in.status = &st;
    in.expectations_pending = 3;
    in.queue_proc = netfilter::QueueProcEntry{407, 1, 2, 2, 65535, 4, 5, 99};
    const auto fams = ctl::metrics_families(in);
    std::map<std::string, const ctl::MetricFamily*> by_name;
    for (const auto& f : fams) {
        INFO(f.name);
        CHECK(by_name.emplace(f.name, &f).second);  // unique
        CHECK_FALSE(f.help.empty());
        CHECK(f.name.rfind("tbhelper_", 0) == 0);
        CHECK((f.kind == ctl::MetricKind::counter) == (f.name.size() > 6 && f.name.ends_with("_total")));
    }
    std::uint64_t v = 1;
    for (const auto& c : helper::counter_table()) {
        const bool counter = c.kind == helper::CounterKind::counter;
        const std::string name = "tbhelper_" + std::string(c.name) + (counter ? "_total" : "");
        INFO(name);
        REQUIRE(by_name.count(name));
        CHECK(std::get<std::uint64_t>(by_name[name]->samples.at(0).value) == v);
        ++v;
    }
    CHECK(std::get<std::uint64_t>(by_name["tbhelper_up"]->samples[0].value) == 1);
    CHECK(std::get<double>(by_name["tbhelper_uptime_seconds"]->samples[0].value) == 12.5);
    CHECK(std::get<std::uint64_t>(by_name["tbhelper_expectations_pending"]->samples[0].value) == 3);
    CHECK(std::get<std::uint64_t>(by_name["tbhelper_queue_dropped_total"]->samples[0].value) == 4);
    CHECK(by_name["tbhelper_queue_user_dropped_total"]->samples[0].labels.at(0).second == "407");

    // docs/metrics.md lists exactly these series.
    std::set<std::string> emitted;
    for (const auto& f : fams) emitted.insert(f.name);
    CHECK(documented_series() == emitted);
    // And the whole text renders (no invalid name anywhere).
    CHECK_NOTHROW(ctl::render_prometheus(fams));
}

TEST_CASE("metrics: the daemon down gives tbhelper_up 0 and none of its series") {
    ctl::MetricsInput in;
    const auto fams = ctl::metrics_families(in);
    REQUIRE(fams.size() == 1);
    CHECK(fams[0].name == "tbhelper_up");
    CHECK(std::get<std::uint64_t>(fams[0].samples[0].value) == 0);
    // A status with a counter of the wrong type is left out, not reported as 0.
    nlohmann::json st = {{"counters", {{"packets", "many"}}}};
    in.status = &st;
    for (const auto& f : ctl::metrics_families(in)) CHECK(f.name != "tbhelper_packets_total");
}
