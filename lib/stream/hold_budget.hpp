// One budget for the bytes that TCP readers hold out of order, shared by every
// session of a daemon (or of one analyze run). Each direction already has its
// own bound (StreamReader::kMaxHeldSegments, kMaxHeldBytes); this one bounds
// the sum, so that many connections each holding a little cannot add up to a
// lot. The owner creates it once and passes it to each Session; it must
// outlive them. Single-threaded, like the rest of the engine.
// See docs/protocol-model.md#hold-budget.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tb::stream {

class HoldBudget {
public:
    // 2 MiB: 128 directions at their full bound (16 KiB) at once. Holding is
    // rare and brief (reordering on the path); at 1000 connections all holding
    // as much as they may, each gets about 2 KiB (docs/protocol-model.md#memory).
    static constexpr std::size_t kDefaultCapacity = 2 * 1024 * 1024;

    explicit HoldBudget(std::size_t capacity_bytes = kDefaultCapacity) : capacity_(capacity_bytes) {}
    HoldBudget(const HoldBudget&) = delete;
    HoldBudget& operator=(const HoldBudget&) = delete;

    // Takes `bytes` when they fit; false (and nothing taken) when they do not.
    bool try_take(std::size_t bytes) {
        if (bytes > capacity_ - used_) {
            ++refusals_;
            return false;
        }
        used_ += bytes;
        return true;
    }
    void give_back(std::size_t bytes) { used_ = bytes > used_ ? 0 : used_ - bytes; }

    std::size_t capacity() const { return capacity_; }
    std::size_t used() const { return used_; }
    // How often a segment did not fit (it or a further one was dropped instead).
    std::uint64_t refusals() const { return refusals_; }

private:
    std::size_t capacity_;
    std::size_t used_ = 0;
    std::uint64_t refusals_ = 0;
};

}  // namespace tb::stream
