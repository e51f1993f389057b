// The dispatch table (see messages.hpp; docs/protocol-model.md#dispatch).
#include "timbuktu/messages.hpp"

#include <algorithm>

namespace tb::timbuktu {

namespace {

constexpr Verdict parse() { return {}; }
constexpr Verdict not_timbuktu(NotTimbuktuReason r) { return {Verdict::Kind::not_timbuktu, r, {}}; }
constexpr Verdict hostile(HostileReason r) { return {Verdict::Kind::hostile, {}, r}; }

constexpr EmbeddedAddress kHelloGuestAddress{kEmbeddedAddressOffset, 0, AddressField::hello_guest_address};
// docs/protocol-model.md#b3-second-address
constexpr EmbeddedAddress kHelloGuestAddressSecond{kHelloSecondAddressOffset, kHelloSecondAddressMinBody,
                                                   AddressField::hello_guest_address_second};
constexpr EmbeddedAddress kHelloAckHostAddress{kEmbeddedAddressOffset, 0, AddressField::hello_ack_host_address};
constexpr EmbeddedAddress kPortOfferAddress{kEmbeddedAddressOffset, 0, AddressField::port_offer_address};

using NT = NotTimbuktuReason;
using HR = HostileReason;

// Guest rows: before the HELLO (opening) a frame that is not a HELLO ends the
// flow as not Timbuktu; after it a frame of host class is a reflection
// (docs/protocol-model.md#b10-roles). Host rows: a frame of guest class is a
// reflection; the first frame must be the HELLO-ACK.
constexpr std::array<DispatchRow, 12> kTable{{
    // sender      class        opcode        message              forged  opening / established verdicts
    {Side::guest, kClassGuest, kOpHello, Message::hello, false, parse(), parse(), Handler::hello,
     {kHelloGuestAddress, kHelloGuestAddressSecond}, 2, "the guest's HELLO"},
    {Side::guest, kClassGuest, kOpPortOffer, Message::port_offer, true, not_timbuktu(NT::first_frame_port_offer),
     parse(), Handler::none, {}, 0, "a PORT-OFFER from the guest: forged"},
    {Side::guest, kClassHost, kOpPortOffer, Message::port_offer, true, not_timbuktu(NT::first_frame_port_offer),
     hostile(HR::guest_sent_host_class), Handler::none, {}, 0,
     "a host-class PORT-OFFER from the guest: forged and reflected"},
    {Side::guest, kClassHost, kOpHello, Message::hello_ack, false, not_timbuktu(NT::first_frame_class),
     hostile(HR::guest_sent_host_class), Handler::none, {}, 0, "a HELLO-ACK from the guest: reflected"},
    {Side::guest, kClassHost, kAnyOpcode, Message::other, false, not_timbuktu(NT::first_frame_class),
     hostile(HR::guest_sent_host_class), Handler::none, {}, 0, "a host-class frame from the guest: reflected"},
    {Side::guest, kClassGuest, kAnyOpcode, Message::other, false, not_timbuktu(NT::first_frame_opcode), parse(),
     Handler::ignore, {}, 0, "another guest opcode: not a HELLO first, ignored after it"},
    {Side::host, kClassHost, kOpHello, Message::hello_ack, false, parse(), parse(), Handler::hello_ack,
     {kHelloAckHostAddress}, 1, "the host's HELLO-ACK"},
    {Side::host, kClassHost, kOpPortOffer, Message::port_offer, false, hostile(HR::host_first_not_ack), parse(),
     Handler::port_offer, {kPortOfferAddress}, 1, "the host's PORT-OFFER"},
    {Side::host, kClassHost, kAnyOpcode, Message::other, false, hostile(HR::host_first_not_ack), parse(),
     Handler::ignore, {}, 0, "another host opcode: hostile before the HELLO-ACK, ignored after it"},
    {Side::host, kClassGuest, kOpHello, Message::hello, false, hostile(HR::host_sent_guest_class),
     hostile(HR::host_sent_guest_class), Handler::none, {}, 0, "a HELLO from the host: reflected"},
    {Side::host, kClassGuest, kOpPortOffer, Message::port_offer, false, hostile(HR::host_sent_guest_class),
     hostile(HR::host_sent_guest_class), Handler::none, {}, 0, "a guest-class PORT-OFFER from the host: reflected"},
    {Side::host, kClassGuest, kAnyOpcode, Message::other, false, hostile(HR::host_sent_guest_class),
     hostile(HR::host_sent_guest_class), Handler::none, {}, 0, "a guest-class frame from the host: reflected"},
}};

constexpr const DispatchRow* find_row(Side sender, std::uint16_t frame_class, std::uint16_t opcode) {
    for (const auto& row : kTable)
        if (row.sender == sender && row.frame_class == frame_class &&
            (row.opcode == opcode || row.opcode == kAnyOpcode))
            return &row;
    return nullptr;
}

// What the bytes are does not depend on who sent them (the stream reader,
// which keeps the prefix, does not know its direction).
constexpr bool messages_agree_across_senders() {
    for (const auto& row : kTable) {
        const Side other = row.sender == Side::guest ? Side::host : Side::guest;
        const std::uint16_t op = row.opcode == kAnyOpcode ? 0x7777 : static_cast<std::uint16_t>(row.opcode);
        const DispatchRow* mirror = find_row(other, row.frame_class, op);
        if (!mirror || mirror->message != row.message) return false;
    }
    return true;
}
static_assert(messages_agree_across_senders(), "a class and opcode name the same message from either side");

// An index over the table, built from it at compile time, so that a lookup
// (two per frame) costs a few comparisons instead of a scan: the classes and
// the specific opcodes the table names, and for each sender, class and
// opcode slot (the last slot: every other opcode) the row find_row gives.
constexpr std::size_t kMaxIndexed = 4;
struct Index {
    std::array<std::uint16_t, kMaxIndexed> classes{};
    std::size_t class_count = 0;
    std::array<std::uint16_t, kMaxIndexed> opcodes{};
    std::size_t opcode_count = 0;
    std::array<std::array<std::array<const DispatchRow*, kMaxIndexed + 1>, kMaxIndexed>, 2> rows{};
};
template <std::size_t N>
constexpr std::size_t slot_of(const std::array<std::uint16_t, N>& values, std::size_t count, std::uint16_t v) {
    for (std::size_t i = 0; i < count; ++i)
        if (values[i] == v) return i;
    return count;
}
constexpr Index build_index() {
    Index ix;
    for (const auto& row : kTable) {
        if (slot_of(ix.classes, ix.class_count, row.frame_class) == ix.class_count)
            ix.classes[ix.class_count++] = row.frame_class;
        if (row.opcode != kAnyOpcode) {
            const auto op = static_cast<std::uint16_t>(row.opcode);
            if (slot_of(ix.opcodes, ix.opcode_count, op) == ix.opcode_count) ix.opcodes[ix.opcode_count++] = op;
        }
    }
    std::uint16_t unnamed = 0;  // an opcode no row names: stands for "every other opcode"
    while (slot_of(ix.opcodes, ix.opcode_count, unnamed) != ix.opcode_count) ++unnamed;
    for (std::size_t s = 0; s < 2; ++s)
        for (std::size_t c = 0; c < ix.class_count; ++c)
            for (std::size_t o = 0; o <= ix.opcode_count; ++o)
                ix.rows[s][c][o] = find_row(s == 0 ? Side::guest : Side::host, ix.classes[c],
                                            o < ix.opcode_count ? ix.opcodes[o] : unnamed);
    return ix;
}
constexpr Index kIndex = build_index();
constexpr const DispatchRow* indexed_row(Side sender, std::uint16_t frame_class, std::uint16_t opcode) {
    const std::size_t c = slot_of(kIndex.classes, kIndex.class_count, frame_class);
    if (c == kIndex.class_count) return nullptr;
    return kIndex.rows[sender == Side::guest ? 0 : 1][c][slot_of(kIndex.opcodes, kIndex.opcode_count, opcode)];
}
constexpr bool index_agrees() {
    for (Side sender : {Side::guest, Side::host})
        for (std::uint16_t cls : {kClassGuest, kClassHost, std::uint16_t{0}, std::uint16_t{0x0202}})
            for (std::uint32_t op = 0; op < 0x40; ++op)
                if (indexed_row(sender, cls, static_cast<std::uint16_t>(op)) !=
                    find_row(sender, cls, static_cast<std::uint16_t>(op)))
                    return false;
    return true;
}
static_assert(index_agrees(), "the index gives the rows the table gives");

}  // namespace

std::span<const DispatchRow> dispatch_table() { return kTable; }

const DispatchRow* dispatch(Side sender, std::uint16_t frame_class, std::uint16_t opcode) {
    return indexed_row(sender, frame_class, opcode);
}

Message message_of(std::uint16_t frame_class, std::uint16_t opcode) {
    const DispatchRow* row = indexed_row(Side::guest, frame_class, opcode);
    return row ? row->message : Message::other;
}

std::string_view message_name(Message m) {
    switch (m) {
        case Message::hello: return "HELLO";
        case Message::hello_ack: return "HELLO-ACK";
        case Message::port_offer: return "PORT-OFFER";
        case Message::other: return "other";
    }
    return "other";
}

std::size_t retained_body_bytes(const FrameHeader& header, std::uint16_t opcode) {
    std::size_t want = 2;  // the opcode
    switch (message_of(header.frame_class, opcode)) {
        case Message::hello: want = kHelloRetainedBody; break;
        case Message::hello_ack: want = kHelloAckRetainedBody; break;
        case Message::port_offer: want = kPortOfferBody; break;
        case Message::other: break;
    }
    return std::min<std::size_t>(want, header.length);
}

}  // namespace tb::timbuktu
