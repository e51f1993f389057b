// What the NFQUEUE reader counts (netfilter/queue_reader.hpp); a plain struct so
// that the counter table (helper/counter_table.hpp) reads it without the
// netfilter libraries.
#pragma once

#include <cstdint>

namespace tb::netfilter {

struct QueueStats {
    std::uint64_t packets = 0;
    std::uint64_t verdicts = 0;
    std::uint64_t verdict_errors = 0;        // the kernel answered a verdict with an error
    std::uint64_t handler_failures = 0;      // the handler threw: packet accepted unchanged
    std::uint64_t overruns = 0;              // ENOBUFS: the kernel could not deliver (fail-open)
    std::uint64_t unparsable = 0;            // netlink messages we could not read
    // GSO (docs/daemon.md#gso): super-packets read whole on the contact
    // queue, and packets sent on to the segment queue unexamined.
    std::uint64_t gso_packets = 0;
    std::uint64_t segment_requeues = 0;
};

}  // namespace tb::netfilter
