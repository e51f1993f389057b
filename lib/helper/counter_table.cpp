#include "helper/counter_table.hpp"

#include <array>
#include <type_traits>

namespace tb::helper {

std::string_view counter_kind_name(CounterKind kind) {
    switch (kind) {
        case CounterKind::counter: return "counter";
        case CounterKind::gauge: return "gauge";
    }
    return "counter";
}

namespace {

// One reader per figure: `Source` picks the struct in CounterSources, `Field`
// the figure in it (a data member, or a const member function for the hold
// budget's). The figure is absent when its source is.
template <auto Source, auto Field>
std::optional<std::uint64_t> read_figure(const CounterSources& s) {
    const auto* source = s.*Source;
    if (!source) return std::nullopt;
    if constexpr (std::is_member_function_pointer_v<decltype(Field)>)
        return static_cast<std::uint64_t>((source->*Field)());
    else
        return static_cast<std::uint64_t>(source->*Field);
}
template <auto Field> constexpr auto from_engine = &read_figure<&CounterSources::engine, Field>;
template <auto Field> constexpr auto from_kernel = &read_figure<&CounterSources::kernel, Field>;
template <auto Field> constexpr auto from_queue = &read_figure<&CounterSources::queue, Field>;
template <auto Field> constexpr auto from_daemon = &read_figure<&CounterSources::daemon, Field>;
template <auto Field> constexpr auto from_budget = &read_figure<&CounterSources::hold_budget, Field>;

using E = timbuktu::Counters;
using K = KernelCounters;
using Q = netfilter::QueueStats;
using D = CounterSources::Daemon;
using B = stream::HoldBudget;

constexpr auto C = CounterKind::counter;
constexpr auto G = CounterKind::gauge;
constexpr auto IN_COUNTERS = StatusPlace::counters;
constexpr auto TOP = StatusPlace::top;
constexpr auto BUDGET = StatusPlace::hold_budget;

// name, status key, place, analyze key, mandatory, kind, help, read
constexpr std::array kTable = {
    // The counters docs/control-socket.md makes mandatory, in its order.
    CounterInfo{"packets", "packets", IN_COUNTERS, "", true, C,
                "Packets the queue delivered, each answered with one verdict.", from_queue<&Q::packets>},
    CounterInfo{"sessions", "sessions", IN_COUNTERS, "sessions", true, C,
                "Timbuktu sessions recognized (valid HELLOs).", from_engine<&E::sessions>},
    CounterInfo{"not_timbuktu", "not_timbuktu", IN_COUNTERS, "not_timbuktu", true, C,
                "Flows on a contact port that were not Timbuktu, left alone.", from_engine<&E::not_timbuktu>},
    CounterInfo{"offers", "offers", IN_COUNTERS, "offers", true, C, "Well-formed PORT-OFFERs seen from the host.",
                from_engine<&E::offers>},
    CounterInfo{"expectations_created", "expectations_created", IN_COUNTERS, "expectations_created", true, C,
                "Offers the engine decided to open an expectation for.", from_engine<&E::expectations_created>},
    CounterInfo{"expectations_refused", "expectations_refused", IN_COUNTERS, "expectations_refused", true, C,
                "Offers refused by policy.", from_engine<&E::expectations_refused>},
    CounterInfo{"malformed", "malformed", IN_COUNTERS, "malformed", true, C, "Frames or datagrams rejected as malformed.",
                from_engine<&E::malformed>},
    CounterInfo{"forged", "forged", IN_COUNTERS, "forged", true, C, "PORT-OFFERs from the guest side, never acted on.",
                from_engine<&E::forged>},
    CounterInfo{"rewrites", "rewrites", IN_COUNTERS, "rewrites", true, C, "Addresses rewritten in payloads for NAT.",
                from_engine<&E::rewrites>},
    // The engine's other counters.
    CounterInfo{"packets_examined", "packets_examined", IN_COUNTERS, "packets", false, C,
                "Packets handed to the engine (with payload, or a SYN).", from_engine<&E::packets>},
    CounterInfo{"rewrites_skipped", "rewrites_skipped", IN_COUNTERS, "rewrites_skipped", false, C,
                "Addresses that needed a rewrite but did not lie whole inside one packet.",
                from_engine<&E::rewrites_skipped>},
    CounterInfo{"stream_lost", "stream_lost", IN_COUNTERS, "stream_lost", false, C,
                "Gaps or overflows that stopped parsing a stream.", from_engine<&E::stream_lost>},
    CounterInfo{"reflected", "reflected", IN_COUNTERS, "reflected", false, C,
                "Flows made hostile by a reflected or cross-class frame.", from_engine<&E::reflected>},
    CounterInfo{"unmodelled", "unmodelled", IN_COUNTERS, "unmodelled", false, C,
                "Flows that are Timbuktu but outside the protocol model.", from_engine<&E::unmodelled>},
    CounterInfo{"held_dropped", "held_dropped", IN_COUNTERS, "held_dropped", false, C,
                "Out-of-order TCP segments refused to stay within the holding bounds.", from_engine<&E::held_dropped>},
    CounterInfo{"opcodes_unbucketed", "opcodes_unbucketed", IN_COUNTERS, "opcodes_unbucketed", false, C,
                "Unknown opcodes counted after other_opcodes was full.", from_engine<&E::opcodes_unbucketed>},
    // The kernel layer's (helper runtime).
    CounterInfo{"kernel_errors", "kernel_errors", IN_COUNTERS, "", false, C,
                "Expectation creations or timeout updates the kernel refused.", from_kernel<&K::kernel_errors>},
    CounterInfo{"restored_sessions", "restored_sessions", IN_COUNTERS, "", false, C,
                "Sessions rebuilt from the conntrack's private data.", from_kernel<&K::restored_sessions>},
    CounterInfo{"peer_restored_sessions", "peer_restored_sessions", IN_COUNTERS, "", false, C,
                "Sessions taken over from the other node of a firewall pair, rebuilt from its daemon's copy.",
                from_kernel<&K::peer_restored_sessions>},
    CounterInfo{"dropped_for_retransmit", "dropped_for_retransmit", IN_COUNTERS, "", false, C,
                "Packets of refused out-of-order segments dropped so that their senders retransmit them.",
                from_kernel<&K::dropped_for_retransmit>},
    CounterInfo{"unparsed_packets", "unparsed_packets", IN_COUNTERS, "", false, C,
                "Packets passed unexamined because they could not be parsed.", from_kernel<&K::unparsed_packets>},
    CounterInfo{"no_conntrack", "no_conntrack", IN_COUNTERS, "", false, C,
                "Packets passed unexamined because they came without conntrack.", from_kernel<&K::no_conntrack>},
    CounterInfo{"rewrite_failures", "rewrite_failures", IN_COUNTERS, "", false, C,
                "Rewrites whose bytes were not where the engine said.", from_kernel<&K::rewrite_failures>},
    CounterInfo{"detached", "detached", IN_COUNTERS, "", false, C, "Connections the helper was detached from.",
                from_kernel<&K::detached>},
    CounterInfo{"evictions", "evictions", IN_COUNTERS, "", false, C, "Entries evicted from the full session table.",
                from_kernel<&K::evictions>},
    CounterInfo{"evictions_live", "evictions_live", IN_COUNTERS, "", false, C,
                "Evictions of a live session (the table was full of live sessions).", from_kernel<&K::evictions_live>},
    CounterInfo{"spoofed", "spoofed", IN_COUNTERS, "", false, C,
                "Reply packets that came in through another interface than the original direction left through.",
                from_kernel<&K::spoofed>},
    CounterInfo{"replies_unverified", "replies_unverified", IN_COUNTERS, "", false, C,
                "Reply packets not acted on because the original path was not known.", from_kernel<&K::replies_unverified>},
    CounterInfo{"paths_from_routes", "paths_from_routes", IN_COUNTERS, "", false, C,
                "Original paths taken from a route lookup (sessions restored after a restart).",
                from_kernel<&K::paths_from_routes>},
    CounterInfo{"nat_follow_refused", "nat_follow_refused", IN_COUNTERS, "", false, C,
                "Expectations of a NATed contact connection the kernel refused.", from_kernel<&K::nat_follow_refused>},
    // The queue's.
    CounterInfo{"verdicts", "verdicts", IN_COUNTERS, "", false, C, "Verdicts sent to the kernel.", from_queue<&Q::verdicts>},
    CounterInfo{"verdict_errors", "verdict_errors", IN_COUNTERS, "", false, C,
                "Verdicts the kernel answered with an error, or that could not be sent.", from_queue<&Q::verdict_errors>},
    CounterInfo{"overruns", "overruns", IN_COUNTERS, "", false, C,
                "Queue socket overruns: packets the kernel let pass unexamined.", from_queue<&Q::overruns>},
    CounterInfo{"internal_errors", "internal_errors", IN_COUNTERS, "", false, C,
                "Packets accepted unchanged after an internal error in their handling.", from_queue<&Q::handler_failures>},
    CounterInfo{"unparsable_messages", "unparsable_messages", IN_COUNTERS, "", false, C,
                "Queue messages that could not be read (no packet id).", from_queue<&Q::unparsable>},
    CounterInfo{"gso_packets", "gso_packets", IN_COUNTERS, "", false, C,
                "GSO super-packets read whole on the contact queue.", from_queue<&Q::gso_packets>},
    CounterInfo{"segment_requeues", "segment_requeues", IN_COUNTERS, "", false, C,
                "Packets sent on unexamined to the segment queue, to be read as segments.",
                from_queue<&Q::segment_requeues>},
    // The daemon's.
    CounterInfo{"log_suppressed", "log_suppressed", IN_COUNTERS, "", false, C,
                "Log lines left out by the rate limit.", from_daemon<&D::log_suppressed>},
    CounterInfo{"sessions_tracked", "sessions_tracked", TOP, "", false, G, "Sessions in the session table.",
                from_daemon<&D::sessions_tracked>},
    CounterInfo{"session_capacity", "session_capacity", TOP, "", false, G, "Size of the session table.",
                from_daemon<&D::session_capacity>},
    // The global out-of-order budget (docs/daemon.md#budgets).
    CounterInfo{"hold_budget_capacity", "capacity", BUDGET, "", false, G,
                "Bytes all sessions together may hold out of order.", from_budget<&B::capacity>},
    CounterInfo{"hold_budget_used", "used", BUDGET, "", false, G, "Bytes held out of order now.", from_budget<&B::used>},
    CounterInfo{"hold_budget_refusals", "refusals", BUDGET, "", false, C,
                "Out-of-order segments the global budget refused.", from_budget<&B::refusals>},
};

}  // namespace

std::span<const CounterInfo> counter_table() { return kTable; }

}  // namespace tb::helper
