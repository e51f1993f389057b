// `make bench`: throughput figures of the pure engine. Prints numbers; asserts
// nothing about time (machines differ), only that the work was done.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "timbuktu/session.hpp"
#include "timbuktu/wire.hpp"

using namespace tb;
using namespace tb::timbuktu;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

// A counting allocator: every operator new/delete of the process goes through
// these, so the memory figures below are what the engine really takes from the
// heap, malloc's own block header (8 bytes) included.
namespace {
std::size_t g_live_heap = 0;
std::size_t block_size(void* p) { return malloc_usable_size(p) + sizeof(void*); }
void* counted_alloc(std::size_t n) {
    void* p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    g_live_heap += block_size(p);
    return p;
}
void counted_free(void* p) noexcept {
    if (!p) return;
    g_live_heap -= block_size(p);
    std::free(p);
}
}  // namespace
void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }

namespace {

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
Bytes hello(std::uint8_t service) {
    timbuktu::Hello h;
    h.service = service;
    h.guest_name = "bench-guest";
    return timbuktu::hello_frame(h);
}
Bytes hello_ack(std::uint8_t service, std::uint32_t address) {
    timbuktu::HelloAck a;
    a.service = service;
    a.host_address = address;
    a.host_name = "bench-host";
    return timbuktu::hello_ack_frame(a);
}
Bytes offer(Transport t, std::uint16_t port, std::uint32_t address) {
    timbuktu::PortOffer o;
    o.service = 7;
    o.transport = t;
    o.port = port;
    o.address = address;
    return timbuktu::port_offer_frame(o);
}
Bytes other(std::size_t body) {
    Bytes b(body, 0x5A);
    b[0] = 0x00, b[1] = 0x60;
    return timbuktu::encode_frame(timbuktu::kClassHost, 0, b);
}

ConnectionFacts facts(Transport t, bool dnat) {
    ConnectionFacts f;
    f.transport = t;
    f.guest = IpAddress::v4(0xC6336402);
    f.contact_address = IpAddress::v4(0xCB007102);
    f.host = dnat ? IpAddress::v4(0x0A000005) : f.contact_address;
    f.guest_translated = f.guest;
    f.guest_port = 40000;
    f.contact_port = 407;
    return f;
}

struct Step {
    PacketDirection direction;
    Bytes payload;
};
struct Flow {
    Transport transport;
    bool dnat;
    std::vector<Step> steps;
};

// One contact connection of each kind a site sees, in rough proportion.
std::vector<Flow> session_mix() {
    constexpr auto G = PacketDirection::original;
    constexpr auto H = PacketDirection::reply;
    std::vector<Flow> mix;
    // Intercom over TCP under DNAT: contact, two offers, then framed chatter.
    for (int i = 0; i < 6; ++i) {
        Flow f{Transport::tcp, true, {{G, hello(7)}, {H, cat({hello_ack(7, 0x0A000005), offer(Transport::udp, 40001, 0x0A000005)})}}};
        f.steps.push_back({H, offer(Transport::tcp, 5000, 0)});
        for (int k = 0; k < 20; ++k) f.steps.push_back({k % 2 ? G : H, other(k % 2 ? 40 : 600)});
        mix.push_back(std::move(f));
    }
    // Control over TCP: contact, then unframed screen data the engine no longer parses.
    for (int i = 0; i < 2; ++i) {
        Flow f{Transport::tcp, false, {{G, hello(1)}, {H, hello_ack(1, 0)}}};
        for (int k = 0; k < 30; ++k) f.steps.push_back({H, Bytes(1400, 0xF8)});
        mix.push_back(std::move(f));
    }
    // Legacy UDP contact.
    mix.push_back(Flow{Transport::udp, false,
                       {{G, hello(1)}, {H, cat({hello_ack(1, 0), offer(Transport::tcp, 1417, 0)})}}});
    // Not Timbuktu on the contact port.
    mix.push_back(Flow{Transport::tcp, false, {{G, Bytes(300, 'G')}, {H, Bytes(1400, 'H')}}});
    return mix;
}

template <class F>
double seconds(F&& f) {
    const auto start = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

volatile std::size_t g_sink;  // keeps the work observable

}  // namespace


namespace {

// docs/protocol-model.md#memory: engine memory per tracked connection, at
// rest after a normal contact and under the unfinished-frames attack (issue 8:
// 1000 connections each holding an unfinished 64 KiB frame). The same file
// builds against tbhelper 0.1 (no stream::HoldBudget) to give the figures before.
// (The budget moved from lib/engine/ to lib/stream/ in the redesign; a
// build from before it has the old path, 0.1 neither.)
#if __has_include("stream/hold_budget.hpp")
#define TB_BENCH_HOLD_BUDGET 1
#include "stream/hold_budget.hpp"
#elif __has_include("engine/hold_budget.hpp")
#define TB_BENCH_HOLD_BUDGET 1
#include "engine/hold_budget.hpp"
namespace tb::stream { using tb::engine::HoldBudget; }
#endif

struct Fleet {
#ifdef TB_BENCH_HOLD_BUDGET
    stream::HoldBudget budget;  // the daemon's one shared budget, default capacity
#endif
    Counters counters;
    std::vector<Session> sessions;
    void add(const ConnectionFacts& f, const Policy& p) {
#ifdef TB_BENCH_HOLD_BUDGET
        sessions.emplace_back(f, p, counters, &budget);
#else
        sessions.emplace_back(f, p, counters);
#endif
    }
};

constexpr std::size_t kFleet = 1000;

void report(const char* what, std::size_t heap_before, std::size_t heap_after) {
    const double per = static_cast<double>(heap_after - heap_before) / kFleet + sizeof(Session);
    std::printf("  %-58s %8.0f bytes/session  (%.1f MB for %zu)\n", what, per, per * kFleet / 1e6, kFleet);
}

void memory(const Policy& policy) {
    std::printf("\nmemory per tracked connection (sizeof(Session) %zu + live heap, counting allocator):\n",
                sizeof(Session));
    const auto f = facts(Transport::tcp, true);
    Bytes guest_hello = hello(7);
    Bytes answer = cat({hello_ack(7, 0x0A000005), offer(Transport::udp, 40001, 0x0A000005), offer(Transport::tcp, 5000, 0)});
    {
        Fleet fleet;
        fleet.sessions.reserve(kFleet);
        const std::size_t before = g_live_heap;
        for (std::size_t i = 0; i < kFleet; ++i) {
            fleet.add(f, policy);
            Session& s = fleet.sessions.back();
            s.on_packet(Packet{PacketDirection::original, 1000, guest_hello});
            s.on_packet(Packet{PacketDirection::reply, 5000, answer});
        }
        report("at rest after a normal contact (intercom, 2 offers)", before, g_live_heap);
    }
    // The attack: the guest's first frame declares 65535 body bytes and sends 63 KB of them.
    Bytes header{0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF};
    Bytes first(1394, 0x41);
    first[0] = 0x00, first[1] = 0x23;
    Bytes more(1400, 0x41);
    auto attack = [&](Session& s, bool reorder) {
        std::uint32_t seq = 1000;
        auto send = [&](const Bytes& b) {
            s.on_packet(Packet{PacketDirection::original, seq, b});
            seq += static_cast<std::uint32_t>(b.size());
        };
        send(cat({header, first}));
        for (int k = 0; k < 44; ++k) send(more);
        if (reorder)  // and 4 segments beyond a gap that never fills
            for (std::uint32_t k = 0; k < 4; ++k)
                s.on_packet(Packet{PacketDirection::original, seq + 1400 + k * 1400, more});
    };
    for (bool reorder : {false, true}) {
        Fleet fleet;
        fleet.sessions.reserve(kFleet);
        const std::size_t before = g_live_heap;
        for (std::size_t i = 0; i < kFleet; ++i) {
            fleet.add(f, policy);
            attack(fleet.sessions.back(), reorder);
        }
        report(reorder ? "unfinished 64 KiB frame + 4 held segments beyond a gap" : "holding an unfinished 64 KiB frame",
               before, g_live_heap);
#ifdef TB_BENCH_HOLD_BUDGET
        if (reorder)
            std::printf("  %-58s %8zu bytes held in all (budget %zu), %llu segments dropped\n", "  shared hold budget",
                        fleet.budget.used(), fleet.budget.capacity(),
                        static_cast<unsigned long long>(fleet.counters.held_dropped));
#endif
    }
}

}  // namespace

int main() {
    Policy policy;
    std::printf("tbhelper engine benchmark (pure engine, one core, no kernel)\n\n");

    // 1. A realistic session mix.
    {
        const auto mix = session_mix();
        std::size_t packets = 0, bytes = 0, decisions = 0, sessions = 0;
        Counters counters;
        const double t = seconds([&] {
            for (int round = 0; round < 4000; ++round)
                for (const auto& flow : mix) {
                    Session s(facts(flow.transport, flow.dnat), policy, counters);
                    ++sessions;
                    std::uint32_t seq[2] = {1000, 5000};
                    for (const auto& step : flow.steps) {
                        const int d = step.direction == PacketDirection::original ? 0 : 1;
                        decisions += s.on_packet(Packet{step.direction, seq[d], step.payload}).size();
                        seq[d] += static_cast<std::uint32_t>(step.payload.size());
                        ++packets;
                        bytes += step.payload.size();
                    }
                    g_sink = g_sink + s.persisted()[0];
                }
        });
        if (counters.expectations_created == 0 || counters.rewrites == 0) {
            std::fprintf(stderr, "bench: the session mix produced no expectations or rewrites\n");
            return 1;
        }
        std::printf("session mix: %zu sessions, %zu packets, %.1f MB in %.3f s\n", sessions, packets, bytes / 1e6, t);
        std::printf("  %.0f packets/s   %.1f MB/s   %.0f sessions/s   (%zu decisions, %llu expectations)\n\n",
                    packets / t, bytes / 1e6 / t, sessions / t, decisions,
                    static_cast<unsigned long long>(counters.expectations_created));
        g_sink = g_sink + decisions;
    }

    // 2. Codec: frames parsed per second.
    {
        Bytes datagram;
        for (int i = 0; i < 50; ++i) {
            auto o = offer(Transport::udp, static_cast<std::uint16_t>(2000 + i), 0);
            datagram.insert(datagram.end(), o.begin(), o.end());
        }
        std::size_t frames = 0, valid = 0;
        const double t = seconds([&] {
            for (int round = 0; round < 40000; ++round) {
                auto split = timbuktu::split_datagram(datagram);
                for (const auto& f : std::get<std::vector<timbuktu::FrameView>>(split)) {
                    ++frames;
                    valid += timbuktu::parsed_value(timbuktu::parse_port_offer(f.body)) != nullptr;
                }
            }
        });
        std::printf("codec: %zu PORT-OFFER frames split and parsed in %.3f s: %.1f M frames/s\n\n", frames, t,
                    frames / t / 1e6);
        g_sink = g_sink + valid;
    }

    // 3. Segmentation cost: the same framed stream as whole segments vs 1-byte segments.
    {
        Bytes stream = cat({hello_ack(7, 0), offer(Transport::udp, 40001, 0)});
        for (int k = 0; k < 40; ++k) {
            auto o = other(100);
            stream.insert(stream.end(), o.begin(), o.end());
        }
        auto run = [&](std::size_t segment, std::size_t& packets) {
            Counters counters;
            std::size_t decisions = 0;
            const double t = seconds([&] {
                for (int round = 0; round < 300; ++round) {
                    Session s(facts(Transport::tcp, false), policy, counters);
                    auto h = hello(7);
                    s.on_packet(Packet{PacketDirection::original, 1, h});
                    for (std::size_t at = 0; at < stream.size(); at += segment) {
                        const std::size_t n = std::min(segment, stream.size() - at);
                        decisions += s.on_packet(Packet{PacketDirection::reply, static_cast<std::uint32_t>(9000 + at),
                                                        std::span<const std::uint8_t>(stream).subspan(at, n)})
                                         .size();
                        ++packets;
                    }
                }
            });
            g_sink = g_sink + decisions;
            return t;
        };
        std::size_t whole_packets = 0, byte_packets = 0;
        const double t_whole = run(1400, whole_packets);
        const double t_bytes = run(1, byte_packets);
        const double per_whole = t_whole / whole_packets * 1e9;
        const double per_byte = t_bytes / byte_packets * 1e9;
        std::printf("segmentation: %zu-byte framed stream, 300 sessions\n", stream.size());
        std::printf("  1400-byte segments: %.0f ns/packet, %.2f ms total\n", per_whole, t_whole * 1e3);
        std::printf("  1-byte segments:    %.0f ns/packet, %.2f ms total\n", per_byte, t_bytes * 1e3);
        std::printf("  ratio per packet (1-byte / whole): %.2f; ratio per stream: %.1f\n", per_byte / per_whole,
                    t_bytes / t_whole);
    }
    memory(policy);
    return 0;
}
