#include "helper/counter_table.hpp"

#include <array>

namespace tb::helper {

std::string_view counter_kind_name(CounterKind kind) {
    switch (kind) {
        case CounterKind::counter: return "counter";
        case CounterKind::gauge: return "gauge";
    }
    return "counter";
}

namespace {

using Read = std::optional<std::uint64_t> (*)(const CounterSources&);

// One reader per source: a member of the source's struct, absent with the source.
#define TB_ENGINE(field) [](const CounterSources& s) -> std::optional<std::uint64_t> { \
        if (!s.engine) return std::nullopt;                                           \
        return s.engine->field;                                                       \
    }
#define TB_KERNEL(field) [](const CounterSources& s) -> std::optional<std::uint64_t> { \
        if (!s.kernel) return std::nullopt;                                           \
        return s.kernel->field;                                                       \
    }
#define TB_QUEUE(field) [](const CounterSources& s) -> std::optional<std::uint64_t> { \
        if (!s.queue) return std::nullopt;                                           \
        return s.queue->field;                                                       \
    }
#define TB_DAEMON(field) [](const CounterSources& s) -> std::optional<std::uint64_t> { \
        if (!s.daemon) return std::nullopt;                                           \
        return s.daemon->field;                                                       \
    }
#define TB_BUDGET(call) [](const CounterSources& s) -> std::optional<std::uint64_t> { \
        if (!s.hold_budget) return std::nullopt;                                     \
        return static_cast<std::uint64_t>(s.hold_budget->call());                    \
    }

constexpr auto C = CounterKind::counter;
constexpr auto G = CounterKind::gauge;
constexpr auto IN_COUNTERS = StatusPlace::counters;
constexpr auto TOP = StatusPlace::top;
constexpr auto BUDGET = StatusPlace::hold_budget;

// name, status key, place, analyze key, mandatory, kind, help, read
constexpr std::array kTable = {
    // The counters docs/control-socket.md makes mandatory, in its order.
    CounterInfo{"packets", "packets", IN_COUNTERS, "", true, C,
                "Packets the queue delivered, each answered with one verdict.", TB_QUEUE(packets)},
    CounterInfo{"sessions", "sessions", IN_COUNTERS, "sessions", true, C,
                "Timbuktu sessions recognized (valid HELLOs).", TB_ENGINE(sessions)},
    CounterInfo{"not_timbuktu", "not_timbuktu", IN_COUNTERS, "not_timbuktu", true, C,
                "Flows on a contact port that were not Timbuktu, left alone.", TB_ENGINE(not_timbuktu)},
    CounterInfo{"offers", "offers", IN_COUNTERS, "offers", true, C, "Well-formed PORT-OFFERs seen from the host.",
                TB_ENGINE(offers)},
    CounterInfo{"expectations_created", "expectations_created", IN_COUNTERS, "expectations_created", true, C,
                "Offers the engine decided to open an expectation for.", TB_ENGINE(expectations_created)},
    CounterInfo{"expectations_refused", "expectations_refused", IN_COUNTERS, "expectations_refused", true, C,
                "Offers refused by policy.", TB_ENGINE(expectations_refused)},
    CounterInfo{"malformed", "malformed", IN_COUNTERS, "malformed", true, C, "Frames or datagrams rejected as malformed.",
                TB_ENGINE(malformed)},
    CounterInfo{"forged", "forged", IN_COUNTERS, "forged", true, C, "PORT-OFFERs from the guest side, never acted on.",
                TB_ENGINE(forged)},
    CounterInfo{"rewrites", "rewrites", IN_COUNTERS, "rewrites", true, C, "Addresses rewritten in payloads for NAT.",
                TB_ENGINE(rewrites)},
    // The engine's other counters.
    CounterInfo{"packets_examined", "packets_examined", IN_COUNTERS, "packets", false, C,
                "Packets handed to the engine (with payload, or a SYN).", TB_ENGINE(packets)},
    CounterInfo{"rewrites_skipped", "rewrites_skipped", IN_COUNTERS, "rewrites_skipped", false, C,
                "Addresses that needed a rewrite but did not lie whole inside one packet.",
                TB_ENGINE(rewrites_skipped)},
    CounterInfo{"stream_lost", "stream_lost", IN_COUNTERS, "stream_lost", false, C,
                "Gaps or overflows that stopped parsing a stream.", TB_ENGINE(stream_lost)},
    CounterInfo{"reflected", "reflected", IN_COUNTERS, "reflected", false, C,
                "Flows made hostile by a reflected or cross-class frame.", TB_ENGINE(reflected)},
    CounterInfo{"unmodelled", "unmodelled", IN_COUNTERS, "unmodelled", false, C,
                "Flows that are Timbuktu but outside the protocol model.", TB_ENGINE(unmodelled)},
    CounterInfo{"held_dropped", "held_dropped", IN_COUNTERS, "held_dropped", false, C,
                "Out-of-order TCP segments refused to stay within the holding bounds.", TB_ENGINE(held_dropped)},
    CounterInfo{"opcodes_unbucketed", "opcodes_unbucketed", IN_COUNTERS, "opcodes_unbucketed", false, C,
                "Unknown opcodes counted after other_opcodes was full.", TB_ENGINE(opcodes_unbucketed)},
    // The kernel layer's (helper runtime).
    CounterInfo{"kernel_errors", "kernel_errors", IN_COUNTERS, "", false, C,
                "Expectation creations or timeout updates the kernel refused.", TB_KERNEL(kernel_errors)},
    CounterInfo{"restored_sessions", "restored_sessions", IN_COUNTERS, "", false, C,
                "Sessions rebuilt from the conntrack's private data.", TB_KERNEL(restored_sessions)},
    CounterInfo{"dropped_for_retransmit", "dropped_for_retransmit", IN_COUNTERS, "", false, C,
                "Packets of refused out-of-order segments dropped so that their senders retransmit them.",
                TB_KERNEL(dropped_for_retransmit)},
    CounterInfo{"unparsed_packets", "unparsed_packets", IN_COUNTERS, "", false, C,
                "Packets passed unexamined because they could not be parsed.", TB_KERNEL(unparsed_packets)},
    CounterInfo{"no_conntrack", "no_conntrack", IN_COUNTERS, "", false, C,
                "Packets passed unexamined because they came without conntrack.", TB_KERNEL(no_conntrack)},
    CounterInfo{"rewrite_failures", "rewrite_failures", IN_COUNTERS, "", false, C,
                "Rewrites whose bytes were not where the engine said.", TB_KERNEL(rewrite_failures)},
    CounterInfo{"detached", "detached", IN_COUNTERS, "", false, C, "Connections the helper was detached from.",
                TB_KERNEL(detached)},
    CounterInfo{"evictions", "evictions", IN_COUNTERS, "", false, C, "Entries evicted from the full session table.",
                TB_KERNEL(evictions)},
    CounterInfo{"evictions_live", "evictions_live", IN_COUNTERS, "", false, C,
                "Evictions of a live session (the table was full of live sessions).", TB_KERNEL(evictions_live)},
    CounterInfo{"spoofed", "spoofed", IN_COUNTERS, "", false, C,
                "Reply packets that came in through another interface than the original direction left through.",
                TB_KERNEL(spoofed)},
    CounterInfo{"replies_unverified", "replies_unverified", IN_COUNTERS, "", false, C,
                "Reply packets not acted on because the original path was not known.", TB_KERNEL(replies_unverified)},
    CounterInfo{"paths_from_routes", "paths_from_routes", IN_COUNTERS, "", false, C,
                "Original paths taken from a route lookup (sessions restored after a restart).",
                TB_KERNEL(paths_from_routes)},
    CounterInfo{"nat_follow_refused", "nat_follow_refused", IN_COUNTERS, "", false, C,
                "Expectations of a NATed contact connection the kernel refused.", TB_KERNEL(nat_follow_refused)},
    // The queue's.
    CounterInfo{"verdicts", "verdicts", IN_COUNTERS, "", false, C, "Verdicts sent to the kernel.", TB_QUEUE(verdicts)},
    CounterInfo{"verdict_errors", "verdict_errors", IN_COUNTERS, "", false, C,
                "Verdicts the kernel answered with an error, or that could not be sent.", TB_QUEUE(verdict_errors)},
    CounterInfo{"overruns", "overruns", IN_COUNTERS, "", false, C,
                "Queue socket overruns: packets the kernel let pass unexamined.", TB_QUEUE(overruns)},
    CounterInfo{"internal_errors", "internal_errors", IN_COUNTERS, "", false, C,
                "Packets accepted unchanged after an internal error in their handling.", TB_QUEUE(handler_failures)},
    CounterInfo{"unparsable_messages", "unparsable_messages", IN_COUNTERS, "", false, C,
                "Queue messages that could not be read (no packet id).", TB_QUEUE(unparsable)},
    // The daemon's.
    CounterInfo{"log_suppressed", "log_suppressed", IN_COUNTERS, "", false, C,
                "Log lines left out by the rate limit.", TB_DAEMON(log_suppressed)},
    CounterInfo{"sessions_tracked", "sessions_tracked", TOP, "", false, G, "Sessions in the session table.",
                TB_DAEMON(sessions_tracked)},
    CounterInfo{"session_capacity", "session_capacity", TOP, "", false, G, "Size of the session table.",
                TB_DAEMON(session_capacity)},
    // The global out-of-order budget (docs/daemon.md#budgets).
    CounterInfo{"hold_budget_capacity", "capacity", BUDGET, "", false, G,
                "Bytes all sessions together may hold out of order.", TB_BUDGET(capacity)},
    CounterInfo{"hold_budget_used", "used", BUDGET, "", false, G, "Bytes held out of order now.", TB_BUDGET(used)},
    CounterInfo{"hold_budget_refusals", "refusals", BUDGET, "", false, C,
                "Out-of-order segments the global budget refused.", TB_BUDGET(refusals)},
};

#undef TB_ENGINE
#undef TB_KERNEL
#undef TB_QUEUE
#undef TB_DAEMON
#undef TB_BUDGET

}  // namespace

std::span<const CounterInfo> counter_table() { return kTable; }

}  // namespace tb::helper
