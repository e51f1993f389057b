// Where a contact connection stands (docs/protocol-model.md#persistence keeps
// it across a daemon restart, so the numbers below are part of the stored form:
// new phases go at the end).
#pragma once

#include <cstdint>
#include <string>

namespace tb::timbuktu {

enum class Phase : std::uint8_t {
    await_hello,    // nothing seen yet from the guest
    await_ack,      // valid HELLO seen, waiting for the host's HELLO-ACK
    framed,         // contact done, stream stays framed: offers may come (docs/protocol-model.md#phases)
    service_data,   // contact done for services 1-4 on TCP: unframed, stop (docs/protocol-model.md#phases)
    not_timbuktu,   // first guest frame was not a valid HELLO: leave alone
    lost,           // a stream position was lost; stopped parsing, said so
    hostile,        // reflected or cross-class frames, or too many malformed ones:
                    // nothing on this flow is ever acted on (docs/protocol-model.md#b10-roles)
    unmodelled,     // Timbuktu whose format the model does not know: passed, never
                    // acted on (docs/protocol-model.md#b9-unmodelled)
};
std::string phase_name(Phase p);

constexpr bool phase_is_terminal(Phase p) {
    return p == Phase::service_data || p == Phase::not_timbuktu || p == Phase::lost || p == Phase::hostile ||
           p == Phase::unmodelled;
}

}  // namespace tb::timbuktu
