#include "stream/stream_reader.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "timbuktu/messages.hpp"

namespace tb::stream {

StreamReader::~StreamReader() { release_held(); }

StreamReader::StreamReader(StreamReader&& other) noexcept { *this = std::move(other); }

StreamReader& StreamReader::operator=(StreamReader&& other) noexcept {
    if (this == &other) return *this;
    release_held();  // what this reader held goes back to its budget
    budget_ = other.budget_;
    synced_ = other.synced_;
    stopped_ = other.stopped_;
    lost_frame_start_ = other.lost_frame_start_;
    next_seq_ = other.next_seq_;
    std::memcpy(header_bytes_, other.header_bytes_, sizeof header_bytes_);
    header_have_ = other.header_have_;
    in_body_ = other.in_body_;
    keep_known_ = other.keep_known_;
    header_ = other.header_;
    frame_seq_ = other.frame_seq_;
    body_have_ = other.body_have_;
    keep_ = other.keep_;
    kept_ = std::move(other.kept_);
    held_ = std::move(other.held_);  // the budget stays taken: the bytes changed owner, not size
    held_bytes_ = other.held_bytes_;
    other.held_.clear();
    other.held_bytes_ = 0;
    return *this;
}

void StreamReader::start_at(std::uint32_t seq) {
    if (synced_) return;  // a retransmitted SYN does not move the stream
    synced_ = true;
    next_seq_ = seq;
}

void StreamReader::restore(std::uint32_t next_seq, bool mid_frame) {
    synced_ = true;
    stopped_ = false;
    next_seq_ = next_seq;
    lost_frame_start_ = mid_frame;
    end_frame();
    release_held();
}

void StreamReader::stop() {
    stopped_ = true;
    end_frame();
    release_held();
}

void StreamReader::halt(FeedResult& result, StopReason reason, std::uint32_t at,
                        std::optional<timbuktu::WireError> header_error) {
    stop();
    result.stopped_now = reason;
    result.header_error = header_error;
    result.stop_seq = at;
}

std::size_t StreamReader::partial_bytes() const { return header_have_ + retained().size(); }

std::size_t StreamReader::heap_bytes() const {
    std::size_t bytes = kept_ ? kMaxRetainedBody : 0;
    bytes += held_.capacity() * sizeof(HeldSegment);
    for (const auto& h : held_) bytes += h.bytes.capacity();
    return bytes;
}

StreamReader::FeedResult StreamReader::feed(std::uint32_t seq, std::span<const std::uint8_t> payload, Sink& sink) {
    FeedResult result;
    if (stopped_ || payload.empty()) return result;
    if (!synced_) start_at(seq);

    const std::int64_t start = seq_distance(next_seq_, seq);
    const std::int64_t end = start + static_cast<std::int64_t>(payload.size());
    if (end <= 0) {  // entirely before the expected position: a retransmit
        result.old_bytes = payload.size();
        return result;
    }
    if (start > 0) {  // beyond the expected position: wait for the gap to fill
        hold(seq, payload, result);
        return result;
    }
    // Overlap: only the bytes not seen before are parsed.
    const auto skip = static_cast<std::size_t>(-start);
    result.old_bytes = skip;
    if (!consume(payload.subspan(skip), sink, result)) return result;
    drain_held(sink, result);
    return result;
}

// ---- out-of-order segments (docs/protocol-model.md#held-segments) ----

void StreamReader::hold(std::uint32_t seq, std::span<const std::uint8_t> data, FeedResult& result) {
    // A copy of something already held (a retransmitted out-of-order segment) costs nothing.
    for (const auto& h : held_) {
        const std::int64_t from = seq_distance(h.seq, seq);
        if (from >= 0 && from + static_cast<std::int64_t>(data.size()) <= static_cast<std::int64_t>(h.bytes.size())) {
            result.held = true;
            result.old_bytes = data.size();
            return;
        }
    }
    // What is held was passed on already: the receiver has it and the sender
    // will never send it again, so it is never given up. A segment that does
    // not fit is refused instead, and the kernel layer drops its packet: the
    // sender retransmits it, by then perhaps in order.
    const bool fits_here = held_.size() < kMaxHeldSegments && held_bytes_ + data.size() <= kMaxHeldBytes;
    if (fits_here && (!budget_ || budget_->try_take(data.size()))) {
        held_.push_back(HeldSegment{seq, std::vector<std::uint8_t>(data.begin(), data.end())});
        held_bytes_ += data.size();
        result.held = true;
        return;
    }
    ++result.dropped;
    result.refused = true;
}

void StreamReader::release_held() {
    if (budget_)
        for (const auto& h : held_) budget_->give_back(h.bytes.size());
    std::vector<HeldSegment>().swap(held_);  // no capacity left allocated at rest
    held_bytes_ = 0;
}

void StreamReader::drain_held(Sink& sink, FeedResult& result) {
    bool progress = true;
    while (progress && !stopped_ && !held_.empty()) {
        progress = false;
        for (std::size_t i = 0; i < held_.size(); ++i) {
            const std::int64_t start = seq_distance(next_seq_, held_[i].seq);
            if (start > 0) continue;  // still beyond a gap
            HeldSegment segment = std::move(held_[i]);
            held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
            held_bytes_ -= segment.bytes.size();
            if (budget_) budget_->give_back(segment.bytes.size());
            if (held_.empty()) release_held();
            const std::int64_t end = start + static_cast<std::int64_t>(segment.bytes.size());
            if (end > 0) {
                std::span<const std::uint8_t> fresh(segment.bytes);
                if (!consume(fresh.subspan(static_cast<std::size_t>(-start)), sink, result)) return;
            }
            progress = true;
            break;  // the vector changed; scan again from the new position
        }
    }
}

// ---- incremental frame parsing (docs/protocol-model.md#streaming) ----

std::span<const std::uint8_t> StreamReader::retained() const {
    if (!in_body_ || !kept_) return {};
    return {kept_.get(), std::min<std::size_t>(body_have_, keep_)};
}

bool StreamReader::begin_frame(const std::uint8_t* header_bytes, std::uint32_t frame_seq, FeedResult& result) {
    auto parsed = timbuktu::decode_header(std::span<const std::uint8_t>(header_bytes, timbuktu::kHeaderSize));
    if (const auto* err = timbuktu::parsed_error(parsed)) {
        halt(result, StopReason::malformed_header, frame_seq, *err);
        return false;
    }
    header_ = std::get<timbuktu::FrameHeader>(parsed);
    frame_seq_ = frame_seq;
    header_have_ = 0;
    in_body_ = true;
    body_have_ = 0;
    keep_ = 2;  // the opcode; the rest of the keep follows from it
    keep_known_ = false;
    return true;
}

void StreamReader::end_frame() {
    header_have_ = 0;
    in_body_ = false;
    keep_known_ = false;
    body_have_ = 0;
    keep_ = 2;
    kept_.reset();
}

std::size_t StreamReader::take_body(std::span<const std::uint8_t> data, std::size_t pos) {
    const std::size_t end = pos + std::min<std::size_t>(header_.length - body_have_, data.size() - pos);
    while (pos < end) {
        if (body_have_ < keep_) {
            const std::size_t n = std::min<std::size_t>(keep_ - body_have_, end - pos);
            if (!kept_) kept_ = std::make_unique<std::uint8_t[]>(kMaxRetainedBody);
            std::memcpy(kept_.get() + body_have_, data.data() + pos, n);
            body_have_ += static_cast<std::uint32_t>(n);
            pos += n;
            if (!keep_known_ && body_have_ >= 2) {
                keep_ = static_cast<std::uint16_t>(timbuktu::retained_body_bytes(header_, load_be16(kept_.get())));
                keep_known_ = true;
            }
        } else {
            // Not needed by the engine: counted off, not stored.
            body_have_ += static_cast<std::uint32_t>(end - pos);
            pos = end;
        }
    }
    return pos;
}

bool StreamReader::consume(std::span<const std::uint8_t> data, Sink& sink, FeedResult& result) {
    if (data.empty()) return true;
    if (lost_frame_start_) {
        // The bytes at next_seq_ continue a frame whose beginning died with the
        // old daemon: the framing of this direction is unknown.
        halt(result, StopReason::lost_frame_start, next_seq_);
        return false;
    }
    result.new_bytes += data.size();
    const std::uint32_t base = next_seq_;
    next_seq_ += static_cast<std::uint32_t>(data.size());
    auto seq_at = [base](std::size_t offset) { return base + static_cast<std::uint32_t>(offset); };
    auto stop_here = [&](std::uint32_t at) {
        halt(result, StopReason::by_request, at);
        return false;
    };

    bool grew = false;  // the current frame's retained prefix grew in this data
    std::size_t pos = 0;
    while (pos < data.size()) {
        if (!in_body_) {
            if (header_have_ == 0 && data.size() - pos >= timbuktu::kHeaderSize) {
                if (!begin_frame(data.data() + pos, seq_at(pos), result)) return false;
                pos += timbuktu::kHeaderSize;
                if (data.size() - pos >= header_.length) {
                    // Fast path: the whole frame lies inside `data`; it is judged in place.
                    const auto keep = timbuktu::retained_body_bytes(header_, load_be16(data.data() + pos));
                    const Frame frame{header_, frame_seq_, data.subspan(pos, keep), true};
                    pos += header_.length;
                    end_frame();
                    if (!sink.on_frame(frame)) return stop_here(seq_at(pos));
                    continue;
                }
            } else {
                if (header_have_ == 0) frame_seq_ = seq_at(pos);
                const std::size_t n = std::min<std::size_t>(timbuktu::kHeaderSize - header_have_, data.size() - pos);
                std::memcpy(header_bytes_ + header_have_, data.data() + pos, n);
                header_have_ = static_cast<std::uint8_t>(header_have_ + n);
                pos += n;
                if (header_have_ < timbuktu::kHeaderSize) break;
                if (!begin_frame(header_bytes_, frame_seq_, result)) return false;
            }
        }
        const std::size_t before = retained().size();
        pos = take_body(data, pos);
        if (retained().size() > before) grew = true;
        if (body_have_ == header_.length) {
            const Frame frame{header_, frame_seq_, retained(), true};
            const bool go_on = sink.on_frame(frame);
            end_frame();
            grew = false;
            if (!go_on) return stop_here(seq_at(pos));
        }
    }
    // A frame continues past this data: show the session what has arrived, so it
    // can judge the frame by its opcode and act on fields that lie in the
    // current packet (B8 rewrites).
    if (in_body_ && grew) {
        const Frame prefix{header_, frame_seq_, retained(), false};
        if (!sink.on_frame(prefix)) return stop_here(frame_seq_);
    }
    return true;
}

}  // namespace tb::stream
