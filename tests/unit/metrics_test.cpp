// The Prometheus text renderer (lib/ctl/metrics) and the parser of the
// kernel's NFQUEUE counters (lib/netfilter/queue_stats). The end-to-end
// check of `tbhelperctl metrics` with a real parser of the format is
// tests/integration/metrics_format.sh.
#include <catch2/catch.hpp>

#include "ctl/metrics.hpp"
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
