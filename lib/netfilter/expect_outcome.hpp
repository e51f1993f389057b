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

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace tb::netfilter {

enum class ExpectFailureKind : std::uint8_t {
    kernel_error,            // counted in kernel_errors
    nat_follow_unavailable,  // kernel_errors and nat_follow_refused: NAT-following refused, no fallback
};

struct ExpectFailure {
    ExpectFailureKind kind = ExpectFailureKind::kernel_error;
    std::string why;  // for the log line
};

inline ExpectFailure classify_expect_failure(bool follow_nat, int err) {
    ExpectFailure f;
    if (follow_nat) {
        f.kind = ExpectFailureKind::nat_follow_unavailable;
        // EINVAL is what ctnetlink answers for an unknown expectation function.
        f.why = std::string(std::strerror(err)) +
                (err == EINVAL ? " (is nf_nat loaded? the kernel needs its \"nat-follow-master\")" : "") +
                "; the contact connection is NATed, so no expectation without NAT following is tried "
                "(it would open the offered port towards the firewall itself)";
        return f;
    }
    f.why = std::strerror(err);
    return f;
}

}  // namespace tb::netfilter
