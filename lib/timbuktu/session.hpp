// docs/protocol-model.md#phases: one contact connection as the firewall sees it. Feed it every
// packet of the connection with payload, in arrival order; it returns the
// decisions for that packet. Bounded memory: reassembly buffers are capped.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "net/address.hpp"
#include "timbuktu/connection.hpp"
#include "timbuktu/policy.hpp"
#include "timbuktu/counters.hpp"
#include "timbuktu/decisions.hpp"
#include "timbuktu/persisted_state.hpp"
#include "timbuktu/phase.hpp"
#include "stream/hold_budget.hpp"

namespace tb::timbuktu {

// Whether a rewrite of this connection's payload is possible at all: IPv4 end
// to end and the conntrack NATed, whatever the policy says now (a reload may
// have turned nat_rewrite off while the rewrites made before it are still
// replayed into retransmissions). Elsewhere the engine only reads, which the
// daemon's GSO path relies on (docs/daemon.md#gso).
inline bool rewrites_possible(const ConnectionFacts& facts) { return is_v4(facts) && natted(facts); }
// Whether the engine rewrites new embedded addresses of this connection
// (docs/protocol-model.md#nat-rewrites).
inline bool may_rewrite(const Policy& policy, const ConnectionFacts& facts) {
    return policy.nat_rewrite && rewrites_possible(facts);
}

class Session {
public:
    // `hold_budget`: the global budget for out-of-order bytes shared by all
    // sessions (docs/protocol-model.md#hold-budget); nullptr: only the
    // per-direction bounds apply. It must outlive the session.
    Session(ConnectionFacts facts, const Policy& policy, Counters& counters, stream::HoldBudget* hold_budget = nullptr);
    // Rebuilds a session from private data a previous daemon stored in the kernel.
    // Returns nullopt (and the caller starts a fresh session) when the bytes are
    // not a state this version wrote.
    static std::optional<Session> restore(ConnectionFacts facts, const Policy& policy, Counters& counters,
                                          std::span<const std::uint8_t> persisted,
                                          stream::HoldBudget* hold_budget = nullptr);
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    Decisions on_packet(const Packet& packet);

    Phase phase() const;
    std::uint8_t service() const;
    // Changes whenever the persisted form changes; the kernel layer writes it
    // back into the conntrack only when it differs from what it last wrote.
    PersistedState persisted() const;
    const ConnectionFacts& facts() const;
    void set_policy(const Policy& policy);  // SIGHUP reload
    // Distinct offered streams accepted on this contact connection (each gave
    // an Expect); StopWatching is only ever issued while this is 0.
    std::uint32_t accepted_offers() const;
    // Engine memory this session owns right now: sizeof(Session), its state and
    // every heap block that state owns (allocator overhead not included). For
    // the memory bounds of docs/protocol-model.md#memory and the benchmark.
    std::size_t memory_bytes() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    explicit Session(std::unique_ptr<Impl> impl);
};

}  // namespace tb::timbuktu
