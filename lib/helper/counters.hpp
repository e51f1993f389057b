// Counters of the kernel layer: what the helper runtime did with the kernel's
// packets and conntracks (the engine keeps its own, timbuktu::Counters). Every
// one is listed, with its help text, in helper/counter_table.hpp.
#pragma once

#include <cstdint>

namespace tb::helper {

struct KernelCounters {
    std::uint64_t kernel_errors = 0;       // failed expectation creations / updates
    std::uint64_t restored_sessions = 0;   // sessions rebuilt from the conntrack's private data
    std::uint64_t peer_restored_sessions = 0;  // sessions rebuilt from the peer daemon's copy (docs/ha.md#session-state)
    std::uint64_t dropped_for_retransmit = 0;  // segments beyond a gap the engine could not hold: NF_DROP
    std::uint64_t unparsed_packets = 0;    // not IPv4/IPv6 + TCP/UDP, or truncated: accepted unchanged
    std::uint64_t no_conntrack = 0;        // queued without NFQA_CT: accepted unchanged
    std::uint64_t rewrite_failures = 0;    // a Rewrite whose bytes were not where the engine said
    std::uint64_t detached = 0;            // StopWatching carried out
    std::uint64_t evictions = 0;           // entries pushed out of the full table (junk first)
    std::uint64_t evictions_live = 0;      // of which live sessions (no junk was left to evict)
    std::uint64_t spoofed = 0;             // reply packets from another interface than the original left by
    std::uint64_t replies_unverified = 0;  // reply packets not acted on: original path unknown or not reported
    std::uint64_t paths_from_routes = 0;   // original paths taken from a route lookup (restored sessions)
    std::uint64_t nat_follow_refused = 0;  // NAT-following expectations the kernel refused (no fallback)
};

}  // namespace tb::helper
