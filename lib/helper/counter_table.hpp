// The one list of every figure tbhelperd and `tbhelperctl analyze` report:
// name, help text, kind and how to read it, as a table (the way systemd keeps
// enum names in string tables). The daemon's `status` answer, `tbhelperctl
// status`, analyze's `counters`, docs/daemon.md#control-socket (a unit test
// compares them) and any future metrics export read this table; nothing lists
// counters by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "helper/counters.hpp"
#include "netfilter/queue_stats.hpp"
#include "stream/hold_budget.hpp"
#include "timbuktu/counters.hpp"

namespace tb::helper {

enum class CounterKind {
    counter,  // only grows (saturating) since start
    gauge,    // a current value: goes up and down
};
std::string_view counter_kind_name(CounterKind kind);  // "counter" / "gauge"

// Where a figure sits in the daemon's `status` answer (docs/control-socket.md).
enum class StatusPlace {
    counters,     // "counters": {KEY: n}
    top,          // KEY: n, beside "counters"
    hold_budget,  // "hold_budget": {KEY: n}
};

// What a reading looks at; an absent source makes its figures absent (analyze
// has only the engine's).
struct CounterSources {
    const timbuktu::Counters* engine = nullptr;
    const KernelCounters* kernel = nullptr;
    const netfilter::QueueStats* queue = nullptr;
    const stream::HoldBudget* hold_budget = nullptr;
    struct Daemon {
        std::uint64_t log_suppressed = 0;
        std::uint64_t sessions_tracked = 0;
        std::uint64_t session_capacity = 0;
    };
    const Daemon* daemon = nullptr;
};

struct CounterInfo {
    std::string_view name;        // unique across the table (a metric name's tail)
    std::string_view status_key;  // its key in the daemon's status answer, at `place`
    StatusPlace place;
    std::string_view report_key;  // its key in analyze's "counters"; empty: not an engine figure
    bool mandatory;               // a key `tbhelperctl status` requires (docs/control-socket.md)
    CounterKind kind;
    std::string_view help;        // one sentence, fit for a metrics HELP line
    std::optional<std::uint64_t> (*read)(const CounterSources&);
};

// Every figure, the mandatory status counters first in their documented order.
std::span<const CounterInfo> counter_table();

}  // namespace tb::helper
