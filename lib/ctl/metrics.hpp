// The Prometheus text exposition format (version 0.0.4, which node_exporter's
// textfile collector and every Prometheus server read; its counters are the
// OpenMetrics ones with the `_total` suffix). Pure: families in, text out.
// Which families tbhelperctl prints, from which table, is ctl/metrics_cmd
// (docs/metrics.md lists every series).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tb::ctl {

enum class MetricKind : std::uint8_t { counter, gauge };

struct MetricSample {
    std::vector<std::pair<std::string, std::string>> labels;  // name, value (escaped on output)
    std::variant<std::uint64_t, double> value;
};

struct MetricFamily {
    std::string name;  // full sample name: tbhelper_..., counters end in _total
    std::string help;  // one line of plain text (escaped on output)
    MetricKind kind = MetricKind::counter;
    std::vector<MetricSample> samples;
};

// A valid metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':').
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

// HELP and TYPE line for each family, then its samples; families with an
// invalid name are a programming error (std::invalid_argument), so the
// output never carries a line a scraper rejects.
std::string render_prometheus(const std::vector<MetricFamily>& families);

}  // namespace tb::ctl
