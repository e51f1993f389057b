// What the protocol engine asks the kernel layer to do. The engine never
// touches a socket; tbhelperd carries these out, tbhelperctl analyze prints them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "net/address.hpp"

namespace tb::timbuktu {

// Open a pinhole: from `guest` (any source port) to `address`:`port` over
// `transport`, for `timeout_seconds`; when `follow_nat`, the expected stream
// takes its master's NAT translation (kernel expectfn "nat-follow-master").
// A repeated offer of the same stream yields the same Expect again: the kernel
// layer replaces the earlier expectation (spec B8).
struct Expect {
    Transport transport = Transport::tcp;
    IpAddress guest;     // G: master's original source
    IpAddress address;   // D: master's original destination (what the guest used)
    std::uint16_t port = 0;
    std::uint8_t service = 0;
    std::uint32_t timeout_seconds = 0;
    bool follow_nat = false;
};

enum class RefuseReason : std::uint8_t {
    forged_guest_offer,   // PORT-OFFER sent by the guest side (spec B5)
    third_party_address,  // offer address neither 0.0.0.0 nor H (spec B8)
    port_not_allowed,     // outside allowed_ports
    too_many_expectations,// more than max_expectations for this contact connection
};
std::string refuse_reason_name(RefuseReason r);  // "forged", "third-party-address", ...

struct Refuse {
    RefuseReason reason;
    std::string detail;  // one readable sentence with the offending values
};

// Replace 4 bytes of the current packet's L4 payload (same length; the kernel
// layer fixes checksums). `old_bytes` is what the engine saw there.
struct Rewrite {
    std::size_t payload_offset = 0;
    std::array<std::uint8_t, 4> old_bytes{};
    std::array<std::uint8_t, 4> new_bytes{};
    std::string what;  // "HELLO guest address", "HELLO-ACK host address", "PORT-OFFER address"
};

// Nothing more to learn from this connection: the kernel layer may detach the
// helper (only ever issued when the connection has no expectations, spec B7).
struct StopWatching {
    std::string why;
};

// Something a person should see in the log that is not a decision: a session
// recognized, a malformed frame, a lost stream position.
// `text` may hold bytes a peer chose (a guest or host name) exactly as they
// came: escaping is the edge's job, done once where the text is printed
// (tbhelperd's log escapes each line whole, tbhelperctl its text reports), so
// that nothing is escaped twice (docs/daemon.md#untrusted-text).
struct Note {
    enum class Level : std::uint8_t { info, warning, debug } level = Level::info;
    std::string text;
};

// Drop this packet instead of passing it: a TCP segment beyond a gap that the
// engine could not hold within its bounds. The sender retransmits it; had it
// passed, the engine would never see those bytes again
// (docs/protocol-model.md#held-segments).
struct DropForRetransmit {};

using Decision = std::variant<Expect, Refuse, Rewrite, StopWatching, Note, DropForRetransmit>;
using Decisions = std::vector<Decision>;

}  // namespace tb::timbuktu
