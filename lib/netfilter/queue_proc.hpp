// The kernel's own counters of an NFQUEUE instance, as
// /proc/net/netfilter/nfnetlink_queue prints them: one line per bound queue,
// nine numbers (nfnetlink_queue's seq_show): queue number, peer port id,
// packets waiting, copy mode, copy range, packets dropped because the queue
// was full, packets dropped because the netlink send to the daemon failed,
// the last packet id handed out, and a constant 1.
//
// Pure text parsing (no file access here): tbhelperctl metrics and the
// daemon's drop warning read the file and hand its text in; the parser is
// fuzzed (tests/fuzz/fuzz_queue_proc.cpp) like every parser of kernel output.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tb::netfilter {

struct QueueProcEntry {
    std::uint32_t queue = 0;
    std::uint32_t peer_portid = 0;      // the bound socket's netlink port id
    std::uint32_t waiting = 0;          // packets queued, not yet given a verdict
    std::uint32_t copy_mode = 0;
    std::uint32_t copy_range = 0;
    std::uint32_t queue_dropped = 0;    // dropped: the queue was full (fail-open: passed uncounted)
    std::uint32_t user_dropped = 0;     // dropped: the netlink send to the daemon failed (socket full)
    std::uint32_t id_sequence = 0;      // the last packet id handed out
};

// Every well-formed line of the file's text; a line that is not nine
// unsigned decimal numbers (a future kernel's format) is skipped. At most
// kMaxQueues lines are read: the file has one per bound queue (65536 at most).
inline constexpr std::size_t kMaxQueues = 65536;
std::vector<QueueProcEntry> parse_queue_proc(std::string_view text);

// The line of queue `queue`, if it is bound.
std::optional<QueueProcEntry> find_queue(const std::vector<QueueProcEntry>& all, std::uint32_t queue);

// Where the kernel publishes them.
inline constexpr const char* kQueueProcPath = "/proc/net/netfilter/nfnetlink_queue";

}  // namespace tb::netfilter
