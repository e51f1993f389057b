// docs/protocol-model.md#persistence
#include "timbuktu/persisted_state.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tb::timbuktu {

namespace {

std::array<std::uint8_t, 4> be32(std::uint32_t v) {
    std::array<std::uint8_t, 4> out{};
    store_be32(out.data(), v);
    return out;
}
std::uint32_t be32(const std::array<std::uint8_t, 4>& b) { return load_be32(b.data()); }

}  // namespace

namespace {
// CRC-8 (polynomial 0x07) one byte at a time: the state is encoded on every
// packet that moves a stream position, and the bit loop was 12% of the
// daemon's work per packet (docs/daemon.md#figures).
constexpr std::array<std::uint8_t, 256> kCrc8Table = [] {
    std::array<std::uint8_t, 256> t{};
    for (unsigned v = 0; v < 256; ++v) {
        auto crc = static_cast<std::uint8_t>(v);
        for (int i = 0; i < 8; ++i) crc = static_cast<std::uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
        t[v] = crc;
    }
    return t;
}();
static_assert(kCrc8Table[1] == 0x07 && kCrc8Table[0x80] == 0x89, "CRC-8 polynomial 0x07");
}  // namespace

std::uint8_t crc8(std::span<const std::uint8_t> bytes) {
    std::uint8_t crc = 0;
    for (auto b : bytes) crc = kCrc8Table[crc ^ b];
    return crc;
}

PersistedState encode_persisted(const PersistedFields& f, Transport transport) {
    PersistedLayout l{};
    l.magic = kPersistMagic;
    l.version = kPersistVersion;
    l.phase = static_cast<std::uint8_t>(f.phase);
    l.service = f.service;
    if (transport == Transport::tcp) {
        std::uint8_t flags = 0;
        for (std::size_t i = 0; i < 2; ++i) {
            const auto& d = f.directions[i];
            std::uint8_t bits = 0;
            if (d.synced) bits |= kFlagSynced;
            if (d.mid_frame) bits |= kFlagMidFrame;
            if (d.stopped) bits |= kFlagStopped;
            flags = static_cast<std::uint8_t>(flags | (bits << (static_cast<int>(i) * kHostFlagShift)));
        }
        l.flags = flags;
        if (f.directions[0].synced) l.guest_next_seq = be32(f.directions[0].next_seq);
        if (f.directions[1].synced) l.host_next_seq = be32(f.directions[1].next_seq);
    } else if (f.await_reply_verdict) {
        l.flags = kFlagAwaitReplyVerdict;
    }
    l.accepted_offers = f.accepted_offers;
    l.key_count = static_cast<std::uint8_t>(std::min<std::size_t>(f.key_count, kPersistedOfferKeys));
    for (std::size_t i = 0; i < l.key_count; ++i) {
        l.keys[i].transport = static_cast<std::uint8_t>(f.keys[i].transport);
        store_be16(l.keys[i].port.data(), f.keys[i].port);
    }
    l.malformed_frames = std::min(f.malformed_frames, kMaxMalformedPerSession);
    auto bytes = std::bit_cast<PersistedState>(l);
    bytes.back() = crc8(std::span<const std::uint8_t>(bytes.data(), bytes.size() - 1));
    return bytes;
}

std::optional<PersistedFields> decode_persisted(std::span<const std::uint8_t> bytes, Transport transport) {
    if (bytes.size() != kPersistedStateSize) return std::nullopt;
    PersistedLayout l;
    std::memcpy(&l, bytes.data(), sizeof l);
    if (l.magic != kPersistMagic || (l.version != kPersistVersion && l.version != kPersistVersion1))
        return std::nullopt;
    if (crc8(bytes.first(kPersistedStateSize - 1)) != l.crc) return std::nullopt;
    const bool v1 = l.version == kPersistVersion1;
    // Version 1 knew neither the last two phases nor the malformed count nor the UDP flag.
    const auto last_phase = v1 ? Phase::lost : Phase::unmodelled;
    if (l.phase > static_cast<std::uint8_t>(last_phase)) return std::nullopt;
    if (v1 ? l.malformed_frames != 0 : l.malformed_frames > kMaxMalformedPerSession) return std::nullopt;

    PersistedFields f;
    f.phase = static_cast<Phase>(l.phase);
    f.service = l.service;
    f.malformed_frames = l.malformed_frames;
    if (transport == Transport::tcp) {
        if (l.flags & 0xC0) return std::nullopt;
        const std::array<std::array<std::uint8_t, 4>, 2> seqs{l.guest_next_seq, l.host_next_seq};
        for (std::size_t i = 0; i < 2; ++i) {
            const auto bits = static_cast<std::uint8_t>((l.flags >> (static_cast<int>(i) * kHostFlagShift)) & 7);
            auto& d = f.directions[i];
            if (!(bits & kFlagSynced)) {
                if (bits != 0 || be32(seqs[i]) != 0) return std::nullopt;
                continue;
            }
            d.synced = true;
            d.mid_frame = (bits & kFlagMidFrame) != 0;
            d.stopped = (bits & kFlagStopped) != 0;
            d.next_seq = be32(seqs[i]);
        }
    } else {
        if (be32(l.guest_next_seq) != 0 || be32(l.host_next_seq) != 0) return std::nullopt;
        if (l.flags != 0) {
            if (v1 || l.flags != kFlagAwaitReplyVerdict || f.phase != Phase::not_timbuktu) return std::nullopt;
            f.await_reply_verdict = true;
        }
    }
    if (l.accepted_offers > kMaxExpectationsLimit || l.key_count > kPersistedOfferKeys ||
        l.key_count > l.accepted_offers)
        return std::nullopt;
    f.accepted_offers = l.accepted_offers;
    f.key_count = l.key_count;
    for (std::size_t i = 0; i < kPersistedOfferKeys; ++i) {
        const auto& k = l.keys[i];
        if (i >= l.key_count) {
            if (k.transport != 0 || k.port[0] != 0 || k.port[1] != 0) return std::nullopt;  // padding
            continue;
        }
        auto t = transport_from_number(k.transport);
        const std::uint16_t port = load_be16(k.port.data());
        if (!t || port == 0) return std::nullopt;
        f.keys[i] = OfferKey{*t, port};
    }
    return f;
}

}  // namespace tb::timbuktu
