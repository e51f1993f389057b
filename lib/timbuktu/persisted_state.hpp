// What of a contact connection survives a daemon restart: the layout of the
// kernel's helper private data (docs/protocol-model.md#persistence), as named
// fields. `encode` writes version 2; `decode` reads versions 2 and 1 and rejects
// whatever this version did not write.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "net/address.hpp"
#include "timbuktu/phase.hpp"
#include "timbuktu/policy.hpp"

namespace tb::timbuktu {

// The kernel's helper private data is at most this many bytes
// (nfnetlink_cthelper; docs/protocol-model.md#persistence).
constexpr std::size_t kPersistedStateSize = 32;
using PersistedState = std::array<std::uint8_t, kPersistedStateSize>;

// docs/protocol-model.md#malformed-cap: the 8th malformed frame makes a flow
// hostile, so no stored count is ever above it.
constexpr std::uint8_t kMaxMalformedPerSession = 8;
// Offer keys that fit in the stored form (the most recent ones).
constexpr std::size_t kPersistedOfferKeys = 5;

// One offered stream, as the offer table and the stored form know it.
struct OfferKey {
    Transport transport = Transport::tcp;
    std::uint16_t port = 0;
    friend bool operator==(const OfferKey&, const OfferKey&) = default;
};

// The byte layout, field by field; multi-byte numbers are big-endian byte
// arrays so that the struct has no padding and no alignment.
struct PersistedLayout {
    struct Key {
        std::uint8_t transport;               // 6 (TCP) or 17 (UDP); 0 in unused slots
        std::array<std::uint8_t, 2> port;
    };
    std::uint8_t magic;                       // kPersistMagic
    std::uint8_t version;                     // 2 (1: tbhelper 0.1)
    std::uint8_t phase;                       // Phase
    std::uint8_t service;
    std::uint8_t flags;                       // TCP: kFlag* per direction; UDP: kFlagAwaitReplyVerdict
    std::array<std::uint8_t, 4> guest_next_seq;
    std::array<std::uint8_t, 4> host_next_seq;
    std::uint8_t accepted_offers;             // distinct accepted offers
    std::uint8_t key_count;                   // keys that follow, <= kPersistedOfferKeys
    std::array<Key, kPersistedOfferKeys> keys;  // most recent first
    std::uint8_t malformed_frames;            // version 1: reserved, 0
    std::uint8_t crc;                         // CRC-8 (poly 0x07) of every byte before it
};
static_assert(sizeof(PersistedLayout) == kPersistedStateSize, "the stored form must fill the private data exactly");
static_assert(sizeof(PersistedLayout::Key) == 3);

constexpr std::uint8_t kPersistMagic = 0x54;  // 'T'
constexpr std::uint8_t kPersistVersion = 2;
constexpr std::uint8_t kPersistVersion1 = 1;
// flags, TCP: bits 0-2 guest direction, bits 3-5 host direction.
constexpr std::uint8_t kFlagSynced = 1, kFlagMidFrame = 2, kFlagStopped = 4;
constexpr int kHostFlagShift = 3;
// flags, UDP (version 2): the first reply datagram is still to be examined
// (docs/protocol-model.md#b9-unmodelled).
constexpr std::uint8_t kFlagAwaitReplyVerdict = 0x40;

// The decoded content, what a Session is rebuilt from.
struct PersistedFields {
    struct Direction {
        bool synced = false;
        bool mid_frame = false;
        bool stopped = false;
        std::uint32_t next_seq = 0;  // only when synced
        friend bool operator==(const Direction&, const Direction&) = default;
    };
    Phase phase = Phase::await_hello;
    std::uint8_t service = 0;
    std::array<Direction, 2> directions{};  // [0] guest, [1] host; TCP only
    bool await_reply_verdict = false;       // UDP only
    std::uint8_t accepted_offers = 0;
    std::uint8_t key_count = 0;
    std::array<OfferKey, kPersistedOfferKeys> keys{};  // most recent first
    std::uint8_t malformed_frames = 0;

    friend bool operator==(const PersistedFields&, const PersistedFields&) = default;
};

std::uint8_t crc8(std::span<const std::uint8_t> bytes);

// Version 2. For UDP the directions are not written; for TCP the UDP flag is not.
PersistedState encode_persisted(const PersistedFields& fields, Transport transport);
// nullopt for any other size, magic or version, a bad CRC, an unknown phase or
// flag, a malformed count above the cap, more keys than accepted offers, a bad
// key, non-zero padding, and stream data in a UDP state.
std::optional<PersistedFields> decode_persisted(std::span<const std::uint8_t> bytes, Transport transport);

}  // namespace tb::timbuktu
