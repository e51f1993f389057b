// The Prometheus text exposition format (version 0.0.4, which node_exporter's
// textfile collector and every Prometheus server read; its counters are the
// OpenMetrics ones with the `_total` suffix). Pure: families in, text out.
// Which families tbhelperctl prints, from which table, is ctl/metrics_cmd
// (docs/metrics.md lists every series).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "netfilter/queue_proc.hpp"

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

// What `tbhelperctl metrics` gathered: the daemon's status answer (nullptr:
// the daemon did not answer), the kernel's line for the queue
// (/proc/net/netfilter/nfnetlink_queue; nullopt: not bound or not readable)
// and the pending expectations of helper timbuktu (nullopt: ctnetlink not
// reachable).
struct MetricsInput {
    const nlohmann::json* status = nullptr;
    std::uint32_t queue = 407;
    std::optional<netfilter::QueueProcEntry> queue_proc;
    std::optional<std::uint64_t> expectations_pending;
};

// Every series, in a stable order: tbhelper_up, the daemon's uptime, every
// figure of the one counter table (helper/counter_table.hpp: counters as
// tbhelper_<name>_total, gauges as tbhelper_<name>) that the status answer
// carries, the pending expectations, and the kernel's own queue counters.
// docs/metrics.md lists them; a unit test keeps that page and this in step.
std::vector<MetricFamily> metrics_families(const MetricsInput& in);

// A valid metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':').
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

// HELP and TYPE line for each family, then its samples; families with an
// invalid name are a programming error (std::invalid_argument), so the
// output never carries a line a scraper rejects.
std::string render_prometheus(const std::vector<MetricFamily>& families);

}  // namespace tb::ctl
