// What creating one expectation came to, as values: the helper runtime counts
// it, the daemon's edge puts a failure into words (nfhelper/kernel_text), and
// the kernel adapter classifies the kernel's answer into it
// (netfilter/expect_outcome.hpp). One type for all three.
#pragma once

#include <cstdint>

namespace tb::helper {

struct ExpectationResult {
    enum class Kind : std::uint8_t {
        created,
        kernel_error,            // counted in kernel_errors
        nat_follow_unavailable,  // kernel_errors and nat_follow_refused (docs/daemon.md#nat-no-fallback)
    } kind = Kind::created;
    int error = 0;          // the failure: the kernel's errno (words: the edge that logs)
    int timeout_error = 0;  // created, but the offer's shorter timeout could not be set: errno
};

}  // namespace tb::helper
