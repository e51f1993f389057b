#include "engine/stream_reader.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace tb::engine {
namespace {
// A frame buffer that grew for one large frame gives its memory back once the
// frame is done, so that an idle connection costs little.
constexpr std::size_t kKeepPartialCapacity = 4096;
}  // namespace

std::string StreamReader::stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::none: return "none";
        case StopReason::malformed_header: return "malformed-header";
        case StopReason::gap: return "gap";
        case StopReason::lost_frame_start: return "lost-frame-start";
        case StopReason::by_request: return "unframed";
    }
    return "unknown";
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
    partial_.clear();
    partial_header_.reset();
    held_.clear();
    held_bytes_ = 0;
}

void StreamReader::stop() {
    stopped_ = true;
    partial_ = {};
    partial_header_.reset();
    held_ = {};
    held_bytes_ = 0;
}

void StreamReader::halt(FeedResult& result, StopReason reason, std::string why, std::uint32_t at) {
    stop();
    result.stopped_now = reason;
    result.why = std::move(why);
    result.stop_seq = at;
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

bool StreamReader::hold(std::uint32_t seq, std::span<const std::uint8_t> data, FeedResult& result) {
    // A copy of something already held (a retransmitted out-of-order segment) costs nothing.
    for (const auto& h : held_) {
        const std::int64_t from = seq_distance(h.seq, seq);
        if (from >= 0 && from + static_cast<std::int64_t>(data.size()) <= static_cast<std::int64_t>(h.bytes.size())) {
            result.held = true;
            result.old_bytes = data.size();
            return true;
        }
    }
    if (held_.size() >= kMaxHeldSegments || held_bytes_ + data.size() > kMaxHeldBytes) {
        halt(result, StopReason::gap,
             fmt::format("out-of-order segment at seq {} ({} bytes) lies {} bytes beyond the expected seq {}; "
                         "the holding bound ({} segments, {} bytes) is exhausted, so the gap cannot be filled",
                         seq, data.size(), seq_distance(next_seq_, seq), next_seq_, kMaxHeldSegments, kMaxHeldBytes),
             next_seq_);
        return false;
    }
    held_.push_back(HeldSegment{seq, std::vector<std::uint8_t>(data.begin(), data.end())});
    held_bytes_ += data.size();
    result.held = true;
    return true;
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

bool StreamReader::consume(std::span<const std::uint8_t> data, Sink& sink, FeedResult& result) {
    if (data.empty()) return true;
    if (lost_frame_start_) {
        halt(result, StopReason::lost_frame_start,
             fmt::format("the daemon restarted inside a frame; bytes at seq {} continue a frame whose "
                         "beginning was lost, so the framing of this direction is unknown",
                         next_seq_),
             next_seq_);
        return false;
    }
    result.new_bytes += data.size();
    const std::uint32_t base = next_seq_;
    next_seq_ += static_cast<std::uint32_t>(data.size());
    auto seq_at = [base](std::size_t offset) { return base + static_cast<std::uint32_t>(offset); };

    std::size_t pos = 0;
    while (pos < data.size()) {
        if (partial_.empty()) {
            // Fast path: frames that lie whole inside `data` are parsed in place.
            auto rest = data.subspan(pos);
            if (rest.size() >= proto::kHeaderSize) {
                auto parsed = proto::decode_header(rest);
                if (const auto* err = proto::parsed_error(parsed)) {
                    halt(result, StopReason::malformed_header, err->reason, seq_at(pos));
                    return false;
                }
                const auto& header = std::get<proto::FrameHeader>(parsed);
                const std::size_t total = proto::kHeaderSize + header.length;
                if (rest.size() >= total) {
                    Frame frame{header, seq_at(pos), rest.subspan(proto::kHeaderSize, header.length), true};
                    pos += total;
                    if (!sink.on_frame(frame)) {
                        halt(result, StopReason::by_request, "the rest of the stream is not framed", seq_at(pos));
                        return false;
                    }
                    continue;
                }
                partial_header_ = header;
            }
            partial_.assign(rest.begin(), rest.end());
            partial_seq_ = seq_at(pos);
            pos = data.size();
            break;
        }
        if (!partial_header_) {
            const std::size_t take = std::min(proto::kHeaderSize - partial_.size(), data.size() - pos);
            partial_.insert(partial_.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                            data.begin() + static_cast<std::ptrdiff_t>(pos + take));
            pos += take;
            if (partial_.size() < proto::kHeaderSize) break;
            auto parsed = proto::decode_header(partial_);
            if (const auto* err = proto::parsed_error(parsed)) {
                halt(result, StopReason::malformed_header, err->reason, partial_seq_);
                return false;
            }
            partial_header_ = std::get<proto::FrameHeader>(parsed);
        }
        const std::size_t total = proto::kHeaderSize + partial_header_->length;
        const std::size_t take = std::min(total - partial_.size(), data.size() - pos);
        partial_.insert(partial_.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                        data.begin() + static_cast<std::ptrdiff_t>(pos + take));
        pos += take;
        if (partial_.size() == total) {
            Frame frame{*partial_header_, partial_seq_,
                        std::span<const std::uint8_t>(partial_).subspan(proto::kHeaderSize), true};
            const bool go_on = sink.on_frame(frame);
            partial_.clear();
            partial_header_.reset();
            if (partial_.capacity() > kKeepPartialCapacity) partial_.shrink_to_fit();
            if (!go_on) {
                halt(result, StopReason::by_request, "the rest of the stream is not framed", seq_at(pos));
                return false;
            }
        }
    }
    // A frame continues past this data: show the session what has arrived, so it
    // can act on fields that lie in the current packet (B8 rewrites).
    if (partial_header_ && partial_.size() > proto::kHeaderSize) {
        Frame prefix{*partial_header_, partial_seq_,
                     std::span<const std::uint8_t>(partial_).subspan(proto::kHeaderSize), false};
        if (!sink.on_frame(prefix)) {
            halt(result, StopReason::by_request, "the rest of the stream is not framed", partial_seq_);
            return false;
        }
    }
    return true;
}

}  // namespace tb::engine
