#include "log_limiter.hpp"

#include <algorithm>

namespace tb::daemon {

void LogLimiter::refill(double now) {
    if (!started_) {
        started_ = true;
        last_ = now;
        return;
    }
    // A clock that goes backwards (it should not: the caller uses a
    // monotonic one) gives no tokens rather than a negative amount.
    if (now > last_) {
        tokens_ = std::min(burst_, tokens_ + (now - last_) * rate_);
        last_ = now;
    }
}

bool LogLimiter::admit(double now) {
    refill(now);
    if (tokens_ >= 1) {
        tokens_ -= 1;
        return true;
    }
    if (suppressed_ != UINT64_MAX) ++suppressed_;
    if (suppressed_total_ != UINT64_MAX) ++suppressed_total_;
    return false;
}

std::uint64_t LogLimiter::take_suppressed() {
    std::uint64_t n = suppressed_;
    suppressed_ = 0;
    return n;
}

}  // namespace tb::daemon
