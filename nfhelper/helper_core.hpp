// The per-packet work: kernel facts in, engine decisions out, decisions
// carried out. Owns the session table and the engine's counters; the engine
// itself stays pure (it never sees a socket or a conntrack).
#pragma once

#include <cstdint>
#include <ctime>

#include "config/config.hpp"
#include "timbuktu/policy.hpp"
#include "timbuktu/counters.hpp"
#include "stream/hold_budget.hpp"
#include "netfilter/expectations.hpp"
#include "net/packet.hpp"
#include "queue_reader.hpp"
#include "route_lookup.hpp"
#include "helper/session_table.hpp"
#include "helper/counters.hpp"

namespace tb::daemon {

// The kernel layer's counters live with the helper runtime (lib/helper/counters.hpp).
using KernelCounters = helper::KernelCounters;

// Whether a session in this phase can still lead to an action (an offer, a
// rewrite). The others are junk for the table: short idle limit, evicted
// first (docs/daemon.md#session-table).
bool phase_is_live(timbuktu::Phase p);

class HelperCore {
public:
    static constexpr std::size_t kSessionCapacity = 16384;
    // Idle limits after which a session is dropped from memory (its state stays
    // in the conntrack and is restored if the connection speaks again).
    static constexpr helper::IdleLimits kIdle{};
    // The global out-of-order budget: the engine's default, 4 MiB (256
    // connections at their full per-direction bound at once).
    static constexpr std::size_t kHoldBudgetBytes = stream::HoldBudget::kDefaultCapacity;

    explicit HelperCore(const Config& config);

    Verdict on_packet(QueuedPacket& pkt);
    void apply_config(const Config& config);  // SIGHUP: new policy for every session
    void housekeeping(std::time_t now);       // idle expiry

    const timbuktu::Counters& counters() const { return counters_; }
    const stream::HoldBudget& hold_budget() const { return hold_budget_; }
    const KernelCounters& kernel_counters() const { return kcounters_; }
    std::size_t sessions_tracked() const { return table_.size(); }
    const netfilter::ExpectationMaker& expectations() const { return maker_; }

private:
    void detach(Verdict& v, const helper::SessionKey& key);
    // A reply the interface check refused: counted and logged (rate-limited log).
    void not_from_host(helper::ReplyVerdict verdict, const netfilter::ConntrackFacts& facts, const QueuedPacket& pkt,
                       const helper::SessionEntry* entry);
    std::optional<timbuktu::Session> restore_or_start(const netfilter::ConntrackFacts& facts, timbuktu::PersistedState& written,
                                                    bool may_restore);
    void place(helper::SessionEntry& entry);  // puts the entry in the lane its state calls for
    void carry_out(const timbuktu::Decisions& ds, helper::SessionEntry& entry, const netfilter::ConntrackFacts& facts, QueuedPacket& pkt,
                   const net::ParsedPacket& parsed, bool& mangled, bool& stop, bool& drop);

    Config config_;
    timbuktu::Policy policy_;
    timbuktu::Counters counters_;  // sessions hold a pointer to it: never moved
    // One budget for the bytes every session's TCP readers hold out of order
    // (docs/daemon.md#budgets); sessions hold a pointer to it, and it is
    // declared before table_, so it outlives them.
    stream::HoldBudget hold_budget_{kHoldBudgetBytes};
    KernelCounters kcounters_;
    helper::SessionTable table_;
    netfilter::ExpectationMaker maker_;
    RouteLookup routes_;
    bool warned_no_ct_ = false;
};

}  // namespace tb::daemon
