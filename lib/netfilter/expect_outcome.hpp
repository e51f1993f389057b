// What a refused expectation means, decided apart from the netlink code so
// that the unit tests reach it (docs/daemon.md#nat-no-fallback).
//
// A contact connection that is NATed gets expectations that follow its NAT
// ("nat-follow-master" + CTA_EXPECT_NAT). When the kernel refuses that, the
// daemon never retries without the NAT attributes: for a DNATed master such
// an expectation would let the guest reach the firewall itself on the
// offered port (the expected tuple names the address the guest used, D,
// which is the firewall's own address under a port forward).
#pragma once

#include <cstdint>

namespace tb::netfilter {

enum class ExpectFailureKind : std::uint8_t {
    kernel_error,            // counted in kernel_errors
    nat_follow_unavailable,  // kernel_errors and nat_follow_refused: NAT-following refused, no fallback
};

// A failure is its kind and the kernel's errno; the daemon puts it into words
// (nfhelper/kernel_text: expect_failure_text).
struct ExpectFailure {
    ExpectFailureKind kind = ExpectFailureKind::kernel_error;
    int error = 0;
};

// Any refusal of a NAT-following expectation is nat_follow_unavailable: the
// daemon does not retry without NAT following, whatever the errno.
inline ExpectFailure classify_expect_failure(bool follow_nat, int err) {
    return ExpectFailure{follow_nat ? ExpectFailureKind::nat_follow_unavailable : ExpectFailureKind::kernel_error, err};
}

}  // namespace tb::netfilter
