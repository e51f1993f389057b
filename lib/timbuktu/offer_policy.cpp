// Offer policy (see offer_policy.hpp; docs/protocol-model.md#offers).
#include "timbuktu/offer_policy.hpp"

#include <algorithm>

namespace tb::timbuktu {

OfferCheck check_offer(const PortOffer& offer, const ConnectionFacts& facts, const Policy& policy) {
    // An address other than 0.0.0.0 and H would open a pinhole to a third party.
    if (is_v4(facts) && offer.address != 0 && offer.address != facts.host.v4_value())
        return OfferCheck::third_party_address;
    if (!policy.port_allowed(offer.port)) return OfferCheck::port_not_allowed;
    return OfferCheck::allowed;
}

Expect expect_for(const PortOffer& offer, const ConnectionFacts& facts, const Policy& policy) {
    Expect e;
    e.transport = offer.transport;
    e.guest = facts.guest;
    e.address = facts.contact_address;
    e.port = offer.port;
    e.service = offer.service;
    e.timeout_seconds = (offer.lifetime != 0 && offer.lifetime < policy.expectation_timeout)
                            ? offer.lifetime
                            : policy.expectation_timeout;
    e.follow_nat = natted(facts);
    return e;
}

OfferTable::Admission OfferTable::admit(const PortOffer& offer, const Policy& policy) {
    const OfferKey key{offer.transport, offer.port};
    auto known = std::find(keys_.begin(), keys_.end(), key);
    if (known != keys_.end()) {
        keys_.erase(known);  // moves to the most recent place
        keys_.push_back(key);
        return Admission::repeat;
    }
    const std::size_t limit = std::min<std::size_t>(policy.max_expectations, kMaxOfferTable);
    if (accepted_ >= limit) return Admission::over_limit;
    ++accepted_;
    if (keys_.size() >= kMaxOfferTable) keys_.erase(keys_.begin());
    keys_.push_back(key);
    return Admission::accepted;
}

void OfferTable::restore(std::uint32_t accepted, std::span<const OfferKey> keys) {
    accepted_ = accepted;
    keys_.assign(keys.begin(), keys.end());
}

}  // namespace tb::timbuktu
