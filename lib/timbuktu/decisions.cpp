#include "timbuktu/decisions.hpp"

namespace tb::timbuktu {

std::string refuse_reason_name(RefuseReason r) {
    switch (r) {
        case RefuseReason::forged_guest_offer: return "forged";
        case RefuseReason::third_party_address: return "third-party-address";
        case RefuseReason::port_not_allowed: return "port-not-allowed";
        case RefuseReason::too_many_expectations: return "too-many-expectations";
    }
    return "unknown";
}

}  // namespace tb::timbuktu
