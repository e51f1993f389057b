// docs/protocol-model.md#reassembly: reads one direction of a TCP contact connection as a stream of frames.
//
// The reader sees segments as the firewall sees them: possibly split at any
// byte, several frames per segment, retransmitted, overlapping, out of order,
// with 32-bit sequence numbers that wrap. It never parses a byte twice and
// never skips a byte silently: when it cannot continue (a malformed header, a
// frame whose start a restarted daemon lost) it stops for good and says why.
//
// It parses incrementally (docs/protocol-model.md#streaming): of each frame it
// keeps only the header and the body prefix the engine needs
// (timbuktu::retained_body_bytes: at most kMaxRetainedBody bytes) and counts the
// rest of the body off without storing it. So a frame that never ends costs a
// few hundred bytes, not 64 KiB.
//
// Memory per direction is bounded:
//   - the retained prefix of the current frame: at most kMaxRetainedBody bytes,
//     allocated only while a frame spans segments;
//   - at most kMaxHeldSegments out-of-order segments, kMaxHeldBytes in total,
//     and together with every other reader no more than the shared
//     HoldBudget. A segment that does not fit makes the reader drop the held
//     segment furthest from the next expected byte (possibly the new one) and
//     wait for its retransmission (docs/protocol-model.md#held-segments).
// No kernel or socket calls; pure bookkeeping over byte spans.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stream/hold_budget.hpp"
#include "timbuktu/wire.hpp"

namespace tb::stream {

// Signed distance from `from` to `to` in 32-bit sequence space (RFC 1982 style):
// positive when `to` lies after `from`, even across a wrap.
constexpr std::int32_t seq_distance(std::uint32_t from, std::uint32_t to) {
    return static_cast<std::int32_t>(to - from);
}

class StreamReader {
public:
    static constexpr std::size_t kMaxHeldSegments = 4;
    static constexpr std::size_t kMaxHeldBytes = 16 * 1024;
    static constexpr std::size_t kMaxRetainedBody = timbuktu::kMaxRetainedBody;

    // One frame as the reader yields it. `body` is valid only during the Sink
    // call and holds the retained prefix of the body: the first
    // timbuktu::retained_body_bytes(header, opcode) bytes, or fewer while they
    // have not all arrived. `header.length` is the declared body length.
    // A frame is yielded complete exactly once; before that it may be yielded
    // as a prefix (`complete == false`, at least one body byte) at the end of a
    // feed whenever its retained prefix grew, so that the session can judge
    // the frame by its opcode and act on early fields (the embedded addresses)
    // while they are still in the packet.
    struct Frame {
        timbuktu::FrameHeader header;
        std::uint32_t frame_seq = 0;  // stream position of the header's first byte
        std::span<const std::uint8_t> body;
        bool complete = false;
        std::uint32_t body_seq() const { return frame_seq + static_cast<std::uint32_t>(timbuktu::kHeaderSize); }
    };

    class Sink {
    public:
        // Return false to stop reading this direction for good (the session
        // decided that the rest of the stream is not framed, docs/protocol-model.md#phases, or the
        // flow is no longer parsed).
        virtual bool on_frame(const Frame& frame) = 0;

    protected:
        ~Sink() = default;
    };

    enum class StopReason : std::uint8_t {
        none,
        malformed_header,   // framing lost: the bytes at the frame position are not a header
        lost_frame_start,   // restored mid-frame: the frame's beginning died with the old daemon
        by_request,         // the sink (session) asked to stop: unframed service data follows
    };

    struct FeedResult {
        std::size_t new_bytes = 0;      // bytes parsed for the first time (this segment or drained held ones)
        std::size_t old_bytes = 0;      // bytes of this segment already seen (retransmit / overlap)
        bool held = false;              // this segment waits for a gap to fill
        std::size_t dropped = 0;        // segments not held to stay within the bounds (this one)
        // This segment lies beyond a gap and could not be held: the kernel layer
        // must drop the packet, so that the peer sends it again
        // (docs/protocol-model.md#held-segments). Passing it would leave a second
        // gap that nobody ever retransmits: the receiver would have the bytes.
        bool refused = false;
        StopReason stopped_now = StopReason::none;  // this feed stopped the reader
        // malformed_header: why the bytes at stop_seq are not a header. The
        // words are timbuktu::stream_stop_text's (event_text.hpp), at the edge.
        std::optional<timbuktu::WireError> header_error;
        std::uint32_t stop_seq = 0;     // stream position where reading stopped
                                        // (lost_frame_start: the first byte after the restart)
    };

    explicit StreamReader(HoldBudget* budget = nullptr) : budget_(budget) {}
    ~StreamReader();
    StreamReader(StreamReader&& other) noexcept;
    StreamReader& operator=(StreamReader&& other) noexcept;
    StreamReader(const StreamReader&) = delete;
    StreamReader& operator=(const StreamReader&) = delete;

    // The stream's first byte is at `seq` (SYN + 1, or a restored position).
    // Without a call, the first segment with payload defines the start.
    void start_at(std::uint32_t seq);
    // A restarted daemon: the reader continues at `next_seq`; when `mid_frame`, the
    // old daemon was inside a frame whose start is lost, so the first new byte
    // stops the reader (StopReason::lost_frame_start).
    void restore(std::uint32_t next_seq, bool mid_frame);
    // Stop without a reason the reader could detect (the session's decision).
    // Frees everything the reader holds.
    void stop();

    FeedResult feed(std::uint32_t seq, std::span<const std::uint8_t> payload, Sink& sink);

    bool synced() const { return synced_; }
    bool stopped() const { return stopped_; }
    // Next stream position not yet received in order (meaningful when synced).
    std::uint32_t next_seq() const { return next_seq_; }
    // True while the reader is inside a frame that has not ended yet (or was
    // restored in that state).
    bool mid_frame() const { return header_have_ > 0 || in_body_ || lost_frame_start_; }
    std::size_t held_segments() const { return held_.size(); }
    std::size_t held_bytes() const { return held_bytes_; }
    // Bytes of the current frame kept so far (header bytes and retained body prefix).
    std::size_t partial_bytes() const;
    // Heap bytes this reader owns right now (retained prefix buffer, held
    // segments and their table), for memory bounds and benchmarks.
    std::size_t heap_bytes() const;

private:
    struct HeldSegment {
        std::uint32_t seq = 0;
        std::vector<std::uint8_t> bytes;
    };

    // Parses `data`, which starts exactly at next_seq_. Returns false once stopped.
    bool consume(std::span<const std::uint8_t> data, Sink& sink, FeedResult& result);
    // The body bytes of the current frame found in `data` from `pos`; returns the new pos.
    std::size_t take_body(std::span<const std::uint8_t> data, std::size_t pos);
    bool begin_frame(const std::uint8_t* header_bytes, std::uint32_t frame_seq, FeedResult& result);
    void end_frame();
    std::span<const std::uint8_t> retained() const;
    void hold(std::uint32_t seq, std::span<const std::uint8_t> data, FeedResult& result);
    void drain_held(Sink& sink, FeedResult& result);
    void release_held();
    void halt(FeedResult& result, StopReason reason, std::uint32_t at,
              std::optional<timbuktu::WireError> header_error = std::nullopt);

    HoldBudget* budget_ = nullptr;
    bool synced_ = false;
    bool stopped_ = false;
    bool lost_frame_start_ = false;
    std::uint32_t next_seq_ = 0;

    // The current frame. Header bytes are collected here when the header
    // straddles segments.
    std::uint8_t header_bytes_[timbuktu::kHeaderSize] = {};
    std::uint8_t header_have_ = 0;
    bool in_body_ = false;           // header decoded, body not finished
    bool keep_known_ = false;        // the opcode arrived, keep_ is final
    timbuktu::FrameHeader header_{};
    std::uint32_t frame_seq_ = 0;
    std::uint32_t body_have_ = 0;    // body bytes received (retained or counted off)
    std::uint16_t keep_ = 2;         // body bytes to retain
    // The retained prefix of a frame that spans segments; allocated only then.
    std::unique_ptr<std::uint8_t[]> kept_;

    std::vector<HeldSegment> held_;
    std::size_t held_bytes_ = 0;
};

}  // namespace tb::stream
