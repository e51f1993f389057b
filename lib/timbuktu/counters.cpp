#include "timbuktu/counters.hpp"

namespace tb::timbuktu {

void Counters::count_opcode(std::uint16_t opcode) {
    // Bounded: a peer that cycles through all 65536 opcodes fills at most
    // kMaxOpcodeBuckets keys; the rest are still counted, in one sum.
    auto it = other_opcodes.find(opcode);
    if (it != other_opcodes.end()) {
        saturating_inc(it->second);
    } else if (other_opcodes.size() < kMaxOpcodeBuckets) {
        other_opcodes.emplace(opcode, 1);
    } else {
        saturating_inc(opcodes_unbucketed);
    }
}

}  // namespace tb::timbuktu
