// Carries out timbuktu::Expect: a conntrack expectation created through
// ctnetlink (libnetfilter_conntrack's nfexp_* over a libmnl socket, with an ACK
// so that every failure is seen, counted and logged).
//
// Why this path and not an NFQA_EXP nest in the verdict: offers always come
// from the host, i.e. in the reply direction, so the master conntrack is
// confirmed by then and ctnetlink can find it; the ACK gives a real error for
// every failure (the verdict path drops errors silently); a second message can
// shorten the timeout (the kernel's create path always uses the helper
// policy's timeout); and the expectation exists before the packet carrying the
// offer is released, so the guest cannot race it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "conntrack_facts.hpp"
#include "netfilter/expectation.hpp"
#include "netlink_socket.hpp"
#include "timbuktu/decisions.hpp"

namespace tb::netfilter {

class ExpectationMaker {
public:
    ExpectationMaker();

    // Creates (or refreshes) the expectation; `policy_timeout` is what the
    // helper was registered with. Returns 0 or the kernel's positive errno; the
    // caller logs and counts (expect_outcome.hpp says what a failure means).
    // `timeout_error` receives the errno of setting the offer's shorter
    // timeout when that alone failed (the expectation exists, with the
    // policy's timeout), else 0.
    int create(const ConntrackFacts& master, const timbuktu::Expect& e, std::uint32_t policy_timeout,
               int& timeout_error);

    // The most recent expectations created (newest last), for the control socket.
    const std::deque<CreatedExpectation>& recent() const { return recent_; }
    static constexpr std::size_t kRecentLimit = 256;

private:
    int send(const ConntrackFacts& master, const timbuktu::Expect& e, bool create, bool with_fn,
             std::uint32_t timeout);

    NetlinkSocket nl_;
    std::deque<CreatedExpectation> recent_;
};

}  // namespace tb::netfilter
