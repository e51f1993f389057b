// NAT rewriting of embedded addresses (see nat_rewrite.hpp).
#include "timbuktu/nat_rewrite.hpp"

#include <algorithm>

namespace tb::timbuktu {

std::optional<Translation> translation_for(Side sender, const ConnectionFacts& facts) {
    if (sender == Side::guest) {
        if (!snat(facts)) return std::nullopt;
        return Translation{facts.guest, facts.guest_translated};
    }
    if (!dnat(facts)) return std::nullopt;
    return Translation{facts.host, facts.contact_address};
}

void NatRewriter::remember(const Remembered& r) {
    remembered_[next_] = r;
    next_ = static_cast<std::uint8_t>((next_ + 1) % remembered_.size());
    count_ = static_cast<std::uint8_t>(std::min<std::size_t>(count_ + 1u, remembered_.size()));
}

NatRewriter::Outcomes NatRewriter::examine(const DispatchRow& row, const stream::StreamReader::Frame& frame,
                                           const PayloadView& payload, const Translation& t, bool remember_it) {
    Outcomes out;
    if (examined_frame_ != frame.frame_seq) {
        examined_frame_ = frame.frame_seq;
        examined_fields_ = 0;
    }
    for (std::size_t i = 0; i < row.address_count; ++i) {
        const EmbeddedAddress& a = row.addresses[i];
        if (frame.header.length < a.min_body) continue;
        const auto bit = static_cast<std::uint8_t>(1u << i);
        if ((examined_fields_ & bit) || frame.body.size() < a.offset + 4) continue;
        examined_fields_ = static_cast<std::uint8_t>(examined_fields_ | bit);

        const std::uint8_t* field = frame.body.data() + a.offset;
        if (!std::equal(field, field + 4, t.from.bytes.begin())) continue;  // other values are left alone

        const std::uint32_t field_seq = frame.body_seq() + static_cast<std::uint32_t>(a.offset);
        const std::int64_t at = stream::seq_distance(payload.seq, field_seq);
        FieldOutcome& o = out.items[out.count++];
        if (at < 0 || at + 4 > static_cast<std::int64_t>(payload.bytes.size())) {
            o.kind = FieldOutcome::Kind::skipped;
            o.skipped = event::RewriteSkipped{a.field, t.from, t.to, field_seq, at, payload.bytes.size()};
            continue;
        }
        o.kind = FieldOutcome::Kind::rewrite;
        o.rewrite.payload_offset = static_cast<std::size_t>(at);
        std::copy_n(field, 4, o.rewrite.old_bytes.begin());
        std::copy_n(t.to.bytes.begin(), 4, o.rewrite.new_bytes.begin());
        o.rewrite.what = a.field;
        if (remember_it) remember(Remembered{field_seq, o.rewrite.old_bytes, o.rewrite.new_bytes, a.field});
    }
    return out;
}

}  // namespace tb::timbuktu
