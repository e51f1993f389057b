// The meaning of a frame, as data: one table whose rows say, for a frame
// arriving from one side with one class and opcode, what message it is, what
// the session does with it, and which embedded addresses NAT rewrites
// (docs/protocol-model.md#dispatch). The session, the stream reader (through
// retained_body_bytes), the NAT rewriter and the first-frame probe all read
// this table; none of them encodes (side, class, opcode) itself. Like the
// kernel's nf_conntrack_ftp search[dir][] and SIP's handler table.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "timbuktu/decisions.hpp"
#include "timbuktu/wire.hpp"

namespace tb::timbuktu {

// What the bytes of a frame are, by class and opcode alone. It fixes the body
// prefix the engine keeps (docs/protocol-model.md#streaming).
enum class Message : std::uint8_t {
    hello,       // class 0x0001, opcode 0x0023
    hello_ack,   // class 0x0101, opcode 0x0023
    port_offer,  // opcode 0x0031, either class
    other,       // any other opcode: opaque
};

// What a frame's class and opcode mean for the flow, decided as soon as the
// opcode has arrived (docs/protocol-model.md#b10-roles). Every hostile verdict
// of the table is a reflection or a forgery of the other side's frames
// (counted `reflected`).
struct Verdict {
    enum class Kind : std::uint8_t { parse, not_timbuktu, hostile };
    Kind kind = Kind::parse;
    NotTimbuktuReason not_timbuktu{};
    HostileReason hostile{};
};

// What the session does with the complete frame.
enum class Handler : std::uint8_t {
    none,        // nothing more: the verdict said it all (a forged offer, a reflected frame)
    hello,       // the guest's HELLO: starts the session (or a repeat)
    hello_ack,   // the host's HELLO-ACK: the session is framed (or a repeat)
    port_offer,  // the host's PORT-OFFER: address and port policy, then an Expect
    ignore,      // an opcode the model does not act on: counted, a debug event
};

// An IPv4 address embedded in a message at a fixed body offset
// (docs/protocol-model.md#nat-rewrites); present only when the body is at
// least `min_body` bytes long.
struct EmbeddedAddress {
    std::size_t offset = 0;
    std::size_t min_body = 0;
    AddressField field{};
};

constexpr std::uint32_t kAnyOpcode = 0x10000;  // a row that matches every opcode of its class

struct DispatchRow {
    Side sender = Side::guest;
    std::uint16_t frame_class = 0;
    std::uint32_t opcode = kAnyOpcode;
    Message message = Message::other;
    bool forged_offer = false;  // a PORT-OFFER from the guest: Refuse{forged_guest_offer} (docs/protocol-model.md#forgery)
    // The verdict while the sender's opening message is still awaited (the
    // guest's HELLO, the host's HELLO-ACK), and after it.
    Verdict opening;
    Verdict established;
    Handler handler = Handler::none;
    // Rewritten under the sender's NAT (guest: SNAT, host: DNAT).
    std::array<EmbeddedAddress, 2> addresses{};
    std::uint8_t address_count = 0;
    std::string_view what;  // for people reading the table and the tests
};

// The table, most specific rows first within each sender and class; every
// (sender, class 0x0001 or 0x0101, opcode) matches exactly one row.
std::span<const DispatchRow> dispatch_table();

// The row for a frame with a valid header (decode_header accepted its class).
// nullptr for a class decode_header rejects.
const DispatchRow* dispatch(Side sender, std::uint16_t frame_class, std::uint16_t opcode);

// The message the bytes are, by class and opcode (the same from either side).
Message message_of(std::uint16_t frame_class, std::uint16_t opcode);
std::string_view message_name(Message m);  // "HELLO", "HELLO-ACK", "PORT-OFFER", "other"

// How many bytes at the start of a body the engine needs to judge a frame of
// this class and opcode: a HELLO up to the end of its name and its second
// address, a HELLO-ACK up to the end of its name, a PORT-OFFER whole; of any
// other frame only the opcode. The body parsers give the same verdict on this
// prefix as on the whole body (only the opaque trailer is cut), so a stream
// reader may skip the rest by count (docs/protocol-model.md#streaming).
std::size_t retained_body_bytes(const FrameHeader& header, std::uint16_t opcode);

}  // namespace tb::timbuktu
