// libFuzzer target: drives a Session over TCP or UDP with fuzzer-chosen
// segmentation, sequence numbers, directions and restarts, and checks the
// engine's invariants on every packet: the incremental frame parser, the
// held segments under a small shared stream::HoldBudget (so that the drop path runs),
// the hostile and unmodelled phases (nothing acted on once there), the bounds
// on events per packet and on memory per session.
//
// Input: byte 0 chooses the connection (bit 0 UDP, bit 1 SNAT, bit 2 DNAT,
// bit 3 IPv6, bit 4 nat_rewrite off, bits 5-7 max_expectations - 1).
// Then chunks: [control][length][length bytes of payload]. Control bits:
// bit 0 direction (1 = host), bit 1 SYN, bit 2 restart the daemon before this
// packet (restore from persisted()), bits 3-4 sequence choice (0 next byte,
// 1 back by bits 5-7 * 3 + 1, 2 ahead by bits 5-7 * 5 + 1, 3 arbitrary: four
// more input bytes give the seq).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "invariant.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/session.hpp"

using namespace tb;
using namespace tb::timbuktu;

namespace {


IpAddress v4(std::uint32_t a) { return IpAddress::v4(a); }
IpAddress v6(std::uint8_t last) {
    std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    b[15] = last;
    return IpAddress::v6_bytes(b);
}

struct Totals {
    std::uint64_t expects = 0, refuses = 0, rewrites = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t config = data[0];
    ConnectionFacts facts;
    facts.transport = (config & 1) ? Transport::udp : Transport::tcp;
    const bool ipv6 = config & 8;
    if (ipv6) {
        facts.guest = v6(2);
        facts.contact_address = v6(3);
        facts.host = (config & 4) ? v6(5) : facts.contact_address;
        facts.guest_translated = (config & 2) ? v6(7) : facts.guest;
    } else {
        facts.guest = v4(0xC0A8010A);
        facts.contact_address = v4(0xCB007102);
        facts.host = (config & 4) ? v4(0x0A000005) : facts.contact_address;
        facts.guest_translated = (config & 2) ? v4(0xC633644D) : facts.guest;
    }
    facts.guest_port = 40000;
    facts.contact_port = 407;
    Policy policy;
    policy.nat_rewrite = !(config & 16);
    policy.max_expectations = static_cast<std::uint32_t>((config >> 5) + 1);
    policy.expectation_timeout = 60;
    policy.allowed_ports = {{1024, 65535}};

    // TB_FUZZ_VERBOSE=1 prints every packet's decisions (to read a finding or a seed).
    static const bool verbose = std::getenv("TB_FUZZ_VERBOSE") != nullptr;
    Counters counters;
    // Small, so that inputs of a few KiB reach the budget and the drop path.
    stream::HoldBudget budget(2048);
    std::optional<Session> session(std::in_place, facts, policy, counters, &budget);
    Totals totals;
    std::uint32_t next_seq[2] = {0x10000000u, 0xFFFFFF00u};

    std::size_t pos = 1;
    while (pos + 2 <= size) {
        const std::uint8_t control = data[pos];
        std::size_t length = data[pos + 1];
        pos += 2;
        const int dir = control & 1;
        std::uint32_t seq = next_seq[dir];
        const std::uint8_t amount = control >> 5;
        switch ((control >> 3) & 3) {
            case 1: seq -= amount * 3u + 1; break;
            case 2: seq += amount * 5u + 1; break;
            case 3:
                if (pos + 4 > size) return 0;
                seq = load_be32(data + pos);
                pos += 4;
                break;
            default: break;
        }
        length = std::min(length, size - pos);
        std::span<const std::uint8_t> payload(data + pos, length);
        pos += length;

        if (control & 4) {  // a daemon restart: only the persisted bytes survive
            const auto state = session->persisted();
            auto restored = Session::restore(facts, policy, counters, state, &budget);
            INVARIANT(restored.has_value());
            INVARIANT(restored->persisted() == state);
            INVARIANT(restored->phase() == session->phase());
            session = std::move(restored);
        }

        Packet packet;
        packet.direction = dir ? PacketDirection::reply : PacketDirection::original;
        packet.tcp_seq = seq;
        packet.payload = payload;
        packet.tcp_syn = (control & 2) != 0;
        const Phase phase_before = session->phase();
        const bool acted_before = phase_before == Phase::hostile || phase_before == Phase::unmodelled ||
                                  phase_before == Phase::not_timbuktu || phase_before == Phase::lost ||
                                  phase_before == Phase::service_data;
        const auto decisions = session->on_packet(packet);
        if (facts.transport == Transport::tcp) {
            const std::int64_t end = static_cast<std::int64_t>(seq - next_seq[dir]) + static_cast<std::int64_t>(length) +
                                     (packet.tcp_syn ? 1 : 0);
            if (end > 0 && end < (1 << 20)) next_seq[dir] += static_cast<std::uint32_t>(end);
        }

        if (verbose) {
            std::fprintf(stderr, "%s seq %u len %zu%s -> %zu decisions, phase %s\n", dir ? "host " : "guest", seq,
                         length, packet.tcp_syn ? " SYN" : "", decisions.size(), phase_name(session->phase()).c_str());
            for (const auto& d : decisions) {
                if (const auto* e = std::get_if<Expect>(&d)) std::fprintf(stderr, "  expect port %u\n", e->port);
                if (const auto* r = std::get_if<Refuse>(&d)) std::fprintf(stderr, "  refuse %s\n", refuse_text(*r).c_str());
                if (const auto* w = std::get_if<Rewrite>(&d))
                    std::fprintf(stderr, "  rewrite @%zu %s\n", w->payload_offset, rewrite_field_text(*w).c_str());
                if (const auto* n = std::get_if<Event>(&d)) std::fprintf(stderr, "  event %s\n", event_text(*n).c_str());
                if (std::get_if<StopWatching>(&d)) std::fprintf(stderr, "  stop watching\n");
            }
        }
        const Phase phase_after = session->phase();
        std::size_t events = 0, debug_notes = 0;
        for (const auto& d : decisions) {
            if (const auto* n = std::get_if<Event>(&d)) {
                // Every event renders (the renderer is fuzzed with the engine).
                INVARIANT(!event_text(*n).empty());
                if (n->level() == EventLevel::debug) ++debug_notes;
                else ++events;
            }
            if (std::get_if<Refuse>(&d)) ++events;
            if (const auto* e = std::get_if<Expect>(&d)) {
                // Never on a flow that stopped being parsed before this packet, nor on
                // one this packet showed hostile or outside the model (B9, B10).
                INVARIANT(!acted_before);
                INVARIANT(phase_after != Phase::hostile && phase_after != Phase::unmodelled);
                ++totals.expects;
                INVARIANT(dir == 1);  // never an Expect from a guest-side packet
                INVARIANT(e->guest == facts.guest);
                INVARIANT(e->address == facts.contact_address);
                INVARIANT(e->port != 0 && policy.port_allowed(e->port));
                INVARIANT(e->timeout_seconds > 0 && e->timeout_seconds <= policy.expectation_timeout);
                INVARIANT(e->follow_nat == (facts.host != facts.contact_address ||
                                            facts.guest_translated != facts.guest));
            } else if (const auto* r = std::get_if<Refuse>(&d)) {
                ++totals.refuses;
                INVARIANT(!refuse_text(*r).empty());
                if (r->reason != RefuseReason::forged_guest_offer) INVARIANT(r->offer.has_value());
                if (r->reason == RefuseReason::forged_guest_offer) INVARIANT(dir == 0);
                else INVARIANT(dir == 1);
            } else if (const auto* w = std::get_if<Rewrite>(&d)) {
                ++totals.rewrites;
                INVARIANT(!ipv6);
                INVARIANT(policy.nat_rewrite);
                INVARIANT(w->payload_offset + 4 <= payload.size());  // inside the current payload
                INVARIANT(std::memcmp(payload.data() + w->payload_offset, w->old_bytes.data(), 4) == 0);
                INVARIANT(w->old_bytes != w->new_bytes);
            } else if (std::get_if<StopWatching>(&d)) {
                INVARIANT(session->accepted_offers() == 0);
            }
        }
        // Bounded events per packet: 16, plus one summary and the notes that end a flow.
        INVARIANT(events <= 16 + 3);
        INVARIANT(debug_notes <= 4 + 1);  // the placeholder of a not-acted-on offer is not one
        // A terminal phase is for the rest of the flow's life; only A10 moves not_timbuktu on.
        if (acted_before)
            INVARIANT(phase_after == phase_before ||
                      (phase_before == Phase::not_timbuktu && phase_after == Phase::unmodelled));
        INVARIANT(budget.used() <= budget.capacity());
        // docs/protocol-model.md#memory: retained prefix buffers plus at most 4 held
        // segments of this input (the budget caps them at 2048 bytes).
        INVARIANT(session->memory_bytes() <= 1024 + 2 * 512 + budget.capacity() + 4 * 64);
        INVARIANT(session->accepted_offers() <= policy.max_expectations);
        INVARIANT(counters.expectations_created == totals.expects);
        // Refusals beyond the event bounds are counted, not reported.
        INVARIANT(counters.expectations_refused >= totals.refuses);
        INVARIANT(counters.rewrites == totals.rewrites);
        INVARIANT(counters.packets >= 1);
    }
    session.reset();
    INVARIANT(budget.used() == 0);  // every held byte was given back
    return 0;
}
