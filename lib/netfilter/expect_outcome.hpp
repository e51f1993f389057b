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

#include "helper/expectation_result.hpp"

namespace tb::netfilter {

// Any refusal of a NAT-following expectation is nat_follow_unavailable: the
// daemon does not retry without NAT following, whatever the errno.
inline helper::ExpectationResult classify_expect_failure(bool follow_nat, int err) {
    helper::ExpectationResult r;
    r.kind = follow_nat ? helper::ExpectationResult::Kind::nat_follow_unavailable
                        : helper::ExpectationResult::Kind::kernel_error;
    r.error = err;
    return r;
}

}  // namespace tb::netfilter
