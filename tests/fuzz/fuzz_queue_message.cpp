// libFuzzer target: what tbhelperd reads from its queue sockets and answers
// (lib/netfilter/queue_reader.cpp: decode_queue_message, build_verdict_message)
// and the per-packet path between them (nfhelper/helper_core.cpp:
// handle_queued_packet, with the helper runtime behind it). The input is a
// run of netlink messages as the kernel would send them; each one's
// nlmsg_seq picks the queue it was read on: the only queue (gso = false), the
// contact queue with a segment queue behind it, or the segment queue
// (docs/daemon.md#gso). One runtime sees the whole run, so sessions, their
// segment marks and the table carry over from message to message.
//
// Invariants: every span decoded lies inside the message; a requeue is asked
// only on a contact queue that has a segment queue, carries nothing else, and
// never of the segment queue itself (no loop); a packet whose checksum is not
// computed, or a super-packet, is never sent back rewritten from a GSO queue
// (the kernel would take the patched checksum as complete); a cut copy is
// never sent back; every verdict message fits its buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <libmnl/libmnl.h>

#include "helper_core.hpp"
#include "invariant.hpp"
#include "netfilter/netlink_socket.hpp"
#include "netfilter/queue_reader.hpp"

using namespace tb;

namespace {

struct NullPort : helper::KernelPort {
    helper::ExpectationResult create_expectation(const helper::ConntrackFacts&, const timbuktu::Expect&) override {
        return {};
    }
    std::optional<helper::OriginalPath> route_to(const IpAddress&) override { return std::nullopt; }
};
struct NullSink : helper::EventSink {
    void on_event(const helper::RuntimeEvent&) override {}
};

bool inside(std::span<const std::uint8_t> part, const std::uint8_t* begin, std::size_t size) {
    return part.empty() || (part.data() >= begin && part.data() + part.size() <= begin + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Aligned, writable, as a receive buffer is.
    std::vector<std::uint32_t> storage(size / 4 + 1);
    std::memcpy(storage.data(), data, size);
    auto* buf = reinterpret_cast<std::uint8_t*>(storage.data());

    NullPort port;
    NullSink sink;
    timbuktu::Policy policy;
    helper::RuntimeOptions options;
    options.session_capacity = 64;
    helper::HelperRuntime runtime(helper::kTimbuktuHelper, policy, options, port, sink);
    std::vector<char> out(netfilter::kVerdictBufferSize);

    int left = static_cast<int>(size);
    std::time_t now = 1000;
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf); netfilter::message_fits(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        daemon::QueueRole role;
        switch (nlh->nlmsg_seq % 3) {
            case 0: break;  // gso = false: the only queue
            case 1: role.segment_queue = 408; break;
            case 2: role.is_segment_queue = true; break;
        }
        netfilter::QueuedPacket pkt;
        int error = 0;
        const auto kind = netfilter::decode_queue_message(nlh, pkt, error);
        if (kind == netfilter::QueueMessage::error) INVARIANT(error > 0 && error < 4096);
        if (kind != netfilter::QueueMessage::packet) continue;
        const auto* msg = reinterpret_cast<const std::uint8_t*>(nlh);
        INVARIANT(inside(pkt.data, msg, nlh->nlmsg_len));
        if (pkt.ct) INVARIANT(inside(*pkt.ct, msg, nlh->nlmsg_len));

        const bool gso = pkt.gso, csum_not_ready = pkt.csum_not_ready, truncated = pkt.truncated;
        const netfilter::Verdict v = daemon::handle_queued_packet(runtime, pkt, now, role);
        if (v.requeue_to) {
            INVARIANT(role.segment_queue && *v.requeue_to == *role.segment_queue);
            INVARIANT(!v.send_packet && !v.drop && v.ct_nest.empty());
        }
        if (role.is_segment_queue) INVARIANT(!v.requeue_to);
        if (v.send_packet && role.segment_queue) INVARIANT(!gso && !csum_not_ready);
        if (v.send_packet) INVARIANT(!truncated);

        const nlmsghdr* answer = netfilter::build_verdict_message(out, 407, pkt.id, v, pkt.data);
        INVARIANT(answer->nlmsg_len <= out.size());
        now += nlh->nlmsg_pid % 4;  // the clock moves as the input says
    }
    return 0;
}
