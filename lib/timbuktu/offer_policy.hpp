// Whether an offered stream may become an expectation, and the table of the
// streams a contact connection has been given (docs/protocol-model.md#offers).
// Pure: the session asks, and turns the answers into Expects and Refuses.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "timbuktu/connection.hpp"
#include "timbuktu/decisions.hpp"
#include "timbuktu/persisted_state.hpp"
#include "timbuktu/policy.hpp"

namespace tb::timbuktu {

// Hard bound on the per-connection table of accepted offers, whatever the
// policy says (the configuration allows at most this many).
constexpr std::size_t kMaxOfferTable = kMaxExpectationsLimit;

enum class OfferCheck : std::uint8_t {
    allowed,
    third_party_address,  // IPv4: the address is neither 0.0.0.0 nor the host H
    port_not_allowed,     // outside the policy's allowed_ports
};
// An offer the host made on this contact connection: may it be expected?
OfferCheck check_offer(const PortOffer& offer, const ConnectionFacts& facts, const Policy& policy);

// The Expect for an allowed, admitted offer: from the guest to the address the
// guest used, for the offer's lifetime when shorter than the policy's timeout.
Expect expect_for(const PortOffer& offer, const ConnectionFacts& facts, const Policy& policy);

// The distinct offered streams of one contact connection.
class OfferTable {
public:
    enum class Admission : std::uint8_t {
        repeat,      // offered before: the same Expect again replaces the earlier one
        accepted,    // a new stream within max_expectations
        over_limit,  // a new stream beyond max_expectations: refused, the table unchanged
    };
    Admission admit(const PortOffer& offer, const Policy& policy);

    // Distinct streams accepted so far (at most kMaxOfferTable).
    std::uint32_t accepted() const { return accepted_; }
    // The streams remembered, most recent last (at most kMaxOfferTable).
    const std::vector<OfferKey>& keys() const { return keys_; }
    // A restored session: `keys` most recent last.
    void restore(std::uint32_t accepted, std::span<const OfferKey> keys);
    std::size_t heap_bytes() const { return keys_.capacity() * sizeof(OfferKey); }

private:
    std::vector<OfferKey> keys_;
    std::uint32_t accepted_ = 0;
};

}  // namespace tb::timbuktu
