// NAT rewriting of the IPv4 addresses Timbuktu messages embed
// (docs/protocol-model.md#nat-rewrites): which address becomes which, and, per
// direction, which fields of the current frame were examined and which
// rewrites a retransmitted segment must get again. Pure: the session hands it
// a frame and the packet's bytes and passes on what it returns.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "stream/stream_reader.hpp"
#include "timbuktu/connection.hpp"
#include "timbuktu/decisions.hpp"
#include "timbuktu/messages.hpp"

namespace tb::timbuktu {

// The address NAT changed for the frames of one side: the guest's under SNAT
// (G -> G'), the host's under DNAT (H -> D). nullopt: this side's embedded
// addresses stay as they are.
struct Translation {
    IpAddress from, to;
};
std::optional<Translation> translation_for(Side sender, const ConnectionFacts& facts);

// Where the current packet's payload lies in the stream (TCP: the sequence
// number of payload[0]; UDP: 0, positions are datagram offsets).
struct PayloadView {
    std::uint32_t seq = 0;
    std::span<const std::uint8_t> bytes;
};

// One embedded field's fate: rewritten, or due but not all in this packet.
struct FieldOutcome {
    enum class Kind : std::uint8_t { rewrite, skipped };
    Kind kind = Kind::rewrite;
    Rewrite rewrite;
    event::RewriteSkipped skipped;
};

// The rewrite state of one direction.
class NatRewriter {
public:
    // Rewrites remembered per direction, so that a retransmitted segment
    // carrying a rewritten field is rewritten the same way again.
    static constexpr std::size_t kRememberedRewrites = 4;

    // Examines the embedded addresses `row` names in `frame` (a prefix or the
    // whole frame), each once, as soon as its 4 bytes have arrived. A field
    // that holds `t.from` is rewritten to `t.to` when it lies in the packet,
    // reported skipped otherwise; other values are left alone. `remember`:
    // TCP, where a retransmit must be rewritten again. At most two outcomes.
    struct Outcomes {
        std::array<FieldOutcome, 2> items{};
        std::size_t count = 0;
    };
    Outcomes examine(const DispatchRow& row, const stream::StreamReader::Frame& frame, const PayloadView& payload,
                     const Translation& t, bool remember);
    // The remembered rewrites whose old bytes are in this packet again
    // (`retransmit` set), at most kRememberedRewrites.
    template <class Emit>
    void replay(const PayloadView& payload, Emit&& emit) const {
        for (std::size_t i = 0; i < count_; ++i) {
            const auto& r = remembered_[i];
            const std::int64_t offset = stream::seq_distance(payload.seq, r.seq);
            if (offset < 0 || offset + 4 > static_cast<std::int64_t>(payload.bytes.size())) continue;
            const auto* at = payload.bytes.data() + offset;
            if (!std::equal(r.old_bytes.begin(), r.old_bytes.end(), at)) continue;
            emit(Rewrite{static_cast<std::size_t>(offset), r.old_bytes, r.new_bytes, r.what, true});
        }
    }
    // UDP: offsets repeat from one datagram to the next; every frame is examined afresh.
    void new_datagram() {
        examined_frame_.reset();
        examined_fields_ = 0;
    }

private:
    struct Remembered {
        std::uint32_t seq = 0;
        std::array<std::uint8_t, 4> old_bytes{};
        std::array<std::uint8_t, 4> new_bytes{};
        AddressField what = AddressField::hello_guest_address;
    };
    void remember(const Remembered& r);

    // The frame whose fields are being examined, and which of them were (bit i: row address i).
    std::optional<std::uint32_t> examined_frame_;
    std::uint8_t examined_fields_ = 0;
    std::array<Remembered, kRememberedRewrites> remembered_{};
    std::uint8_t count_ = 0;
    std::uint8_t next_ = 0;
};

}  // namespace tb::timbuktu
