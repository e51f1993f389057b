// tbhelperd's thin layer around the helper runtime (helper/runtime.hpp): a
// queued packet in, decoded (net::parse_packet) and its conntrack parsed
// (netfilter/conntrack_facts.hpp), the runtime's outcome turned into the
// verdict. The kernel actions the runtime asks for go to lib/netfilter
// (expectations) and rtnetlink (route lookup); its events become log lines.
#pragma once

#include <ctime>
#include <memory>

#include "config/config.hpp"
#include "helper/counters.hpp"
#include "helper/runtime.hpp"
#include "netfilter/expectations.hpp"
#include "netfilter/queue_reader.hpp"
#include "netfilter/route_lookup.hpp"

namespace tb::daemon {

using helper::KernelCounters;

// The runtime's kernel actions, carried out with lib/netfilter and rtnetlink.
class NetfilterPort : public helper::KernelPort {
public:
    explicit NetfilterPort(const Config& config);  // logs a warning when there are no route lookups
    helper::ExpectationResult create_expectation(const helper::ConntrackFacts& master,
                                                 const timbuktu::Expect& e) override;
    std::optional<helper::OriginalPath> route_to(const IpAddress& host) override;
    void set_config(const Config& config) { config_ = &config; }
    const netfilter::ExpectationMaker& expectations() const { return maker_; }

private:
    const Config* config_;
    netfilter::ExpectationMaker maker_;
    netfilter::RouteLookup routes_;
};

// The runtime's events as tbhelperd's log lines (tests/kernel/*.sh grep them).
class LogSink : public helper::EventSink {
public:
    void on_event(const helper::RuntimeEvent& e) override;
};

// The daemon's work on one queued packet (docs/daemon.md#per-packet): decode,
// conntrack facts, the runtime, the verdict. HelperCore::on_packet is this
// with the daemon's runtime and the clock; tests/bench/bench_daemon.cpp times it.
//
// Which queue the packet was read on (docs/daemon.md#gso): the contact queue,
// with the segment queue behind it when GSO is on, or the segment queue.
struct QueueRole {
    std::optional<std::uint16_t> segment_queue;  // on the contact queue: where to send what must be segments
    bool is_segment_queue = false;
};
netfilter::Verdict handle_queued_packet(helper::HelperRuntime& runtime, netfilter::QueuedPacket& pkt, std::time_t now,
                                        const QueueRole& role = {});

class HelperCore {
public:
    explicit HelperCore(const Config& config);

    netfilter::Verdict on_packet(netfilter::QueuedPacket& pkt, const QueueRole& role = {});
    void apply_config(const Config& config);  // SIGHUP: new policy for every session
    void housekeeping(std::time_t now) { runtime_.housekeeping(now); }
    void set_peer(helper::PeerPort* peer) { runtime_.set_peer(peer); }  // docs/ha.md#session-state
    std::vector<helper::ReplicatedState> live_states(std::size_t limit) const { return runtime_.live_states(limit); }

    const timbuktu::Counters& counters() const { return runtime_.counters(); }
    const stream::HoldBudget& hold_budget() const { return runtime_.hold_budget(); }
    const KernelCounters& kernel_counters() const { return runtime_.kernel_counters(); }
    std::size_t sessions_tracked() const { return runtime_.sessions_tracked(); }
    std::size_t session_capacity() const { return runtime_.session_capacity(); }
    std::vector<helper::SessionView> sessions(std::size_t limit, std::size_t& total) const {
        return runtime_.sessions(limit, total);
    }
    const netfilter::ExpectationMaker& expectations() const { return port_.expectations(); }

private:
    Config config_;
    NetfilterPort port_;
    LogSink log_;
    helper::HelperRuntime runtime_;
};

}  // namespace tb::daemon
