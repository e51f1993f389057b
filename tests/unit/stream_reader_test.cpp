// docs/protocol-model.md#reassembly on TCP: reassembly of one direction into frames.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "stream/stream_reader.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/messages.hpp"
#include "helpers.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;
using stream::StreamReader;
using stream::seq_distance;

namespace {

struct Seen {
    std::uint32_t frame_seq;
    std::uint16_t frame_class;
    Bytes body;
    friend bool operator==(const Seen&, const Seen&) = default;
};

struct Recorder final : stream::StreamReader::Sink {
    std::vector<Seen> complete;
    std::size_t prefixes = 0;
    std::size_t stop_after = SIZE_MAX;  // return false after this many complete frames
    bool on_frame(const stream::StreamReader::Frame& f) override {
        REQUIRE(!f.body.empty());
        REQUIRE(f.body.size() <= f.header.length);
        REQUIRE(f.body.size() <= stream::StreamReader::kMaxRetainedBody);
        if (!f.complete) {
            REQUIRE(f.body.size() < f.header.length);
            ++prefixes;
            return true;
        }
        // A complete frame carries exactly the retained prefix of its body.
        REQUIRE(f.body.size() == timbuktu::retained_body_bytes(f.header, tb::load_be16(f.body.data())));
        complete.push_back(Seen{f.frame_seq, f.header.frame_class, Bytes(f.body.begin(), f.body.end())});
        return complete.size() < stop_after;
    }
};

// A stream of frames of assorted sizes and the frames a reader must yield.
struct Stream {
    Bytes bytes;
    std::vector<Seen> frames;
};
Stream make_stream(std::uint32_t start_seq) {
    Stream s;
    std::vector<Bytes> bodies = {timbuktu::encode_hello_ack_body(timbuktu::HelloAck{}), Bytes{0x12, 0x34},
                                 Bytes(300, 0x55), timbuktu::encode_port_offer_body(timbuktu::PortOffer{0, tb::Transport::udp, 9, 0, 0}),
                                 Bytes{0x00, 0x99, 1, 2, 3}};
    bodies[2][0] = 0x00, bodies[2][1] = 0x77;
    for (const auto& b : bodies) {
        auto f = timbuktu::encode_frame(timbuktu::kClassHost, 0, b);
        timbuktu::FrameHeader h{timbuktu::kClassHost, 0, static_cast<std::uint32_t>(b.size())};
        const auto keep = timbuktu::retained_body_bytes(h, tb::load_be16(b.data()));
        s.frames.push_back(Seen{start_seq + static_cast<std::uint32_t>(s.bytes.size()), timbuktu::kClassHost,
                                Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(keep))});
        s.bytes.insert(s.bytes.end(), f.begin(), f.end());
    }
    return s;
}

struct Segment {
    std::uint32_t seq;
    Bytes bytes;
};
std::vector<Segment> cut(const Bytes& stream, std::uint32_t start_seq, const std::vector<std::size_t>& points) {
    std::vector<Segment> out;
    std::size_t from = 0;
    for (std::size_t p : points) {
        if (p <= from || p >= stream.size()) continue;
        out.push_back(Segment{start_seq + static_cast<std::uint32_t>(from),
                              Bytes(stream.begin() + static_cast<std::ptrdiff_t>(from),
                                    stream.begin() + static_cast<std::ptrdiff_t>(p))});
        from = p;
    }
    out.push_back(Segment{start_seq + static_cast<std::uint32_t>(from),
                          Bytes(stream.begin() + static_cast<std::ptrdiff_t>(from), stream.end())});
    return out;
}
std::vector<Seen> run(const std::vector<Segment>& segments, std::uint32_t start_seq) {
    stream::StreamReader r;
    r.start_at(start_seq);
    Recorder rec;
    for (const auto& s : segments) {
        auto res = r.feed(s.seq, s.bytes, rec);
        REQUIRE(res.stopped_now == stream::StreamReader::StopReason::none);
    }
    CHECK_FALSE(r.mid_frame());
    CHECK(r.held_segments() == 0);
    return rec.complete;
}

}  // namespace

TEST_CASE("stream::seq_distance handles wraparound", "[stream]") {
    CHECK(stream::seq_distance(0xFFFFFFF0u, 0x10u) == 0x20);
    CHECK(stream::seq_distance(0x10u, 0xFFFFFFF0u) == -0x20);
    CHECK(stream::seq_distance(5, 5) == 0);
}

TEST_CASE("stream: every split point, 1-byte segments, three-way splits", "[stream][B1]") {
    for (std::uint32_t start : {0u, 0xFFFFFF80u, 0x7FFFFFFFu}) {
        auto s = make_stream(start);
        REQUIRE(run(cut(s.bytes, start, {}), start) == s.frames);
        for (std::size_t i = 1; i < s.bytes.size(); ++i) REQUIRE(run(cut(s.bytes, start, {i}), start) == s.frames);
        std::vector<std::size_t> every(s.bytes.size());
        for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
        REQUIRE(run(cut(s.bytes, start, every), start) == s.frames);
        for (std::size_t i = 1; i < s.bytes.size(); i += 7)
            for (std::size_t j = i + 1; j < s.bytes.size(); j += 5)
                REQUIRE(run(cut(s.bytes, start, {i, j}), start) == s.frames);
    }
}

TEST_CASE("stream: retransmits and overlaps never parse a byte twice", "[stream][B1]") {
    const std::uint32_t start = 0xFFFFFFFAu;  // wraps inside the first frame
    auto s = make_stream(start);
    std::mt19937 rng(7);
    for (int round = 0; round < 300; ++round) {
        // Overlapping windows: each segment starts somewhere at or before the
        // end of what was sent and ends after it.
        std::vector<Segment> segs;
        std::size_t sent = 0;
        while (sent < s.bytes.size()) {
            std::size_t back = std::uniform_int_distribution<std::size_t>(0, std::min<std::size_t>(sent, 40))(rng);
            std::size_t len = std::uniform_int_distribution<std::size_t>(back + 1, back + 60)(rng);
            std::size_t from = sent - back;
            std::size_t to = std::min(s.bytes.size(), from + len);
            segs.push_back(Segment{start + static_cast<std::uint32_t>(from),
                                   Bytes(s.bytes.begin() + static_cast<std::ptrdiff_t>(from),
                                         s.bytes.begin() + static_cast<std::ptrdiff_t>(to))});
            if (rng() % 4 == 0) segs.push_back(segs.back());  // exact retransmit
            sent = std::max(sent, to);
        }
        // An old retransmit at the end.
        segs.push_back(Segment{start, Bytes(s.bytes.begin(), s.bytes.begin() + 20)});
        REQUIRE(run(segs, start) == s.frames);
    }
}

TEST_CASE("stream: out-of-order segments within the bound are used when the gap fills", "[stream][B1]") {
    const std::uint32_t start = 0xFFFFFF00u;
    auto s = make_stream(start);
    std::mt19937 rng(11);
    for (int round = 0; round < 300; ++round) {
        std::vector<std::size_t> points;
        for (int k = 0; k < 6; ++k) points.push_back(1 + rng() % (s.bytes.size() - 1));
        std::sort(points.begin(), points.end());
        auto segs = cut(s.bytes, start, points);
        // Reverse a window of at most 5 segments: at most 4 wait out of order.
        std::size_t from = rng() % segs.size();
        std::size_t to = std::min(segs.size(), from + 1 + rng() % 5);
        std::reverse(segs.begin() + static_cast<std::ptrdiff_t>(from), segs.begin() + static_cast<std::ptrdiff_t>(to));
        REQUIRE(run(segs, start) == s.frames);
    }
}

TEST_CASE("stream: feed results report old, new and held bytes", "[stream][B1]") {
    auto s = make_stream(1000);
    stream::StreamReader r;
    Recorder rec;
    auto a = r.feed(1000, Bytes(s.bytes.begin(), s.bytes.begin() + 10), rec);
    CHECK(a.new_bytes == 10);
    CHECK(r.next_seq() == 1010);
    auto held = r.feed(1020, Bytes(s.bytes.begin() + 20, s.bytes.begin() + 30), rec);
    CHECK(held.held);
    CHECK(held.new_bytes == 0);
    CHECK(r.held_segments() == 1);
    CHECK(r.held_bytes() == 10);
    auto old = r.feed(1000, Bytes(s.bytes.begin(), s.bytes.begin() + 10), rec);
    CHECK(old.old_bytes == 10);
    CHECK(old.new_bytes == 0);
    auto fill = r.feed(1005, Bytes(s.bytes.begin() + 5, s.bytes.begin() + 20), rec);
    CHECK(fill.old_bytes == 5);
    CHECK(fill.new_bytes == 20);  // 10 of its own + 10 drained from the held segment
    CHECK(r.next_seq() == 1030);
    CHECK(r.held_segments() == 0);
    CHECK(rec.prefixes > 0);
}

// docs/protocol-model.md#held-segments: past the bound a new segment is
// refused (its packet is dropped, so its sender retransmits it); what is held
// was passed on and is never given up; the reader never stops for a gap
// (behaviour change of issue 8 item 5: it used to stop for good).
TEST_CASE("stream: past the holding bound a new segment is refused and the stream goes on", "[stream][B1]") {
    auto s = make_stream(0);
    auto piece = [&](std::size_t from, std::size_t to) {
        return Bytes(s.bytes.begin() + static_cast<std::ptrdiff_t>(from), s.bytes.begin() + static_cast<std::ptrdiff_t>(to));
    };
    SECTION("more segments than the bound: the new one is refused, its retransmission is used") {
        stream::StreamReader r;
        Recorder rec;
        r.start_at(0);
        // Five pieces after a gap at [0, 40), the furthest arriving first.
        const std::size_t starts[] = {120, 100, 80, 60};
        for (std::size_t start : starts) {
            auto res = r.feed(static_cast<std::uint32_t>(start), piece(start, start + 20), rec);
            CHECK(res.held);
            CHECK_FALSE(res.refused);
            CHECK(res.dropped == 0);
        }
        // The same held segment again costs nothing.
        CHECK_FALSE(r.feed(100, piece(100, 120), rec).refused);
        auto res = r.feed(40, piece(40, 60), rec);  // no room: refused, whatever its place
        CHECK_FALSE(res.held);
        CHECK(res.refused);
        CHECK(res.dropped == 1);
        CHECK_FALSE(r.stopped());
        CHECK(r.held_segments() == 4);
        CHECK(r.held_bytes() == 80);
        auto far = r.feed(200, piece(200, 220), rec);
        CHECK(far.refused);
        CHECK(r.held_segments() == 4);
        // The gap fills, then the refused segment comes again: everything held is used.
        r.feed(0, piece(0, 40), rec);
        CHECK(r.next_seq() == 40);
        r.feed(40, piece(40, 60), rec);
        CHECK(r.next_seq() == 140);
        CHECK(r.held_segments() == 0);
        r.feed(140, piece(140, s.bytes.size()), rec);
        CHECK(rec.complete == s.frames);
        CHECK(r.heap_bytes() == 0);
    }
    SECTION("more bytes than the bound") {
        stream::StreamReader r;
        Recorder rec;
        r.start_at(0);
        CHECK(r.feed(10, Bytes(stream::StreamReader::kMaxHeldBytes, 0), rec).held);
        auto res = r.feed(10 + stream::StreamReader::kMaxHeldBytes, Bytes(1, 0), rec);
        CHECK_FALSE(res.held);
        CHECK(res.refused);
        auto nearer = r.feed(5, Bytes(2, 0), rec);  // held bytes are never given up: refused too
        CHECK_FALSE(nearer.held);
        CHECK(nearer.refused);
        CHECK(r.held_bytes() == stream::StreamReader::kMaxHeldBytes);
        CHECK_FALSE(r.stopped());
    }
    SECTION("the shared budget bounds what all readers hold together") {
        stream::HoldBudget budget(1000);
        stream::StreamReader a(&budget), b(&budget);
        Recorder rec;
        a.start_at(0);
        b.start_at(0);
        CHECK(a.feed(100, Bytes(600, 0), rec).held);
        CHECK(budget.used() == 600);
        auto res = b.feed(100, Bytes(600, 0), rec);  // does not fit: dropped, nothing of b's own to drop
        CHECK_FALSE(res.held);
        CHECK(res.dropped == 1);
        CHECK(b.feed(100, Bytes(400, 0), rec).held);
        CHECK(budget.used() == 1000);
        CHECK(budget.refusals() == 1);
        {
            stream::StreamReader moved(std::move(a));  // the bytes change owner, the budget stays taken
            CHECK(budget.used() == 1000);
        }
        CHECK(budget.used() == 400);  // given back when the reader holding them goes
        b.stop();
        CHECK(budget.used() == 0);
    }
}

TEST_CASE("stream: malformed header stops the reader at the frame position", "[stream][B1]") {
    auto s = make_stream(500);
    auto bytes = s.bytes;
    const std::size_t second = 6 + s.frames[0].body.size();
    bytes[second] = 0x07;  // class 0x0701
    for (std::size_t split : {std::size_t{0}, second - 3, second + 1, second + 5, second + 6}) {
        stream::StreamReader r;
        Recorder rec;
        stream::StreamReader::FeedResult last;
        for (const auto& seg : cut(bytes, 500, {split})) {
            auto res = r.feed(seg.seq, seg.bytes, rec);
            if (res.stopped_now != stream::StreamReader::StopReason::none) last = res;
        }
        CHECK(last.stopped_now == stream::StreamReader::StopReason::malformed_header);
        CHECK(last.stop_seq == 500 + second);
        // Typed: the header's reason and the offending class, words only at the edge.
        REQUIRE(last.header_error);
        CHECK(last.header_error->reason == timbuktu::WireReason::class_unknown);
        CHECK(last.header_error->value == 0x0701);
        CHECK(timbuktu::stream_stop_text(last.stopped_now, last.stop_seq, last.header_error).find("0x0701") !=
              std::string::npos);
        REQUIRE(rec.complete.size() == 1);
    }
    stream::StreamReader r;
    Recorder rec;
    auto big = timbuktu::encode_frame(timbuktu::kClassGuest, 0, Bytes{0, 1});
    tb::store_be24(big.data() + 3, 70000);
    CHECK(r.feed(0, big, rec).stopped_now == stream::StreamReader::StopReason::malformed_header);
}

// docs/protocol-model.md#streaming: a frame is read as a stream; of its body
// only the prefix the engine needs is kept, the rest is counted off.
TEST_CASE("stream: a 64 KiB frame is counted off, not buffered", "[stream][B1]") {
    for (std::uint16_t opcode : {std::uint16_t{0x0060}, timbuktu::kOpHello, timbuktu::kOpPortOffer}) {
        Bytes body(timbuktu::kMaxBodyLength, 0xAB);
        tb::store_be16(body.data(), opcode);
        auto f = timbuktu::encode_frame(timbuktu::kClassHost, 0, body);
        stream::StreamReader r;
        Recorder rec;
        std::size_t most = 0;
        for (std::size_t at = 0; at < f.size(); at += 1460) {
            const std::size_t to = std::min(f.size(), at + 1460);
            r.feed(static_cast<std::uint32_t>(at), Bytes(f.begin() + static_cast<std::ptrdiff_t>(at),
                                                         f.begin() + static_cast<std::ptrdiff_t>(to)),
                   rec);
            most = std::max(most, r.heap_bytes());
            CHECK(r.partial_bytes() <= stream::StreamReader::kMaxRetainedBody);
        }
        INFO("opcode " << opcode);
        // The structural bound: the retained prefix buffer, nothing that grows with the frame.
        CHECK(most <= stream::StreamReader::kMaxRetainedBody);
        REQUIRE(rec.complete.size() == 1);
        CHECK(rec.complete[0].body.size() == (opcode == timbuktu::kOpHello ? timbuktu::kHelloAckRetainedBody
                                              : opcode == timbuktu::kOpPortOffer ? timbuktu::kPortOfferBody
                                                                              : 2u));
        CHECK(r.partial_bytes() == 0);
        CHECK(r.heap_bytes() == 0);  // nothing left allocated at rest
        CHECK_FALSE(r.mid_frame());
    }
}

TEST_CASE("stream: 60 KB of an unfinished frame retain at most a few hundred bytes", "[stream][B1]") {
    Bytes header{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF};  // a guest HELLO declaring 65535 body bytes
    Bytes body(60000, 0x41);
    body[0] = 0x00, body[1] = 0x23;
    stream::StreamReader r;
    Recorder rec;
    r.feed(0, header, rec);
    for (std::size_t at = 0; at < body.size(); at += 1000)
        r.feed(static_cast<std::uint32_t>(6 + at),
               Bytes(body.begin() + static_cast<std::ptrdiff_t>(at), body.begin() + static_cast<std::ptrdiff_t>(at + 1000)),
               rec);
    CHECK(r.mid_frame());
    CHECK(rec.complete.empty());
    CHECK(rec.prefixes >= 1);
    CHECK(r.partial_bytes() == timbuktu::kHelloRetainedBody);
    CHECK(r.heap_bytes() <= 512);
    CHECK(sizeof(stream::StreamReader) <= 128);
}

TEST_CASE("stream: the sink can stop the reader (unframed data follows)", "[stream][B7]") {
    auto s = make_stream(0);
    stream::StreamReader r;
    Recorder rec;
    rec.stop_after = 2;
    auto res = r.feed(0, s.bytes, rec);
    CHECK(res.stopped_now == stream::StreamReader::StopReason::by_request);
    CHECK(rec.complete.size() == 2);
    CHECK(r.stopped());
}

TEST_CASE("stream: restored mid-frame, the next new byte stops the reader", "[stream][B1]") {
    stream::StreamReader r;
    Recorder rec;
    r.restore(100, true);
    CHECK(r.mid_frame());
    CHECK(r.feed(90, Bytes(10, 0), rec).old_bytes == 10);  // old data is still just old
    CHECK_FALSE(r.stopped());
    auto res = r.feed(100, Bytes(10, 0), rec);
    CHECK(res.stopped_now == stream::StreamReader::StopReason::lost_frame_start);
    CHECK(res.stop_seq == 100);
    CHECK_FALSE(res.header_error);
    CHECK(timbuktu::stream_stop_text(res.stopped_now, res.stop_seq).find("restarted") != std::string::npos);
    stream::StreamReader clean;
    clean.restore(100, false);
    auto f = offer(7, tb::Transport::udp, 4000);
    CHECK(clean.feed(100, f, rec).stopped_now == stream::StreamReader::StopReason::none);
    CHECK(rec.complete.size() == 1);
}
