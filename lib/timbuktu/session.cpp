// The per-connection state machine (docs/protocol-model.md#phases). What a
// frame means comes from the dispatch table (messages.hpp), the first frame's
// verdict from the probe (probe.hpp), embedded addresses are rewritten by
// nat_rewrite.hpp, offers judged by offer_policy.hpp and the state stored by
// persisted_state.hpp; this file sequences them and keeps the bounds. See
// docs/protocol-model.md for every choice made where the model leaves room.
#include "timbuktu/session.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stream/stream_reader.hpp"
#include "timbuktu/messages.hpp"
#include "timbuktu/nat_rewrite.hpp"
#include "timbuktu/offer_policy.hpp"
#include "timbuktu/probe.hpp"
#include "timbuktu/services.hpp"
#include "timbuktu/wire.hpp"

namespace tb::timbuktu {

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

// docs/protocol-model.md#malformed-cap: the 8th malformed frame or datagram of
// a connection makes it hostile; it is no longer parsed.
// (kMaxMalformedPerSession, timbuktu/persisted_state.hpp)
// docs/protocol-model.md#event-bounds: events are the Events of level info and
// warning and the Refuse decisions, i.e. what becomes a log line.
constexpr std::size_t kMaxEventsPerPacket = 16;
constexpr std::uint32_t kMaxEventsPerSession = 256;
constexpr std::size_t kMaxDebugNotesPerPacket = 4;

// Offer keys stored across a restart (docs/protocol-model.md#persistence).
constexpr std::size_t kPersistMaxKeys = kPersistedOfferKeys;

// docs/protocol-model.md#b9-unmodelled: u16 0x0023 or 0x0025 where a frame
// header should be.
bool unmodelled_signature(std::span<const std::uint8_t> payload) {
    if (payload.size() < 2) return false;
    const std::uint16_t first = load_be16(payload.data());
    return first == 0x0023 || first == 0x0025;
}
bool starts_with_frame_header(std::span<const std::uint8_t> payload) {
    return payload.size() >= timbuktu::kHeaderSize && timbuktu::parsed_value(timbuktu::decode_header(payload)) != nullptr;
}
event::Unmodelled unmodelled_event(UnmodelledReason reason, PacketDirection d, std::span<const std::uint8_t> payload) {
    event::Unmodelled u{reason, side_of(d), payload.size(), {}, 0};
    u.leading_count = static_cast<std::uint8_t>(std::min<std::size_t>(payload.size(), u.leading.size()));
    std::copy_n(payload.begin(), u.leading_count, u.leading.begin());
    return u;
}

struct DirectionState {
    stream::StreamReader reader;
    // Stream position of the frame whose start (class and opcode) was judged,
    // so that a frame seen first as a prefix and then complete is judged once.
    std::optional<std::uint32_t> judged_frame;
    NatRewriter nat;  // its address fields, each examined once, and the rewrites to repeat

    void new_datagram() {
        // Datagram offsets repeat from one datagram to the next: judge and examine every frame afresh.
        judged_frame.reset();
        nat.new_datagram();
    }
};

struct Candidate {
    timbuktu::PortOffer offer;
    std::size_t slot;  // index of the decision reserved for it; kNoSlot once given up
};
constexpr std::size_t kNoSlot = SIZE_MAX;
constexpr std::size_t kMaxRepeatsPerPacket = 4;
// Guest bytes kept until the host's first frame to check retransmits against
// (docs/protocol-model.md#guest-consistency): a HELLO with the longest name is
// 6 + 272 bytes.
constexpr std::size_t kGuestPrefixBytes = 512;

// Everything one packet produces while it is being parsed.
struct PacketContext {
    PacketDirection direction;
    std::uint32_t payload_seq;  // TCP: seq of payload[0]. UDP: 0 (positions are datagram offsets)
    std::span<const std::uint8_t> payload;
    Decisions& out;
    bool malformed = false;      // this packet never produces an Expect
    std::size_t malformed_frames = 0;
    bool malformed_said = false;            // the packet's one malformed event was pushed or suppressed
    std::size_t malformed_note = SIZE_MAX;  // its index when pushed
    std::size_t events = 0;      // info/warning events and Refuses pushed
    std::size_t suppressed = 0;  // events left out by the bounds
    std::size_t debug_notes = 0;
    // Offers that passed address and port policy, each with the slot reserved
    // for its decision, so that decisions stay in stream order.
    std::vector<Candidate> candidates;
    std::vector<std::size_t> dead_slots;  // reserved slots that end up empty
};

}  // namespace

struct Session::Impl {
    ConnectionFacts facts;
    Policy policy;
    Counters* counters;
    Phase phase = Phase::await_hello;
    std::uint8_t service = 0;
    std::uint8_t malformed_frames = 0;     // of this connection; kMaxMalformedPerSession makes it hostile
    bool await_reply_verdict = false;      // the first reply datagram is still to be examined (docs/protocol-model.md#b9-unmodelled, A10)
    bool events_capped = false;            // kMaxEventsPerSession reached and said so
    std::uint32_t events_reported = 0;
    std::array<DirectionState, 2> directions;
    OfferTable offers;  // the distinct streams accepted on this connection
    // TCP, until the host's first frame: the first bytes of the guest's stream
    // as the engine saw them, to catch a guest that sends other bytes for the
    // same positions (docs/protocol-model.md#guest-consistency). Freed after.
    struct GuestPrefix {
        std::uint32_t seq = 0;
        std::vector<std::uint8_t> bytes;
    };
    std::unique_ptr<GuestPrefix> guest_prefix;

    Impl(ConnectionFacts f, const Policy& p, Counters& c, stream::HoldBudget* budget)
        : facts(std::move(f)), policy(p), counters(&c) {
        for (auto& d : directions) d.reader = stream::StreamReader(budget);
    }

    bool is_tcp() const { return facts.transport == Transport::tcp; }
    bool ipv6_contact() const { return facts.contact_address.is_v6(); }
    bool terminal() const { return phase_is_terminal(phase); }
    std::uint32_t accepted() const { return offers.accepted(); }
    DirectionState& side(PacketDirection d) { return directions[d == PacketDirection::original ? 0 : 1]; }

    Decisions on_packet(const Packet& packet);
    void on_tcp(const Packet& packet, PacketContext& ctx);
    void on_udp(const Packet& packet, PacketContext& ctx);
    void on_first_reply_verdict(PacketContext& ctx);
    bool on_frame(PacketContext& ctx, const stream::StreamReader::Frame& frame);
    bool judge(PacketContext& ctx, const stream::StreamReader::Frame& frame, const DispatchRow& row);
    bool on_hello(PacketContext& ctx, const stream::StreamReader::Frame& frame);
    bool on_hello_ack(PacketContext& ctx, const stream::StreamReader::Frame& frame);
    bool on_port_offer(PacketContext& ctx, const stream::StreamReader::Frame& frame);
    void forged(PacketContext& ctx, const stream::StreamReader::Frame& frame);
    void examine_addresses(PacketContext& ctx, const stream::StreamReader::Frame& frame, const DispatchRow& row);
    void replay_rewrites(PacketContext& ctx);
    void on_offer(PacketContext& ctx, const timbuktu::PortOffer& offer);
    void commit_offers(PacketContext& ctx);
    void finish_packet(PacketContext& ctx);
    bool event(PacketContext& ctx, Decision d, bool force = false);
    void debug(PacketContext& ctx, Event e);
    void refuse(PacketContext& ctx, Refuse r);
    void malformed(PacketContext& ctx, event::Malformed m);
    void not_timbuktu(PacketContext& ctx, event::NotTimbuktu why, bool stop_watching = true);
    void hostile(PacketContext& ctx, event::Hostile why, bool reflected);
    bool guest_bytes_consistent(PacketContext& ctx, std::uint32_t seq, std::span<const std::uint8_t> payload);
    void unmodelled(PacketContext& ctx, event::Unmodelled why);
    void enter_terminal(PacketContext& ctx, Phase p, StopWatching why, bool stop_watching = true);
    void on_reader_stop(PacketContext& ctx, const stream::StreamReader::FeedResult& r);
    PersistedState persisted() const;

    // Hands the frames of one TCP segment to on_frame.
    struct FrameSink final : stream::StreamReader::Sink {
        Impl* impl;
        PacketContext* ctx;
        FrameSink(Impl* i, PacketContext* c) : impl(i), ctx(c) {}
        bool on_frame(const stream::StreamReader::Frame& frame) override { return impl->on_frame(*ctx, frame); }
    };
};

// ---- packets ----

Decisions Session::Impl::on_packet(const Packet& packet) {
    saturating_inc(counters->packets);
    Decisions out;
    PacketContext ctx{packet.direction, is_tcp() ? packet.tcp_seq : 0, packet.payload, out, {}, {}, {}, {}, {}, {},
                      {}, {}, {}};
    if (is_tcp()) on_tcp(packet, ctx);
    else on_udp(packet, ctx);
    finish_packet(ctx);
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
        not_timbuktu(ctx, {NotTimbuktuReason::host_data_first});
        return;
    }
    // Also when the guest direction is no longer parsed (a malformed header,
    // services 1-4): what the guest says again must still be what it said.
    if (packet.direction == PacketDirection::original && !guest_bytes_consistent(ctx, data_seq, packet.payload))
        return;
    if (dir.reader.stopped()) return;
    FrameSink sink(this, &ctx);
    auto result = dir.reader.feed(data_seq, packet.payload, sink);
    if (guest_prefix && phase != Phase::await_hello && phase != Phase::await_ack) guest_prefix.reset();
    if (result.refused) ctx.out.push_back(DropForRetransmit{});
    if (result.dropped > 0) {
        for (std::size_t i = 0; i < result.dropped; ++i) saturating_inc(counters->held_dropped);
        debug(ctx, {event::HeldDropped{side_of(ctx.direction), result.dropped, stream::StreamReader::kMaxHeldSegments,
                                       stream::StreamReader::kMaxHeldBytes}});
    }
    if (result.stopped_now != stream::StreamReader::StopReason::none) on_reader_stop(ctx, result);
}

void Session::Impl::on_udp(const Packet& packet, PacketContext& ctx) {
    if (packet.payload.empty()) return;
    if (await_reply_verdict && packet.direction == PacketDirection::reply) {
        on_first_reply_verdict(ctx);
        return;
    }
    if (terminal()) return;
    if (phase == Phase::await_hello && packet.direction == PacketDirection::reply) {
        not_timbuktu(ctx, {NotTimbuktuReason::host_datagram_first});
        return;
    }
    // docs/protocol-model.md#b9-unmodelled: Timbuktu, but not in a format the model knows.
    if (!starts_with_frame_header(packet.payload) && unmodelled_signature(packet.payload)) {
        unmodelled(ctx, unmodelled_event(UnmodelledReason::datagram_signature, packet.direction, packet.payload));
        return;
    }
    auto split = timbuktu::split_datagram(packet.payload);
    if (const auto* err = timbuktu::parsed_error(split)) {
        if (phase == Phase::await_hello) {
            // A foreign first datagram may still be answered by Timbuktu
            // outside the model; keep watching until the first reply is seen.
            const bool not_a_frame = !starts_with_frame_header(packet.payload);
            not_timbuktu(ctx, {NotTimbuktuReason::first_datagram_invalid, 0, 0, *err}, !not_a_frame);
            await_reply_verdict = not_a_frame;
        } else {
            malformed(ctx, {MalformedReason::datagram, side_of(packet.direction), 0, packet.payload.size(), *err});
        }
        return;
    }
    side(packet.direction).new_datagram();
    for (const auto& view : std::get<std::vector<timbuktu::FrameView>>(split)) {
        const auto body_offset = static_cast<std::size_t>(view.body.data() - packet.payload.data());
        const auto keep = timbuktu::retained_body_bytes(view.header, view.opcode());
        stream::StreamReader::Frame frame{view.header, static_cast<std::uint32_t>(body_offset - timbuktu::kHeaderSize),
                                  view.body.first(keep), true};
        if (!on_frame(ctx, frame)) break;
    }
}

// A10 (docs/protocol-model.md#b9-unmodelled): the flow was judged not Timbuktu
// by its foreign first guest datagram; its first reply decides whether it is
// Timbuktu outside the model after all. Then nothing more is examined.
void Session::Impl::on_first_reply_verdict(PacketContext& ctx) {
    await_reply_verdict = false;
    if (!starts_with_frame_header(ctx.payload) && unmodelled_signature(ctx.payload)) {
        phase = Phase::await_hello;  // leaves not_timbuktu for unmodelled
        unmodelled(ctx, unmodelled_event(UnmodelledReason::reply_after_foreign_datagram, ctx.direction, ctx.payload));
        return;
    }
    if (accepted() == 0) ctx.out.push_back(StopWatching{.why = StopReason::reply_not_timbuktu});
}

// Returns false when this direction is no longer to be parsed.
bool Session::Impl::on_frame(PacketContext& ctx, const stream::StreamReader::Frame& frame) {
    if (terminal()) return false;
    if (frame.body.size() < 2) return true;  // a prefix without its opcode: nothing to judge yet
    const std::uint16_t opcode = load_be16(frame.body.data());
    const Side sender = side_of(ctx.direction);
    const DispatchRow* row = dispatch(sender, frame.header.frame_class, opcode);
    if (!row) return false;  // not reached: decode_header admits only the two classes the table has
    DirectionState& dir = side(ctx.direction);
    if (dir.judged_frame != frame.frame_seq) {
        dir.judged_frame = frame.frame_seq;
        if (!judge(ctx, frame, *row) || terminal()) return false;
    }
    examine_addresses(ctx, frame, *row);
    if (!frame.complete) return true;
    bool go_on = true;
    switch (row->handler) {
        case Handler::none: break;  // the verdict said it all (a forged offer)
        case Handler::hello: go_on = on_hello(ctx, frame); break;
        case Handler::hello_ack: go_on = on_hello_ack(ctx, frame); break;
        case Handler::port_offer: go_on = on_port_offer(ctx, frame); break;
        case Handler::ignore:  // docs/protocol-model.md#dispatch: opcodes the model does not act on
            counters->count_opcode(opcode);
            debug(ctx, {event::OpcodeIgnored{sender, opcode}});
            break;
    }
    return go_on && !terminal();
}

// A frame's class and opcode, judged as soon as they have arrived
// (docs/protocol-model.md#b10-roles): a first guest frame that is not a HELLO
// ends the flow without waiting for the rest of it (the probe says so); a
// frame of the wrong class for its side makes the flow hostile. The verdicts
// are the dispatch table's.
bool Session::Impl::judge(PacketContext& ctx, const stream::StreamReader::Frame& frame, const DispatchRow& row) {
    const std::uint16_t cls = frame.header.frame_class;
    const std::uint16_t opcode = load_be16(frame.body.data());
    if (row.forged_offer) forged(ctx, frame);  // docs/protocol-model.md#forgery, whatever the class
    if (row.sender == Side::guest && phase == Phase::await_hello) {
        // The connection's first frame (docs/protocol-model.md#probe): judged
        // by its class and opcode now, as a HELLO once it is complete.
        const ProbeResult probe = probe_first_frame(frame.header, frame.body.first(2));
        if (probe.verdict != ProbeVerdict::not_timbuktu) return true;
        not_timbuktu(ctx, {probe.reason, cls, opcode});
        return false;
    }
    const bool opening = row.sender == Side::host && phase == Phase::await_ack;  // the host's first frame
    const Verdict& verdict = opening ? row.opening : row.established;
    switch (verdict.kind) {
        case Verdict::Kind::parse: return true;
        case Verdict::Kind::not_timbuktu: not_timbuktu(ctx, {verdict.not_timbuktu, cls, opcode}); return false;
        case Verdict::Kind::hostile:
            hostile(ctx, {verdict.hostile, 0, 0, 0, cls, opcode}, true);  // the table's hostile rows are reflections
            return false;
    }
    return false;
}

void Session::Impl::forged(PacketContext& ctx, const stream::StreamReader::Frame& frame) {
    // docs/protocol-model.md#forgery: the same bytes from the guest are a forgery, whatever their class or shape.
    saturating_inc(counters->forged);
    const timbuktu::PortOffer* offer = nullptr;
    std::optional<timbuktu::Parsed<timbuktu::PortOffer>> parsed;
    if (frame.complete && frame.header.length == timbuktu::kPortOfferBody) {
        parsed = timbuktu::parse_port_offer(frame.body, ipv6_contact());
        offer = timbuktu::parsed_value(*parsed);
    }
    Refuse r{.reason = RefuseReason::forged_guest_offer};
    if (offer) r.offer = *offer;
    r.body_length = frame.header.length;
    refuse(ctx, std::move(r));
}

bool Session::Impl::on_hello(PacketContext& ctx, const stream::StreamReader::Frame& frame) {
    // The retained prefix (docs/protocol-model.md#streaming) gives the verdict of the whole body.
    if (phase != Phase::await_hello) {
        auto parsed = timbuktu::parse_hello(frame.body);
        if (const auto* err = timbuktu::parsed_error(parsed))
            malformed(ctx, {MalformedReason::guest_hello, Side::guest, 0, 0, *err});
        else
            debug(ctx, {event::HelloRepeated{}});
        return true;
    }
    ProbeResult probe = probe_first_frame(frame.header, frame.body);  // complete: never need_more
    if (probe.verdict != ProbeVerdict::timbuktu) {
        not_timbuktu(ctx, {NotTimbuktuReason::first_hello_invalid, frame.header.frame_class, probe.opcode,
                           probe.parser_error});
        return false;
    }
    const Hello& hello = *probe.hello;
    saturating_inc(counters->sessions);
    service = hello.service;
    phase = Phase::await_ack;
    event::Hello recognized{facts.transport, service, hello.version_major, hello.version_minor, hello.flags,
                            hello.guest_address, std::nullopt, std::move(probe.hello->guest_name)};
    if (frame.header.length >= timbuktu::kHelloSecondAddressMinBody)
        recognized.second_address = load_be32(frame.body.data() + timbuktu::kHelloSecondAddressOffset);
    event(ctx, Event{std::move(recognized)});
    if (is_tcp() && timbuktu::service_stream_unframed(service)) {
        // docs/protocol-model.md#phases: for services 1-4 the guest has nothing
        // more to say in frames; what it sends after its HELLO is service data,
        // not an error.
        debug(ctx, {event::GuestServiceData{service}});
        return false;
    }
    return true;
}

bool Session::Impl::on_hello_ack(PacketContext& ctx, const stream::StreamReader::Frame& frame) {
    auto parsed = timbuktu::parse_hello_ack(frame.body);
    const auto* ack = timbuktu::parsed_value(parsed);
    if (!ack) {
        malformed(ctx, {MalformedReason::host_hello_ack, Side::host, 0, 0, *timbuktu::parsed_error(parsed)});
        return true;
    }
    if (phase != Phase::await_ack) {
        debug(ctx, {event::HelloAckRepeated{}});
        return true;
    }
    event(ctx, Event{event::HelloAck{ack->service, ack->version_major, ack->version_minor, ack->flags,
                                     ack->host_address, ack->host_name}});
    if (is_tcp() && timbuktu::service_stream_unframed(service)) {
        enter_terminal(ctx, Phase::service_data, StopWatching{.why = StopReason::service_data, .side = Side::guest, .service = service});
        return false;
    }
    phase = Phase::framed;
    return true;
}

bool Session::Impl::on_port_offer(PacketContext& ctx, const stream::StreamReader::Frame& frame) {
    if (frame.header.length != timbuktu::kPortOfferBody) {
        malformed(ctx, {MalformedReason::host_offer_size, Side::host, 0, frame.header.length, {}});
        return true;
    }
    auto parsed = timbuktu::parse_port_offer(frame.body, ipv6_contact());
    if (const auto* err = timbuktu::parsed_error(parsed))
        malformed(ctx, {MalformedReason::host_offer, Side::host, 0, 0, *err});
    else
        on_offer(ctx, std::get<timbuktu::PortOffer>(parsed));  // judge() made sure the HELLO-ACK came first
    return true;
}

// ---- NAT rewrites (docs/protocol-model.md#nat-rewrites) ----

void Session::Impl::examine_addresses(PacketContext& ctx, const stream::StreamReader::Frame& frame,
                                      const DispatchRow& row) {
    if (row.address_count == 0 || !may_rewrite(policy, facts)) return;
    const auto translation = translation_for(row.sender, facts);
    if (!translation) return;
    const auto outcomes =
        side(ctx.direction).nat.examine(row, frame, {ctx.payload_seq, ctx.payload}, *translation, is_tcp());
    for (std::size_t i = 0; i < outcomes.count; ++i) {
        const FieldOutcome& o = outcomes.items[i];
        if (o.kind == FieldOutcome::Kind::skipped) {
            saturating_inc(counters->rewrites_skipped);
            event(ctx, Event{o.skipped});
        } else {
            saturating_inc(counters->rewrites);
            ctx.out.push_back(o.rewrite);
        }
    }
}

void Session::Impl::replay_rewrites(PacketContext& ctx) {
    side(ctx.direction).nat.replay({ctx.payload_seq, ctx.payload}, [&](const Rewrite& rw) {
        saturating_inc(counters->rewrites);
        ctx.out.push_back(rw);
    });
}

// ---- offers (docs/protocol-model.md#offers) ----

void Session::Impl::on_offer(PacketContext& ctx, const timbuktu::PortOffer& offer) {
    saturating_inc(counters->offers);
    switch (check_offer(offer, facts, policy)) {
        case OfferCheck::allowed: break;
        case OfferCheck::third_party_address: {
            Refuse r{.reason = RefuseReason::third_party_address, .offer = offer};
            r.host = facts.host;
            refuse(ctx, std::move(r));
            return;
        }
        case OfferCheck::port_not_allowed: refuse(ctx, Refuse{.reason = RefuseReason::port_not_allowed, .offer = offer}); return;
    }
    ctx.candidates.push_back(Candidate{offer, ctx.out.size()});
    ctx.out.push_back(DropForRetransmit{});  // a placeholder, replaced or removed by commit_offers
}

// Offers become Expects only once the whole packet has been parsed, because a
// malformed packet never produces an Expect, and neither does a packet that
// showed the flow hostile (docs/protocol-model.md#b10-roles).
void Session::Impl::commit_offers(PacketContext& ctx) {
    if (ctx.candidates.empty()) return;
    if (ctx.malformed || phase == Phase::hostile) {
        const auto why = phase == Phase::hostile ? NotActedReason::flow_hostile : NotActedReason::packet_malformed;
        const std::size_t first = ctx.candidates.front().slot;
        ctx.out[first] = Event{event::OffersNotActedOn{ctx.candidates.front().offer, ctx.candidates.size() - 1, why}};
        ++ctx.events;
        ++events_reported;
        for (std::size_t i = 1; i < ctx.candidates.size(); ++i) ctx.dead_slots.push_back(ctx.candidates[i].slot);
        ctx.candidates.clear();
        return;
    }
    // One packet repeating an offer of the same stream (3600 copies fit in a
    // datagram) yields at most kMaxRepeatsPerPacket Expects for it: each costs
    // the daemon a kernel call and a log line (docs/protocol-model.md#offers-per-packet).
    if (ctx.candidates.size() > kMaxRepeatsPerPacket) {
        std::unordered_map<std::uint32_t, std::size_t> copies;
        for (auto& c : ctx.candidates) {
            const std::uint32_t k = (std::uint32_t{static_cast<std::uint8_t>(c.offer.transport)} << 16) | c.offer.port;
            if (++copies[k] > kMaxRepeatsPerPacket) {
                ctx.dead_slots.push_back(c.slot);
                c.slot = kNoSlot;
            }
        }
    }
    for (const auto& [offer, slot] : ctx.candidates) {
        if (slot == kNoSlot) continue;  // one copy too many of this stream in this packet
        Decision& decision = ctx.out[slot];
        // A repeated offer replaces the earlier expectation with the same Expect (docs/protocol-model.md#offers).
        if (offers.admit(offer, policy) == OfferTable::Admission::over_limit) {
            saturating_inc(counters->expectations_refused);
            if (ctx.events < kMaxEventsPerPacket && events_reported < kMaxEventsPerSession) {
                ++ctx.events;
                ++events_reported;
                Refuse r{.reason = RefuseReason::too_many_expectations, .offer = offer};
                r.accepted = accepted();
                r.max_expectations = policy.max_expectations;
                decision = std::move(r);
            } else {
                ++ctx.suppressed;
                ctx.dead_slots.push_back(slot);
            }
            continue;
        }
        saturating_inc(counters->expectations_created);
        decision = expect_for(offer, facts, policy);
    }
    ctx.candidates.clear();
}

// docs/protocol-model.md#event-bounds: one summary for what a packet did not report.
void Session::Impl::finish_packet(PacketContext& ctx) {
    commit_offers(ctx);
    if (ctx.malformed_frames > 1 && ctx.malformed_note != SIZE_MAX)
        if (auto* e = std::get_if<Event>(&ctx.out[ctx.malformed_note]))
            if (auto* m = std::get_if<event::Malformed>(&e->data)) m->more_in_packet = ctx.malformed_frames - 1;
    if (ctx.suppressed > 0) {
        if (events_reported < kMaxEventsPerSession) {
            ctx.out.push_back(Event{event::EventsSuppressed{ctx.suppressed, kMaxEventsPerPacket}});
            ++events_reported;
        } else if (!events_capped) {
            events_capped = true;
            ctx.out.push_back(Event{event::EventsCapped{kMaxEventsPerSession}});
        }
    }
    if (!ctx.dead_slots.empty()) {
        std::sort(ctx.dead_slots.begin(), ctx.dead_slots.end());
        std::size_t write = 0, dead = 0;
        for (std::size_t read = 0; read < ctx.out.size(); ++read) {
            if (dead < ctx.dead_slots.size() && ctx.dead_slots[dead] == read) {
                ++dead;
                continue;
            }
            if (write != read) ctx.out[write] = std::move(ctx.out[read]);
            ++write;
        }
        ctx.out.resize(write);
    }
}

bool Session::Impl::event(PacketContext& ctx, Decision d, bool force) {
    if (!force && (ctx.events >= kMaxEventsPerPacket || events_reported >= kMaxEventsPerSession)) {
        ++ctx.suppressed;
        return false;
    }
    ++ctx.events;
    if (events_reported < UINT32_MAX) ++events_reported;
    ctx.out.push_back(std::move(d));
    return true;
}

void Session::Impl::debug(PacketContext& ctx, Event e) {
    if (ctx.debug_notes >= kMaxDebugNotesPerPacket) return;  // debug only: the counters have the rest
    ++ctx.debug_notes;
    ctx.out.push_back(std::move(e));
}

void Session::Impl::refuse(PacketContext& ctx, Refuse r) {
    saturating_inc(counters->expectations_refused);
    event(ctx, std::move(r));
}

// ---- errors and terminal phases ----

// docs/protocol-model.md#malformed-cap: one event per packet, hostile at the cap.
void Session::Impl::malformed(PacketContext& ctx, event::Malformed m) {
    saturating_inc(counters->malformed);
    ctx.malformed = true;
    ++ctx.malformed_frames;
    if (malformed_frames < UINT8_MAX) ++malformed_frames;
    if (!ctx.malformed_said) {
        ctx.malformed_said = true;
        if (event(ctx, Event{std::move(m)}))
            ctx.malformed_note = ctx.out.size() - 1;
    }
    if (malformed_frames >= kMaxMalformedPerSession && !terminal())
        hostile(ctx, {HostileReason::malformed_cap, malformed_frames}, false);
}

void Session::Impl::not_timbuktu(PacketContext& ctx, event::NotTimbuktu why, bool stop_watching) {
    saturating_inc(counters->not_timbuktu);
    Event e{std::move(why)};
    event(ctx, e, true);
    enter_terminal(ctx, Phase::not_timbuktu, StopWatching{StopReason::not_timbuktu, Side::guest, 0, std::move(e)},
                   stop_watching);
}

// docs/protocol-model.md#b10-roles
// docs/protocol-model.md#guest-consistency: a passive helper and the host can
// be shown two different guest streams (a segment that dies after the firewall,
// then other bytes at the same positions, which the helper would take for a
// retransmit). The roles of B10 are fixed by what the guest said first, so
// until the host's first frame every guest byte seen again must be the same.
bool Session::Impl::guest_bytes_consistent(PacketContext& ctx, std::uint32_t seq,
                                           std::span<const std::uint8_t> payload) {
    if (phase != Phase::await_hello && phase != Phase::await_ack) return true;
    if (!guest_prefix) {
        guest_prefix = std::make_unique<GuestPrefix>();
        guest_prefix->seq = seq;
    }
    auto& kept = guest_prefix->bytes;
    const std::int64_t off = stream::seq_distance(guest_prefix->seq, seq);  // where payload[0] lies in `kept`
    for (std::size_t i = 0; i < payload.size(); ++i) {
        const std::int64_t at = off + static_cast<std::int64_t>(i);
        if (at < 0) continue;
        if (at >= static_cast<std::int64_t>(kept.size())) break;
        if (kept[static_cast<std::size_t>(at)] != payload[i]) {
            hostile(ctx,
                    {HostileReason::guest_inconsistent, seq + static_cast<std::uint32_t>(i), payload[i],
                     kept[static_cast<std::size_t>(at)]},
                    false);
            return false;
        }
    }
    // Extend the copy with what continues it, up to kGuestPrefixBytes.
    const std::int64_t end = off + static_cast<std::int64_t>(payload.size());
    if (off <= static_cast<std::int64_t>(kept.size()) && end > static_cast<std::int64_t>(kept.size())) {
        const auto from = static_cast<std::size_t>(static_cast<std::int64_t>(kept.size()) - off);
        const std::size_t room = kGuestPrefixBytes - std::min(kGuestPrefixBytes, kept.size());
        const std::size_t n = std::min(room, payload.size() - from);
        kept.insert(kept.end(), payload.begin() + static_cast<std::ptrdiff_t>(from),
                    payload.begin() + static_cast<std::ptrdiff_t>(from + n));
    }
    return true;
}

void Session::Impl::hostile(PacketContext& ctx, event::Hostile why, bool reflected) {
    if (terminal()) return;
    if (reflected) saturating_inc(counters->reflected);
    Event e{why};
    event(ctx, e, true);
    enter_terminal(ctx, Phase::hostile, StopWatching{StopReason::hostile, Side::guest, 0, std::move(e)});
}

// docs/protocol-model.md#b9-unmodelled
void Session::Impl::unmodelled(PacketContext& ctx, event::Unmodelled why) {
    if (terminal()) return;
    saturating_inc(counters->unmodelled);
    Event e{why};
    event(ctx, e, true);
    enter_terminal(ctx, Phase::unmodelled, StopWatching{StopReason::unmodelled, Side::guest, 0, std::move(e)});
}

void Session::Impl::enter_terminal(PacketContext& ctx, Phase p, StopWatching why, bool stop_watching) {
    if (terminal()) return;
    phase = p;
    for (auto& d : directions) d.reader.stop();
    // StopWatching only while no expectation hangs off this connection (docs/protocol-model.md#phases).
    if (stop_watching && accepted() == 0) ctx.out.push_back(std::move(why));
}

void Session::Impl::on_reader_stop(PacketContext& ctx, const stream::StreamReader::FeedResult& r) {
    using SR = stream::StreamReader::StopReason;
    const Side who = side_of(ctx.direction);
    switch (r.stopped_now) {
        case SR::none:
        case SR::by_request:
            return;  // the session itself decided; it already said why
        case SR::malformed_header:
            if (ctx.direction == PacketDirection::original && phase == Phase::await_hello) {
                not_timbuktu(ctx, {NotTimbuktuReason::first_bytes_not_header, 0, 0, r.header_error});
                return;
            }
            malformed(ctx, {MalformedReason::frame_header, who, r.stop_seq, 0, r.header_error});
            break;
        case SR::lost_frame_start:
            saturating_inc(counters->stream_lost);
            event(ctx, Event{event::StreamLost{who, r.stop_seq}});
            break;
    }
    if (terminal()) return;
    // Offers come from the host; without the host direction (or without the
    // guest's HELLO) there is nothing more to learn.
    const bool host_lost = ctx.direction == PacketDirection::reply;
    const bool hello_lost = ctx.direction == PacketDirection::original && phase == Phase::await_hello;
    if (host_lost || hello_lost) {
        enter_terminal(ctx, Phase::lost, StopWatching{.why = StopReason::direction_lost, .side = who});
    } else {
        event(ctx, Event{event::HostStillParsed{}});
    }
}

// ---- persistence (docs/protocol-model.md#persistence) ----

PersistedState Session::Impl::persisted() const {
    PersistedFields f;
    f.phase = phase;
    f.service = service;
    // Stream positions only matter while the session still parses; leaving them
    // out afterwards keeps the state constant, so the kernel is not rewritten per packet.
    if (is_tcp() && !terminal()) {
        for (std::size_t i = 0; i < 2; ++i) {
            const auto& reader = directions[i].reader;
            f.directions[i] = {reader.synced(), reader.mid_frame(), reader.stopped(),
                               reader.synced() ? reader.next_seq() : 0};
        }
    }
    f.await_reply_verdict = !is_tcp() && await_reply_verdict;
    const auto& keys = offers.keys();
    f.accepted_offers = static_cast<std::uint8_t>(accepted());
    f.key_count = static_cast<std::uint8_t>(std::min(keys.size(), kPersistMaxKeys));
    for (std::size_t i = 0; i < f.key_count; ++i) f.keys[i] = keys[keys.size() - 1 - i];
    f.malformed_frames = malformed_frames;
    return encode_persisted(f, facts.transport);
}

// ---- Session ----

Session::Session(ConnectionFacts facts, const Policy& policy, Counters& counters, stream::HoldBudget* hold_budget)
    : impl_(std::make_unique<Impl>(std::move(facts), policy, counters, hold_budget)) {}
Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::optional<Session> Session::restore(ConnectionFacts facts, const Policy& policy, Counters& counters,
                                        std::span<const std::uint8_t> persisted, stream::HoldBudget* hold_budget) {
    auto stored = decode_persisted(persisted, facts.transport);
    if (!stored) return std::nullopt;
    const bool tcp = facts.transport == Transport::tcp;
    auto impl = std::make_unique<Impl>(std::move(facts), policy, counters, hold_budget);
    impl->phase = stored->phase;
    impl->service = stored->service;
    impl->malformed_frames = stored->malformed_frames;
    impl->await_reply_verdict = stored->await_reply_verdict;
    std::array<OfferKey, kPersistMaxKeys> keys{};
    for (std::size_t i = 0; i < stored->key_count; ++i)  // stored most recent first; the table keeps most recent last
        keys[i] = stored->keys[stored->key_count - 1 - i];
    impl->offers.restore(stored->accepted_offers, std::span<const OfferKey>(keys.data(), stored->key_count));
    if (tcp) {
        for (std::size_t i = 0; i < 2; ++i) {
            const auto& d = stored->directions[i];
            if (!d.synced) continue;
            auto& reader = impl->directions[i].reader;
            reader.restore(d.next_seq, d.mid_frame);
            if (d.stopped) reader.stop();
        }
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
std::uint32_t Session::accepted_offers() const { return impl_->accepted(); }
std::size_t Session::memory_bytes() const {
    std::size_t bytes = sizeof(Session) + sizeof(Impl);
    bytes += impl_->policy.allowed_ports.capacity() * sizeof(PortRange);
    bytes += impl_->offers.heap_bytes();
    if (impl_->guest_prefix) bytes += sizeof(Impl::GuestPrefix) + impl_->guest_prefix->bytes.capacity();
    for (const auto& d : impl_->directions) bytes += d.reader.heap_bytes();
    return bytes;
}

}  // namespace tb::timbuktu
