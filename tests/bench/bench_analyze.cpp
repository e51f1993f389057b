// `make bench` (build/bench-analyze): time of `tbhelperctl analyze`'s core,
// lib/ctl/analyze, over synthetic captures of 1000 to 8000 TCP contact
// sessions with 32 offers each, every offered stream then opened by the
// guest. Prints the time per size and the ratio to the previous size: about 2
// for each doubling when the analysis grows linearly (issue 8: it was about 4
// before expectations were indexed). Asserts only that the work was done,
// never a time (machines differ).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "config/config.hpp"
#include "ctl/analyze.hpp"
#include "timbuktu/wire.hpp"

using namespace tb;
using namespace tb::ctl;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kOffersPerSession = 32;

Bytes hello_frame() {
    timbuktu::Hello h;
    h.version_major = 5;
    h.version_minor = 2;
    h.service = 7;  // intercom: the stream stays framed, offers follow (B7)
    h.guest_name = "bench-guest";
    return timbuktu::hello_frame(h);
}

Bytes hello_ack_frame() {
    timbuktu::HelloAck a;
    a.version_major = 5;
    a.version_minor = 2;
    a.service = 7;
    a.host_name = "bench-host";
    return timbuktu::hello_ack_frame(a);
}

Bytes offers_frames(std::uint16_t first_port) {
    Bytes out;
    for (int i = 0; i < kOffersPerSession; ++i) {
        timbuktu::PortOffer o;
        o.service = 7;
        o.transport = Transport::udp;
        o.port = static_cast<std::uint16_t>(first_port + i);
        auto f = timbuktu::port_offer_frame(o);
        out.insert(out.end(), f.begin(), f.end());
    }
    return out;
}

struct Result {
    double seconds = 0;
    std::size_t expectations = 0, used = 0, sessions = 0;
};

Result run(std::size_t sessions) {
    Config config;
    config.max_expectations = kOffersPerSession;
    Analyzer analyzer(config, kLinkRaw);
    const IpAddress host = *IpAddress::parse("203.0.113.2");
    const Bytes hello = hello_frame(), ack = hello_ack_frame();
    // Same offered ports for every guest: the index must tell guests apart.
    const Bytes offers = offers_frames(20000);

    std::vector<DecodedPacket> packets;
    auto start = Clock::now();
    for (std::size_t s = 0; s < sessions; ++s) {
        const IpAddress guest = IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(s) + 1);  // 10.0.0.1, ...
        DecodedPacket p;
        p.proto = Transport::tcp;
        p.src = guest;
        p.sport = 40000;
        p.dst = host;
        p.dport = 407;
        p.syn = true;
        p.seq = 999;
        analyzer.add_packet(p);  // SYN
        p.syn = false;
        p.ack = true;
        p.seq = 1000;
        p.payload = hello;
        analyzer.add_packet(p);  // HELLO
        DecodedPacket r = p;
        std::swap(r.src, r.dst);
        std::swap(r.sport, r.dport);
        r.seq = 5000;
        r.payload = ack;
        analyzer.add_packet(r);  // HELLO-ACK
        r.seq = 5000 + static_cast<std::uint32_t>(ack.size());
        r.payload = offers;
        analyzer.add_packet(r);  // 32 PORT-OFFERs in one segment
        // The guest opens every offered stream (UDP to the offered port).
        for (int i = 0; i < kOffersPerSession; ++i) {
            DecodedPacket u;
            u.proto = Transport::udp;
            u.src = guest;
            u.sport = 50000;
            u.dst = host;
            u.dport = static_cast<std::uint16_t>(20000 + i);
            u.payload = std::span<const std::uint8_t>(hello.data(), 4);
            analyzer.add_packet(u);
        }
    }
    auto report = analyzer.finish();
    Result res;
    res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    res.expectations = report.expectations.size();
    for (const auto& e : report.expectations) res.used += e.used_frame.has_value();
    res.sessions = report.timbuktu_sessions();
    return res;
}

}  // namespace

int main() {
    std::printf("analyze: TCP contact sessions with %d offers each, every offered stream opened\n",
                kOffersPerSession);
    std::printf("%8s %10s %12s %10s %8s\n", "sessions", "frames", "expectations", "seconds", "ratio");
    double previous = 0;
    bool ok = true;
    for (std::size_t n : {1000, 2000, 4000, 8000}) {
        auto r = run(n);
        const std::size_t frames = n * (4 + kOffersPerSession);
        if (previous > 0)
            std::printf("%8zu %10zu %12zu %10.3f %8.2f\n", n, frames, r.expectations, r.seconds, r.seconds / previous);
        else
            std::printf("%8zu %10zu %12zu %10.3f %8s\n", n, frames, r.expectations, r.seconds, "-");
        std::fflush(stdout);
        previous = r.seconds;
        // The work was done: every session recognized, every offer expected and used.
        if (r.sessions != n || r.expectations != n * kOffersPerSession || r.used != r.expectations) {
            std::printf("  unexpected result: %zu sessions, %zu expectations, %zu used\n", r.sessions,
                        r.expectations, r.used);
            ok = false;
        }
    }
    std::printf("ratio: time of this size over the previous one (2.0 = linear growth)\n");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
