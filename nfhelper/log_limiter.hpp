// One rate limit on tbhelperd's whole log (docs/daemon.md#log-rate-limit): a
// token bucket that lets a burst through, then a steady number of lines per
// second. A guest that provokes a warning per frame or per packet must not
// be able to fill the disk or drown the operator's journal. Pure (the clock
// is a parameter), so the unit tests drive it with a fake clock.
#pragma once

#include <cstdint>

namespace tb::daemon {

class LogLimiter {
public:
    static constexpr double kDefaultBurst = 200;      // lines let through at once
    static constexpr double kDefaultPerSecond = 20;   // lines per second after the burst

    explicit LogLimiter(double burst = kDefaultBurst, double per_second = kDefaultPerSecond)
        : burst_(burst), rate_(per_second), tokens_(burst) {}

    // At time `now` (seconds, any monotonic origin): may one more line be
    // written? A refused line is counted as suppressed.
    bool admit(double now);
    // Lines refused since the last call; resets the count. The caller writes
    // the "N messages suppressed" summary line when this is non-zero.
    std::uint64_t take_suppressed();
    std::uint64_t suppressed() const { return suppressed_; }
    std::uint64_t suppressed_total() const { return suppressed_total_; }

private:
    void refill(double now);

    double burst_;
    double rate_;
    double tokens_;
    double last_ = 0;
    bool started_ = false;
    std::uint64_t suppressed_ = 0;
    std::uint64_t suppressed_total_ = 0;
};

}  // namespace tb::daemon
