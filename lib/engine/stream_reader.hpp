// Spec B1: reassembles one direction of a TCP contact connection into frames.
//
// The reader sees segments as the firewall sees them: possibly split at any
// byte, several frames per segment, retransmitted, overlapping, out of order,
// with 32-bit sequence numbers that wrap. It never parses a byte twice and
// never skips a byte silently: when it cannot continue (a gap it cannot fill
// within its bound, a malformed header, a frame whose start a restarted daemon
// lost) it stops for good and says why.
//
// Memory per direction is bounded:
//   - the partial-frame buffer holds at most kHeaderSize + 65535 bytes (the
//     largest frame B1 allows; decode_header rejects longer ones);
//   - at most kMaxHeldSegments out-of-order segments, kMaxHeldBytes in total,
//     wait for a gap to fill. One more means the gap cannot be filled within
//     the bound: the reader stops (StopReason::gap).
// No kernel or socket calls; pure bookkeeping over byte spans.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/wire.hpp"

namespace tb::engine {

// Signed distance from `from` to `to` in 32-bit sequence space (RFC 1982 style):
// positive when `to` lies after `from`, even across a wrap.
constexpr std::int32_t seq_distance(std::uint32_t from, std::uint32_t to) {
    return static_cast<std::int32_t>(to - from);
}

class StreamReader {
public:
    static constexpr std::size_t kMaxHeldSegments = 4;
    static constexpr std::size_t kMaxHeldBytes = 16 * 1024;
    static constexpr std::size_t kMaxPartialBytes = proto::kHeaderSize + proto::kMaxBodyLength;

    // One frame as the reader yields it. `body` is valid only during the
    // Sink call. A frame is yielded complete exactly once; before that it may be
    // yielded as a prefix (`complete == false`, body holds the bytes received so
    // far, at least one) at the end of a feed, so that the session can act on
    // early fields (the embedded address) while they are still in the packet.
    struct Frame {
        proto::FrameHeader header;
        std::uint32_t frame_seq = 0;  // stream position of the header's first byte
        std::span<const std::uint8_t> body;
        bool complete = false;
        std::uint32_t body_seq() const { return frame_seq + static_cast<std::uint32_t>(proto::kHeaderSize); }
    };

    class Sink {
    public:
        // Return false to stop reading this direction for good (the session
        // decided that the rest of the stream is not framed, spec B7).
        virtual bool on_frame(const Frame& frame) = 0;

    protected:
        ~Sink() = default;
    };

    enum class StopReason : std::uint8_t {
        none,
        malformed_header,   // framing lost: the bytes at the frame position are not a header
        gap,                // out-of-order data beyond the holding bound; a gap cannot be filled
        lost_frame_start,   // restored mid-frame: the frame's beginning died with the old daemon
        by_request,         // the sink (session) asked to stop: unframed service data follows
    };
    static std::string stop_reason_name(StopReason r);

    struct FeedResult {
        std::size_t new_bytes = 0;      // bytes parsed for the first time (this segment or drained held ones)
        std::size_t old_bytes = 0;      // bytes of this segment already seen (retransmit / overlap)
        bool held = false;              // this segment waits for a gap to fill
        StopReason stopped_now = StopReason::none;  // this feed stopped the reader
        std::string why;                // readable detail when stopped_now != none
        std::uint32_t stop_seq = 0;     // stream position where reading stopped
    };

    // The stream's first byte is at `seq` (SYN + 1, or a restored position).
    // Without a call, the first segment with payload defines the start.
    void start_at(std::uint32_t seq);
    // A restarted daemon: the reader continues at `next_seq`; when `mid_frame`, the
    // old daemon was inside a frame whose start is lost, so the first new byte
    // stops the reader (StopReason::lost_frame_start).
    void restore(std::uint32_t next_seq, bool mid_frame);
    // Stop without a reason the reader could detect (the session's decision).
    void stop();

    FeedResult feed(std::uint32_t seq, std::span<const std::uint8_t> payload, Sink& sink);

    bool synced() const { return synced_; }
    bool stopped() const { return stopped_; }
    // Next stream position not yet received in order (meaningful when synced).
    std::uint32_t next_seq() const { return next_seq_; }
    // True while the reader holds the beginning of a frame that has not ended yet
    // (or was restored in that state).
    bool mid_frame() const { return !partial_.empty() || lost_frame_start_; }
    std::size_t held_segments() const { return held_.size(); }
    std::size_t held_bytes() const { return held_bytes_; }
    std::size_t partial_bytes() const { return partial_.size(); }

private:
    struct HeldSegment {
        std::uint32_t seq = 0;
        std::vector<std::uint8_t> bytes;
    };

    // Parses `data`, which starts exactly at next_seq_. Returns false once stopped.
    bool consume(std::span<const std::uint8_t> data, Sink& sink, FeedResult& result);
    bool hold(std::uint32_t seq, std::span<const std::uint8_t> data, FeedResult& result);
    void drain_held(Sink& sink, FeedResult& result);
    void halt(FeedResult& result, StopReason reason, std::string why, std::uint32_t at);

    bool synced_ = false;
    bool stopped_ = false;
    bool lost_frame_start_ = false;
    std::uint32_t next_seq_ = 0;
    // Current incomplete frame: header and body bytes received so far.
    std::vector<std::uint8_t> partial_;
    std::uint32_t partial_seq_ = 0;
    std::optional<proto::FrameHeader> partial_header_;
    std::vector<HeldSegment> held_;
    std::size_t held_bytes_ = 0;
};

}  // namespace tb::engine
