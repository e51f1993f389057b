// Counters of spec/interfaces.md (`tbhelperctl status --json`). Plain integers:
// the daemon is single-threaded. Saturating adds keep them bounded.
#pragma once

#include <cstdint>
#include <map>

namespace tb::timbuktu {

struct Counters {
    std::uint64_t packets = 0;               // packets handed to the engine
    std::uint64_t sessions = 0;              // valid HELLOs: Timbuktu sessions recognized
    std::uint64_t not_timbuktu = 0;          // flows on a contact port that were not Timbuktu
    std::uint64_t offers = 0;                // well-formed host PORT-OFFERs seen
    std::uint64_t expectations_created = 0;  // Expect decisions (the daemon counts kernel failures apart)
    std::uint64_t expectations_refused = 0;  // Refuse decisions
    std::uint64_t malformed = 0;             // frames or datagrams rejected
    std::uint64_t forged = 0;                // PORT-OFFERs from the guest side
    std::uint64_t rewrites = 0;              // Rewrite decisions
    std::uint64_t stream_lost = 0;           // gaps / overflows that stopped parsing
    std::uint64_t rewrites_skipped = 0;      // addresses that needed a B8 rewrite but did not lie
                                             // whole inside the current packet (straddled / earlier)
    std::uint64_t reflected = 0;             // flows made hostile by a reflected or cross-class frame (B10)
    std::uint64_t unmodelled = 0;            // flows that are Timbuktu outside the model (B9)
    std::uint64_t held_dropped = 0;          // out-of-order TCP segments dropped to stay within the
                                             // holding bounds (the peer retransmits them)
    std::uint64_t opcodes_unbucketed = 0;    // B6 opcodes counted after other_opcodes was full
    std::map<std::uint16_t, std::uint64_t> other_opcodes;  // B6, bounded to kMaxOpcodeBuckets keys

    static constexpr std::size_t kMaxOpcodeBuckets = 64;
    void count_opcode(std::uint16_t opcode);
};

inline void saturating_inc(std::uint64_t& c) {
    if (c != UINT64_MAX) ++c;
}

}  // namespace tb::timbuktu
