// Spec B7/B8: the per-connection state machine. See docs/protocol-model.md for
// every choice made where the spec leaves room.
#include "engine/session.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/stream_reader.hpp"
#include "protocol/services.hpp"
#include "protocol/wire.hpp"

namespace tb::engine {

std::string phase_name(Phase p) {
    switch (p) {
        case Phase::await_hello: return "await-hello";
        case Phase::await_ack: return "await-ack";
        case Phase::framed: return "framed";
        case Phase::service_data: return "service-data";
        case Phase::not_timbuktu: return "not-timbuktu";
        case Phase::lost: return "lost";
        case Phase::hostile: return "hostile";
        case Phase::unmodelled: return "unmodelled";
    }
    return "unknown";
}

namespace {

// Hard bound on the per-connection table of accepted offers, whatever the
// policy says (the configuration allows at most this many).
constexpr std::size_t kMaxOfferTable = kMaxExpectationsLimit;
// Rewrites remembered per direction, so that a retransmitted segment carrying a
// rewritten field is rewritten the same way again.
constexpr std::size_t kRememberedRewrites = 4;

// Persisted form (kPersistedStateSize = 32 bytes), version 1:
//   [0] magic 'T'  [1] version  [2] phase  [3] service
//   [4] stream flags: bits 0-2 guest direction synced/mid-frame/stopped, bits 3-5 host direction
//   [5..8] guest direction next seq  [9..12] host direction next seq   (big-endian)
//   [13] distinct accepted offers  [14] number of offer keys that follow
//   [15..29] up to 5 offer keys, most recent first: transport (6/17), port (be16)
//   [30] reserved, 0   [31] CRC-8 of bytes 0..30
constexpr std::uint8_t kPersistMagic = 0x54;
constexpr std::uint8_t kPersistVersion = 1;
constexpr std::size_t kPersistKeysOffset = 15;
constexpr std::size_t kPersistMaxKeys = 5;
constexpr std::uint8_t kFlagSynced = 1, kFlagMidFrame = 2, kFlagStopped = 4;
constexpr int kHostFlagShift = 3;

std::uint8_t crc8(std::span<const std::uint8_t> bytes) {
    std::uint8_t crc = 0;
    for (auto b : bytes) {
        crc ^= b;
        for (int i = 0; i < 8; ++i)
            crc = static_cast<std::uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
    }
    return crc;
}

const char* side_name(PacketDirection d) { return d == PacketDirection::original ? "guest" : "host"; }

std::string offer_text(const proto::PortOffer& o) {
    return fmt::format("PORT-OFFER {} {}/{} address {} lifetime {}s", proto::service_name(o.service),
                       transport_name(o.transport), o.port, IpAddress::v4(o.address).to_string(), o.lifetime);
}

struct OfferKey {
    Transport transport = Transport::tcp;
    std::uint16_t port = 0;
    friend bool operator==(const OfferKey&, const OfferKey&) = default;
};

struct RememberedRewrite {
    std::uint32_t seq = 0;
    std::array<std::uint8_t, 4> old_bytes{};
    std::array<std::uint8_t, 4> new_bytes{};
    const char* what = "";
};

struct DirectionState {
    StreamReader reader;
    // Stream position of the frame whose embedded address was last examined,
    // so that a frame seen first as a prefix and then complete is examined once.
    std::optional<std::uint32_t> address_examined_frame;
    std::array<RememberedRewrite, kRememberedRewrites> rewrites{};
    std::size_t rewrite_count = 0;
    std::size_t rewrite_next = 0;

    void remember(const RememberedRewrite& r) {
        rewrites[rewrite_next] = r;
        rewrite_next = (rewrite_next + 1) % rewrites.size();
        rewrite_count = std::min(rewrite_count + 1, rewrites.size());
    }
};

// Everything one packet produces while it is being parsed.
struct PacketContext {
    PacketDirection direction;
    std::uint32_t payload_seq;  // TCP: seq of payload[0]. UDP: 0 (positions are datagram offsets)
    std::span<const std::uint8_t> payload;
    Decisions& out;
    bool malformed = false;                      // this packet never produces an Expect
    // Offers that passed address and port policy, each with the index of the
    // slot reserved for its decision, so that decisions stay in stream order.
    std::vector<std::pair<proto::PortOffer, std::size_t>> candidates;
};

}  // namespace

struct Session::Impl {
    ConnectionFacts facts;
    Policy policy;
    Counters* counters;
    Phase phase = Phase::await_hello;
    std::uint8_t service = 0;
    std::array<DirectionState, 2> directions;
    std::vector<OfferKey> known_offers;  // most recent last; at most kMaxOfferTable
    std::uint32_t accepted = 0;          // distinct accepted offers; at most kMaxOfferTable

    Impl(ConnectionFacts f, const Policy& p, Counters& c) : facts(std::move(f)), policy(p), counters(&c) {}

    bool is_tcp() const { return facts.transport == Transport::tcp; }
    bool is_v4() const { return facts.guest.is_v4() && facts.contact_address.is_v4() && facts.host.is_v4(); }
    bool ipv6_contact() const { return facts.contact_address.is_v6(); }
    bool dnat() const { return facts.host.family != IpAddress::Family::none && facts.host != facts.contact_address; }
    bool snat() const { return facts.guest_translated.family != IpAddress::Family::none &&
                               facts.guest_translated != facts.guest; }
    bool natted() const { return dnat() || snat(); }
    bool terminal() const {
        return phase == Phase::service_data || phase == Phase::not_timbuktu || phase == Phase::lost ||
               phase == Phase::hostile || phase == Phase::unmodelled;
    }
    DirectionState& side(PacketDirection d) { return directions[d == PacketDirection::original ? 0 : 1]; }

    Decisions on_packet(const Packet& packet);
    void on_tcp(const Packet& packet, PacketContext& ctx);
    void on_udp(const Packet& packet, PacketContext& ctx);
    bool on_frame(PacketContext& ctx, const StreamReader::Frame& frame);
    bool on_guest_frame(PacketContext& ctx, const proto::FrameHeader& header, std::span<const std::uint8_t> body);
    bool on_host_frame(PacketContext& ctx, const proto::FrameHeader& header, std::span<const std::uint8_t> body);
    void examine_address(PacketContext& ctx, const StreamReader::Frame& frame);
    void replay_rewrites(PacketContext& ctx);
    void on_offer(PacketContext& ctx, const proto::PortOffer& offer);
    void commit_offers(PacketContext& ctx);
    void refuse(PacketContext& ctx, RefuseReason reason, std::string detail);
    void malformed(PacketContext& ctx, std::string text);
    void not_timbuktu(PacketContext& ctx, const std::string& why);
    void enter_terminal(PacketContext& ctx, Phase p, const std::string& why);
    void on_reader_stop(PacketContext& ctx, const StreamReader::FeedResult& r);
    PersistedState persisted() const;

    // Hands the frames of one TCP segment to on_frame.
    struct FrameSink final : StreamReader::Sink {
        Impl* impl;
        PacketContext* ctx;
        FrameSink(Impl* i, PacketContext* c) : impl(i), ctx(c) {}
        bool on_frame(const StreamReader::Frame& frame) override { return impl->on_frame(*ctx, frame); }
    };
};

// ---- packets ----

Decisions Session::Impl::on_packet(const Packet& packet) {
    saturating_inc(counters->packets);
    Decisions out;
    PacketContext ctx{packet.direction, is_tcp() ? packet.tcp_seq : 0, packet.payload, out, false, {}};
    if (is_tcp()) on_tcp(packet, ctx);
    else on_udp(packet, ctx);
    commit_offers(ctx);
    return out;
}

void Session::Impl::on_tcp(const Packet& packet, PacketContext& ctx) {
    DirectionState& dir = side(packet.direction);
    std::uint32_t data_seq = packet.tcp_seq;
    if (packet.tcp_syn) {
        data_seq = packet.tcp_seq + 1;  // the SYN occupies one sequence number
        dir.reader.start_at(data_seq);
        ctx.payload_seq = data_seq;
    }
    if (packet.payload.empty()) return;
    replay_rewrites(ctx);  // also after the session stopped: retransmits must match what was sent
    if (terminal()) return;
    if (phase == Phase::await_hello && packet.direction == PacketDirection::reply) {
        not_timbuktu(ctx, "the host side sent data before any guest frame (a Timbuktu guest speaks first)");
        return;
    }
    if (dir.reader.stopped()) return;
    FrameSink sink(this, &ctx);
    auto result = dir.reader.feed(data_seq, packet.payload, sink);
    if (result.stopped_now != StreamReader::StopReason::none) on_reader_stop(ctx, result);
}

void Session::Impl::on_udp(const Packet& packet, PacketContext& ctx) {
    if (packet.payload.empty() || terminal()) return;
    if (phase == Phase::await_hello && packet.direction == PacketDirection::reply) {
        not_timbuktu(ctx, "the host side sent a datagram before any guest datagram");
        return;
    }
    auto split = proto::split_datagram(packet.payload);
    if (const auto* err = proto::parsed_error(split)) {
        if (phase == Phase::await_hello) not_timbuktu(ctx, "first guest datagram: " + err->reason);
        else malformed(ctx, fmt::format("{} datagram of {} bytes: {}", side_name(packet.direction),
                                        packet.payload.size(), err->reason));
        return;
    }
    // Datagram offsets repeat from one datagram to the next: examine every frame afresh.
    side(packet.direction).address_examined_frame.reset();
    for (const auto& view : std::get<std::vector<proto::FrameView>>(split)) {
        const auto body_offset = static_cast<std::size_t>(view.body.data() - packet.payload.data());
        StreamReader::Frame frame{view.header, static_cast<std::uint32_t>(body_offset - proto::kHeaderSize),
                                  view.body, true};
        if (!on_frame(ctx, frame)) break;
    }
}

// Returns false when this direction is no longer to be parsed.
bool Session::Impl::on_frame(PacketContext& ctx, const StreamReader::Frame& frame) {
    if (terminal()) return false;
    examine_address(ctx, frame);
    if (!frame.complete) return true;
    const bool go_on = ctx.direction == PacketDirection::original ? on_guest_frame(ctx, frame.header, frame.body)
                                                                   : on_host_frame(ctx, frame.header, frame.body);
    return go_on && !terminal();
}

bool Session::Impl::on_guest_frame(PacketContext& ctx, const proto::FrameHeader& header,
                                   std::span<const std::uint8_t> body) {
    const std::uint16_t opcode = load_be16(body.data());
    if (opcode == proto::kOpPortOffer) {
        // B5: the same bytes from the guest are a forgery, whatever their class or shape.
        saturating_inc(counters->forged);
        auto parsed = proto::parse_port_offer(body, ipv6_contact());
        const auto* offer = proto::parsed_value(parsed);
        refuse(ctx, RefuseReason::forged_guest_offer,
               fmt::format("the guest sent a {}; only the host may offer ports",
                           offer ? offer_text(*offer) : fmt::format("PORT-OFFER of {} bytes", body.size())));
        if (phase == Phase::await_hello) not_timbuktu(ctx, "the first guest frame is a PORT-OFFER, not a HELLO");
        return !terminal();
    }
    if (header.frame_class != proto::kClassGuest) {
        if (phase == Phase::await_hello) {
            not_timbuktu(ctx, fmt::format("the first guest frame has class 0x{:04x}, not 0x0001", header.frame_class));
            return false;
        }
        malformed(ctx, fmt::format("the guest sent a frame of host class 0x{:04x} (opcode 0x{:04x})",
                                   header.frame_class, opcode));
        return true;
    }
    if (opcode != proto::kOpHello) {
        if (phase == Phase::await_hello) {
            not_timbuktu(ctx, fmt::format("the first guest frame has opcode 0x{:04x}, not a HELLO (0x0023)", opcode));
            return false;
        }
        counters->count_opcode(opcode);
        ctx.out.push_back(Note{Note::Level::debug, fmt::format("guest opcode 0x{:04x} ignored (B6)", opcode)});
        return true;
    }
    auto parsed = proto::parse_hello(body);
    const auto* hello = proto::parsed_value(parsed);
    if (phase != Phase::await_hello) {
        if (!hello) malformed(ctx, "guest HELLO: " + proto::parsed_error(parsed)->reason);
        else ctx.out.push_back(Note{Note::Level::debug, "guest repeated its HELLO"});
        return true;
    }
    if (!hello) {
        not_timbuktu(ctx, "the first guest frame is not a valid HELLO: " + proto::parsed_error(parsed)->reason);
        return false;
    }
    saturating_inc(counters->sessions);
    service = hello->service;
    phase = Phase::await_ack;
    ctx.out.push_back(Note{Note::Level::info,
                           fmt::format("Timbuktu HELLO over {}: service {}, version {}.{}, flags 0x{:02x}, "
                                       "guest address {}{}",
                                       transport_name(facts.transport), proto::service_name(service),
                                       hello->version_major, hello->version_minor, hello->flags,
                                       IpAddress::v4(hello->guest_address).to_string(),
                                       hello->guest_name ? ", name '" + *hello->guest_name + "'" : "")});
    if (is_tcp() && proto::service_stream_unframed(service)) {
        // B7: for services 1-4 the guest has nothing more to say in frames; what it
        // sends after its HELLO is service data, not an error (docs/protocol-model.md).
        ctx.out.push_back(Note{Note::Level::debug, fmt::format("service {}: guest data after the HELLO is service "
                                                               "data; the guest direction is no longer parsed",
                                                               proto::service_name(service))});
        return false;
    }
    return true;
}

bool Session::Impl::on_host_frame(PacketContext& ctx, const proto::FrameHeader& header,
                                  std::span<const std::uint8_t> body) {
    const std::uint16_t opcode = load_be16(body.data());
    if (header.frame_class != proto::kClassHost) {
        malformed(ctx, fmt::format("the host sent a frame of guest class 0x{:04x} (opcode 0x{:04x})",
                                   header.frame_class, opcode));
        return true;
    }
    if (opcode == proto::kOpHello) {
        auto parsed = proto::parse_hello_ack(body);
        const auto* ack = proto::parsed_value(parsed);
        if (!ack) {
            malformed(ctx, "host HELLO-ACK: " + proto::parsed_error(parsed)->reason);
            return true;
        }
        if (phase != Phase::await_ack) {
            ctx.out.push_back(Note{Note::Level::debug, "host repeated its HELLO-ACK"});
            return true;
        }
        ctx.out.push_back(Note{Note::Level::info,
                               fmt::format("Timbuktu HELLO-ACK: service {} granted, version {}.{}, flags 0x{:02x}, "
                                           "host address {}, name '{}'",
                                           proto::service_name(ack->service), ack->version_major,
                                           ack->version_minor, ack->flags,
                                           IpAddress::v4(ack->host_address).to_string(), ack->host_name)});
        if (is_tcp() && proto::service_stream_unframed(service)) {
            enter_terminal(ctx, Phase::service_data,
                           fmt::format("service {}: the rest of the contact stream is unframed service data (B7)",
                                       proto::service_name(service)));
            return false;
        }
        phase = Phase::framed;
        return true;
    }
    if (opcode == proto::kOpPortOffer) {
        auto parsed = proto::parse_port_offer(body, ipv6_contact());
        const auto* offer = proto::parsed_value(parsed);
        if (!offer) {
            malformed(ctx, "host PORT-OFFER: " + proto::parsed_error(parsed)->reason);
        } else if (phase != Phase::framed) {
            malformed(ctx, fmt::format("host {} arrived before the HELLO-ACK; not acted on", offer_text(*offer)));
        } else {
            on_offer(ctx, *offer);
        }
        return true;
    }
    counters->count_opcode(opcode);
    ctx.out.push_back(Note{Note::Level::debug, fmt::format("host opcode 0x{:04x} ignored (B6)", opcode)});
    return true;
}

// ---- B8 rewrites ----

void Session::Impl::examine_address(PacketContext& ctx, const StreamReader::Frame& frame) {
    constexpr std::size_t kFieldEnd = proto::kEmbeddedAddressOffset + 4;
    if (!policy.nat_rewrite || !is_v4() || frame.body.size() < kFieldEnd) return;
    DirectionState& dir = side(ctx.direction);
    if (dir.address_examined_frame == frame.frame_seq) return;
    dir.address_examined_frame = frame.frame_seq;

    const std::uint16_t opcode = load_be16(frame.body.data());
    const IpAddress* from = nullptr;
    const IpAddress* to = nullptr;
    const char* what = nullptr;
    if (ctx.direction == PacketDirection::original) {
        if (frame.header.frame_class != proto::kClassGuest || opcode != proto::kOpHello || !snat()) return;
        from = &facts.guest, to = &facts.guest_translated, what = "HELLO guest address";
    } else {
        if (frame.header.frame_class != proto::kClassHost || !dnat()) return;
        if (opcode == proto::kOpHello) what = "HELLO-ACK host address";
        else if (opcode == proto::kOpPortOffer) what = "PORT-OFFER address";
        else return;
        from = &facts.host, to = &facts.contact_address;
    }
    const std::uint8_t* field = frame.body.data() + proto::kEmbeddedAddressOffset;
    if (!std::equal(field, field + 4, from->bytes.begin())) return;  // other values are left alone (B8)

    const std::uint32_t field_seq = frame.body_seq() + static_cast<std::uint32_t>(proto::kEmbeddedAddressOffset);
    const std::int64_t offset = seq_distance(ctx.payload_seq, field_seq);
    if (offset < 0 || offset + 4 > static_cast<std::int64_t>(ctx.payload.size())) {
        saturating_inc(counters->rewrites_skipped);
        ctx.out.push_back(Note{Note::Level::warning,
                               fmt::format("{} {} must become {} but its 4 bytes (stream position {}) are not "
                                           "all inside this packet (payload offset {}, {} bytes): left unrewritten",
                                           what, from->to_string(), to->to_string(), field_seq, offset,
                                           ctx.payload.size())});
        return;
    }
    Rewrite rw;
    rw.payload_offset = static_cast<std::size_t>(offset);
    std::copy_n(field, 4, rw.old_bytes.begin());
    std::copy_n(to->bytes.begin(), 4, rw.new_bytes.begin());
    rw.what = what;
    if (is_tcp()) dir.remember(RememberedRewrite{field_seq, rw.old_bytes, rw.new_bytes, what});
    saturating_inc(counters->rewrites);
    ctx.out.push_back(std::move(rw));
}

void Session::Impl::replay_rewrites(PacketContext& ctx) {
    DirectionState& dir = side(ctx.direction);
    for (std::size_t i = 0; i < dir.rewrite_count; ++i) {
        const auto& r = dir.rewrites[i];
        const std::int64_t offset = seq_distance(ctx.payload_seq, r.seq);
        if (offset < 0 || offset + 4 > static_cast<std::int64_t>(ctx.payload.size())) continue;
        const auto* at = ctx.payload.data() + offset;
        if (!std::equal(r.old_bytes.begin(), r.old_bytes.end(), at)) continue;
        Rewrite rw{static_cast<std::size_t>(offset), r.old_bytes, r.new_bytes, std::string(r.what) + " (retransmit)"};
        saturating_inc(counters->rewrites);
        ctx.out.push_back(std::move(rw));
    }
}

// ---- B8 offers ----

void Session::Impl::on_offer(PacketContext& ctx, const proto::PortOffer& offer) {
    saturating_inc(counters->offers);
    if (is_v4() && offer.address != 0 && offer.address != facts.host.v4_value()) {
        refuse(ctx, RefuseReason::third_party_address,
               fmt::format("{}: the address is neither 0.0.0.0 nor the host {}", offer_text(offer),
                           facts.host.to_string()));
        return;
    }
    if (!policy.port_allowed(offer.port)) {
        refuse(ctx, RefuseReason::port_not_allowed,
               fmt::format("{}: port {} is outside allowed_ports", offer_text(offer), offer.port));
        return;
    }
    ctx.candidates.emplace_back(offer, ctx.out.size());
    ctx.out.push_back(Note{Note::Level::debug, "offer pending"});  // replaced by commit_offers
}

// Offers become Expects only once the whole packet has been parsed, because a
// malformed packet never produces an Expect.
void Session::Impl::commit_offers(PacketContext& ctx) {
    const std::size_t limit = std::min<std::size_t>(policy.max_expectations, kMaxOfferTable);
    for (const auto& [offer, slot] : ctx.candidates) {
        Decision& decision = ctx.out[slot];
        if (ctx.malformed) {
            decision = Note{Note::Level::warning,
                            fmt::format("{} not acted on: the packet carrying it is malformed", offer_text(offer))};
            continue;
        }
        const OfferKey key{offer.transport, offer.port};
        auto known = std::find(known_offers.begin(), known_offers.end(), key);
        if (known != known_offers.end()) {
            known_offers.erase(known);  // a repeated offer replaces the earlier expectation (B8)
        } else {
            if (accepted >= limit) {
                saturating_inc(counters->expectations_refused);
                decision = Refuse{RefuseReason::too_many_expectations,
                                  fmt::format("{}: this contact connection already has {} offered streams "
                                              "(max_expectations {})",
                                              offer_text(offer), accepted, policy.max_expectations)};
                continue;
            }
            ++accepted;
            if (known_offers.size() >= kMaxOfferTable) known_offers.erase(known_offers.begin());
        }
        known_offers.push_back(key);
        Expect e;
        e.transport = offer.transport;
        e.guest = facts.guest;
        e.address = facts.contact_address;
        e.port = offer.port;
        e.service = offer.service;
        e.timeout_seconds = (offer.lifetime != 0 && offer.lifetime < policy.expectation_timeout)
                                ? offer.lifetime
                                : policy.expectation_timeout;
        e.follow_nat = natted();
        saturating_inc(counters->expectations_created);
        decision = std::move(e);
    }
    ctx.candidates.clear();
}

void Session::Impl::refuse(PacketContext& ctx, RefuseReason reason, std::string detail) {
    saturating_inc(counters->expectations_refused);
    ctx.out.push_back(Refuse{reason, std::move(detail)});
}

// ---- errors and terminal phases ----

void Session::Impl::malformed(PacketContext& ctx, std::string text) {
    saturating_inc(counters->malformed);
    ctx.malformed = true;
    ctx.out.push_back(Note{Note::Level::warning, "malformed: " + std::move(text)});
}

void Session::Impl::not_timbuktu(PacketContext& ctx, const std::string& why) {
    saturating_inc(counters->not_timbuktu);
    ctx.out.push_back(Note{Note::Level::info, "not Timbuktu, leaving the connection alone: " + why});
    enter_terminal(ctx, Phase::not_timbuktu, "not Timbuktu: " + why);
}

void Session::Impl::enter_terminal(PacketContext& ctx, Phase p, const std::string& why) {
    phase = p;
    for (auto& d : directions) d.reader.stop();
    // StopWatching only while no expectation hangs off this connection (B7).
    if (accepted == 0) ctx.out.push_back(StopWatching{why});
}

void Session::Impl::on_reader_stop(PacketContext& ctx, const StreamReader::FeedResult& r) {
    using SR = StreamReader::StopReason;
    const char* who = side_name(ctx.direction);
    switch (r.stopped_now) {
        case SR::none:
        case SR::by_request:
            return;  // the session itself decided; it already said why
        case SR::malformed_header:
            if (ctx.direction == PacketDirection::original && phase == Phase::await_hello) {
                not_timbuktu(ctx, "the first guest bytes are not a frame header: " + r.why);
                return;
            }
            malformed(ctx, fmt::format("{} frame header at stream position {}: {}; the framing of this direction "
                                       "is lost, stopped parsing it",
                                       who, r.stop_seq, r.why));
            break;
        case SR::gap:
        case SR::lost_frame_start:
            saturating_inc(counters->stream_lost);
            ctx.out.push_back(Note{Note::Level::warning,
                                   fmt::format("{} stream lost, stopped parsing it: {}", who, r.why)});
            break;
    }
    // Offers come from the host; without the host direction (or without the
    // guest's HELLO) there is nothing more to learn.
    const bool host_lost = ctx.direction == PacketDirection::reply;
    const bool hello_lost = ctx.direction == PacketDirection::original && phase == Phase::await_hello;
    if (host_lost || hello_lost) {
        enter_terminal(ctx, Phase::lost, fmt::format("the {} direction can no longer be parsed", who));
    } else {
        ctx.out.push_back(Note{Note::Level::info, "the host direction is still parsed for offers"});
    }
}

// ---- persistence ----

PersistedState Session::Impl::persisted() const {
    PersistedState s{};
    s[0] = kPersistMagic;
    s[1] = kPersistVersion;
    s[2] = static_cast<std::uint8_t>(phase);
    s[3] = service;
    // Stream positions only matter while the session still parses; leaving them
    // out afterwards keeps the state constant, so the kernel is not rewritten per packet.
    if (is_tcp() && !terminal()) {
        std::uint8_t flags = 0;
        for (int i = 0; i < 2; ++i) {
            const auto& reader = directions[static_cast<std::size_t>(i)].reader;
            std::uint8_t f = 0;
            if (reader.synced()) f |= kFlagSynced;
            if (reader.mid_frame()) f |= kFlagMidFrame;
            if (reader.stopped()) f |= kFlagStopped;
            flags = static_cast<std::uint8_t>(flags | (f << (i * kHostFlagShift)));
            if (reader.synced()) store_be32(s.data() + 5 + 4 * i, reader.next_seq());
        }
        s[4] = flags;
    }
    s[13] = static_cast<std::uint8_t>(accepted);
    const std::size_t keys = std::min(known_offers.size(), kPersistMaxKeys);
    s[14] = static_cast<std::uint8_t>(keys);
    for (std::size_t i = 0; i < keys; ++i) {
        const auto& k = known_offers[known_offers.size() - 1 - i];
        s[kPersistKeysOffset + 3 * i] = static_cast<std::uint8_t>(k.transport);
        store_be16(s.data() + kPersistKeysOffset + 3 * i + 1, k.port);
    }
    s[31] = crc8(std::span<const std::uint8_t>(s.data(), 31));
    return s;
}

// ---- Session ----

Session::Session(ConnectionFacts facts, const Policy& policy, Counters& counters, HoldBudget* /*hold_budget*/)
    : impl_(std::make_unique<Impl>(std::move(facts), policy, counters)) {}
Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::optional<Session> Session::restore(ConnectionFacts facts, const Policy& policy, Counters& counters,
                                        std::span<const std::uint8_t> persisted, HoldBudget* /*hold_budget*/) {
    if (persisted.size() != kPersistedStateSize) return std::nullopt;
    const auto* s = persisted.data();
    if (s[0] != kPersistMagic || s[1] != kPersistVersion) return std::nullopt;
    if (crc8(persisted.first(31)) != s[31] || s[30] != 0) return std::nullopt;
    if (s[2] > static_cast<std::uint8_t>(Phase::unmodelled)) return std::nullopt;
    const auto phase = static_cast<Phase>(s[2]);
    const std::uint8_t flags = s[4];
    if (flags & 0xC0) return std::nullopt;
    const bool tcp = facts.transport == Transport::tcp;
    if (!tcp && (flags != 0 || load_be32(s + 5) != 0 || load_be32(s + 9) != 0)) return std::nullopt;
    const std::uint8_t accepted = s[13];
    const std::uint8_t keys = s[14];
    if (accepted > kMaxOfferTable || keys > kPersistMaxKeys || keys > accepted) return std::nullopt;
    for (std::size_t i = kPersistKeysOffset + 3 * keys; i < 30; ++i)
        if (s[i] != 0) return std::nullopt;

    auto impl = std::make_unique<Impl>(std::move(facts), policy, counters);
    impl->phase = phase;
    impl->service = s[3];
    impl->accepted = accepted;
    for (std::size_t i = keys; i-- > 0;) {  // stored most recent first; the table keeps most recent last
        auto transport = transport_from_number(s[kPersistKeysOffset + 3 * i]);
        const std::uint16_t port = load_be16(s + kPersistKeysOffset + 3 * i + 1);
        if (!transport || port == 0) return std::nullopt;
        impl->known_offers.push_back(OfferKey{*transport, port});
    }
    for (int i = 0; i < 2; ++i) {
        const auto f = static_cast<std::uint8_t>((flags >> (i * kHostFlagShift)) & 7);
        auto& reader = impl->directions[static_cast<std::size_t>(i)].reader;
        if (!(f & kFlagSynced)) {
            if (f != 0) return std::nullopt;
            if (load_be32(s + 5 + 4 * i) != 0) return std::nullopt;
            continue;
        }
        reader.restore(load_be32(s + 5 + 4 * i), (f & kFlagMidFrame) != 0);
        if (f & kFlagStopped) reader.stop();
    }
    if (impl->terminal())
        for (auto& d : impl->directions) d.reader.stop();
    return Session(std::move(impl));
}

Decisions Session::on_packet(const Packet& packet) { return impl_->on_packet(packet); }
Phase Session::phase() const { return impl_->phase; }
std::uint8_t Session::service() const { return impl_->service; }
PersistedState Session::persisted() const { return impl_->persisted(); }
const ConnectionFacts& Session::facts() const { return impl_->facts; }
void Session::set_policy(const Policy& policy) { impl_->policy = policy; }
std::uint32_t Session::accepted_offers() const { return impl_->accepted; }

}  // namespace tb::engine
