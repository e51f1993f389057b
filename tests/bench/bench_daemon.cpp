// `make bench` (build/bench-daemon): the daemon's own work per queued packet
// and its memory per tracked connection, natively, without a kernel
// (docs/daemon.md#figures). Each queued packet is a netlink NFQNL_MSG_PACKET
// message as nfnetlink_queue builds it (packet header, NFQA_CT with tuples,
// status, id, TCP state and the helper's private data, NFQA_CT_INFO, the
// interfaces, the IP packet), synthesized here; the timed work is what
// tbhelperd does between its receive and its send: decode the message
// (netfilter::decode_queue_message), the per-packet path
// (daemon::handle_queued_packet: decoder, conntrack facts, runtime, engine)
// and build the verdict (netfilter::build_verdict_message). The kernel round
// trip itself (recv, send) is not in the figure.
//
// N framed TCP contact connections (intercom: the stream stays framed) are
// set up (SYN, HELLO, HELLO-ACK), then packets of 22-byte frames go round
// robin over all of them, so each packet meets a cold entry of a table of N.
// Prints µs per packet for N = 1k, 10k, 100k, the ratio to 1k (1.0 = flat),
// and memory: heap (mallinfo2) and RSS per tracked connection at rest and
// while each holds an unfinished frame. Asserts only that the work was done.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "helper/runtime.hpp"
#include "netfilter/queue_reader.hpp"
#include "timbuktu/wire.hpp"
#include "../../nfhelper/helper_core.hpp"
#include "../../nfhelper/log.hpp"

using namespace tb;
using Bytes = std::vector<std::uint8_t>;

namespace {

// No kernel: offers are not part of this stream, so nothing is ever asked.
class NoKernel : public helper::KernelPort {
public:
    helper::ExpectationResult create_expectation(const helper::ConntrackFacts&, const timbuktu::Expect&) override {
        ++asked;
        return {};
    }
    std::optional<helper::OriginalPath> route_to(const IpAddress&) override { return std::nullopt; }
    std::size_t asked = 0;
};

constexpr std::uint32_t kGuestIf = 2, kHostIf = 3;
constexpr std::uint32_t kHost = 0xCB007102;  // 203.0.113.2

struct Conn {
    std::uint32_t guest;
    std::uint16_t gport;
    std::uint32_t id;
    std::uint32_t seq[2] = {1000, 5000};  // next stream byte, per direction
};

std::uint16_t ip_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// The IPv4 + TCP packet as the firewall sees it.
Bytes ip_packet(const Conn& c, bool reply, bool syn, std::span<const std::uint8_t> payload) {
    Bytes p(40 + payload.size(), 0);
    p[0] = 0x45;
    const std::uint16_t total = static_cast<std::uint16_t>(p.size());
    p[2] = total >> 8, p[3] = total & 0xff;
    p[6] = 0x40;  // DF
    p[8] = 64;
    p[9] = IPPROTO_TCP;
    const std::uint32_t src = htonl(reply ? kHost : c.guest), dst = htonl(reply ? c.guest : kHost);
    std::memcpy(&p[12], &src, 4);
    std::memcpy(&p[16], &dst, 4);
    const std::uint16_t ip_sum = ip_checksum(p.data(), 20);
    p[10] = ip_sum >> 8, p[11] = ip_sum & 0xff;
    const std::uint16_t sport = htons(reply ? 407 : c.gport), dport = htons(reply ? c.gport : 407);
    std::memcpy(&p[20], &sport, 2);
    std::memcpy(&p[22], &dport, 2);
    const std::uint32_t seq = htonl(c.seq[reply ? 1 : 0] - (syn ? 1 : 0));
    std::memcpy(&p[24], &seq, 4);
    p[32] = 0x50;
    p[33] = syn ? (reply ? 0x12 : 0x02) : 0x18;  // SYN / SYN-ACK / PSH-ACK
    p[34] = 0xff, p[35] = 0xff;
    std::memcpy(&p[40], payload.data(), payload.size());
    return p;
}

void put_tuple(nlmsghdr* nlh, int type, std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
               std::uint16_t dport) {
    nlattr* t = mnl_attr_nest_start(nlh, type);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(src));
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(dst));
    mnl_attr_nest_end(nlh, ip);
    nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, t);
}

// One NFQNL_MSG_PACKET message, attributes in the order nfqnl_build_packet_message writes them.
Bytes queue_message(const Conn& c, std::uint32_t packet_id, bool reply, bool confirmed, const Bytes& packet,
                    const std::array<std::uint8_t, 32>* help_info, std::size_t* packet_at = nullptr) {
    Bytes buf(packet.size() + 1024);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_INET;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(407);
    nfqnl_msg_packet_hdr ph{};
    ph.packet_id = htonl(packet_id);
    ph.hw_protocol = htons(0x0800);
    ph.hook = NF_INET_POST_ROUTING;
    mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof ph, &ph);
    mnl_attr_put_u32(nlh, NFQA_IFINDEX_INDEV, htonl(reply ? kHostIf : kGuestIf));
    mnl_attr_put_u32(nlh, NFQA_IFINDEX_OUTDEV, htonl(reply ? kGuestIf : kHostIf));
    nlattr* ct = mnl_attr_nest_start(nlh, NFQA_CT);
    put_tuple(nlh, CTA_TUPLE_ORIG, c.guest, kHost, c.gport, 407);
    put_tuple(nlh, CTA_TUPLE_REPLY, kHost, c.guest, 407, c.gport);
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(IPS_SEEN_REPLY | IPS_ASSURED | (confirmed ? IPS_CONFIRMED : 0)));
    mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(431999));
    nlattr* help = mnl_attr_nest_start(nlh, CTA_HELP);
    mnl_attr_put_strz(nlh, CTA_HELP_NAME, "timbuktu");
    if (help_info) mnl_attr_put(nlh, CTA_HELP_INFO, help_info->size(), help_info->data());
    mnl_attr_nest_end(nlh, help);
    nlattr* pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
    nlattr* tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, 7);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_REPLY, 7);
    mnl_attr_nest_end(nlh, tcp);
    mnl_attr_nest_end(nlh, pi);
    mnl_attr_put_u32(nlh, CTA_USE, htonl(1));
    mnl_attr_put_u32(nlh, CTA_ID, htonl(c.id));
    mnl_attr_nest_end(nlh, ct);
    mnl_attr_put_u32(nlh, NFQA_CT_INFO, htonl(reply ? IP_CT_ESTABLISHED_REPLY : IP_CT_ESTABLISHED));
    if (packet_at) *packet_at = nlh->nlmsg_len + NLA_HDRLEN;
    mnl_attr_put(nlh, NFQA_PAYLOAD, packet.size(), packet.data());
    buf.resize(nlh->nlmsg_len);
    return buf;
}

// What the daemon does between its receive and its send.
struct Daemon {
    NoKernel kernel;
    daemon::LogSink log;
    helper::HelperRuntime runtime;
    std::vector<char> tx = std::vector<char>(netfilter::kVerdictBufferSize);
    std::size_t verdict_bytes = 0, drops = 0, packets = 0;

    explicit Daemon(std::size_t capacity)
        : runtime(helper::kTimbuktuHelper, timbuktu::Policy{}, options(capacity), kernel, log) {}
    static helper::RuntimeOptions options(std::size_t capacity) {
        helper::RuntimeOptions o;
        o.session_capacity = capacity;
        return o;
    }
    void packet(Bytes& message, std::time_t now) {
        netfilter::QueuedPacket pkt;
        int error = 0;
        auto* nlh = reinterpret_cast<const nlmsghdr*>(message.data());
        if (netfilter::decode_queue_message(nlh, pkt, error) != netfilter::QueueMessage::packet) std::abort();
        // As the daemon reads its contact queue by default (gso = true, a
        // segment queue behind it: docs/daemon.md#gso).
        const netfilter::Verdict v = daemon::handle_queued_packet(runtime, pkt, now, daemon::QueueRole{408, false});
        const nlmsghdr* out = netfilter::build_verdict_message(tx, 407, pkt.id, v, pkt.data);
        verdict_bytes += out->nlmsg_len;
        drops += v.drop;
        ++packets;
    }
};

Bytes hello() {
    timbuktu::Hello h;
    h.service = 7;  // intercom: the stream stays framed (docs/protocol-model.md#b7)
    h.guest_name = "bench-guest";
    return timbuktu::hello_frame(h);
}
Bytes hello_ack() {
    timbuktu::HelloAck a;
    a.service = 7;
    a.host_name = "bench-host";
    return timbuktu::hello_ack_frame(a);
}
// A 22-byte frame the engine reads and lets pass (6-byte header, 16-byte body).
Bytes small_frame() {
    Bytes b(16, 0x5A);
    b[0] = 0x00, b[1] = 0x60;
    return timbuktu::encode_frame(timbuktu::kClassHost, 0, b);
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long rss_kib() {
    std::ifstream s("/proc/self/status");
    std::string line;
    while (std::getline(s, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return 0;
}

struct Figures {
    double us_per_packet = 0;
    double heap_at_rest = 0, rss_at_rest = 0;      // bytes per connection
    double heap_unfinished = 0, rss_unfinished = 0;
    long rss_total_kib = 0;
    std::size_t tracked = 0;
};

Figures run(std::size_t n, std::size_t timed_packets) {
    Figures fig;
    const std::size_t heap0 = mallinfo2().uordblks;
    const long rss0 = rss_kib();
    auto* d = new Daemon(n);
    std::vector<Conn> conns(n);
    std::uint32_t packet_id = 1;
    std::time_t now = 1'700'000'000;
    const Bytes h = hello(), a = hello_ack(), frame = small_frame();
    for (std::size_t i = 0; i < n; ++i) {
        Conn& c = conns[i];
        c.guest = 0x0A000000u + static_cast<std::uint32_t>(i / 60000) * 65536u + 1;
        c.gport = static_cast<std::uint16_t>(1024 + i % 60000);
        c.id = static_cast<std::uint32_t>(i + 1);
        auto m = queue_message(c, packet_id++, false, false, ip_packet(c, false, true, {}), nullptr);
        d->packet(m, now);
        m = queue_message(c, packet_id++, true, true, ip_packet(c, true, true, {}), nullptr);
        d->packet(m, now);
        m = queue_message(c, packet_id++, false, true, ip_packet(c, false, false, h), nullptr);
        d->packet(m, now);
        c.seq[0] += static_cast<std::uint32_t>(h.size());
        m = queue_message(c, packet_id++, true, true, ip_packet(c, true, false, a), nullptr);
        d->packet(m, now);
        c.seq[1] += static_cast<std::uint32_t>(a.size());
    }
    // One prepared message per connection, its sequence number and packet id
    // patched in place before each use (as the kernel's next copy would differ).
    std::vector<Bytes> data(n);
    std::array<std::uint8_t, 32> info{};
    std::size_t payload_at = 0;  // the same in every message: one shape
    for (std::size_t i = 0; i < n; ++i)
        data[i] = queue_message(conns[i], 0, true, true, ip_packet(conns[i], true, false, frame), &info, &payload_at);
    const std::size_t id_at = NLMSG_HDRLEN + sizeof(nfgenmsg) + NLA_HDRLEN;
    auto feed = [&](std::size_t i) {
        Bytes& m = data[i];
        const std::uint32_t seq = htonl(conns[i].seq[1]), id = htonl(packet_id++);
        std::memcpy(&m[payload_at + 24], &seq, 4);
        std::memcpy(&m[id_at], &id, 4);
        d->packet(m, now);
        conns[i].seq[1] += static_cast<std::uint32_t>(frame.size());
    };
    // Warm up: every connection once (and the table is at rest after it).
    for (std::size_t i = 0; i < n; ++i) feed(i);
    fig.tracked = d->runtime.sessions_tracked();
    const std::size_t rounds = std::max<std::size_t>(1, timed_packets / n);
    // The process's own CPU time (CLOCK_PROCESS_CPUTIME_ID), not wall time:
    // the daemon's work, unaffected by other programs taking the core.
    const double start = cpu_seconds();
    // The clock moves on every round, so every packet finds its entry a second
    // older and moves it to the young end of its lane (the worst case).
    for (std::size_t r = 0; r < rounds; ++r) {
        ++now;
        for (std::size_t i = 0; i < n; ++i) feed(i);
    }
    const double t = cpu_seconds() - start;
    fig.us_per_packet = t / static_cast<double>(rounds * n) * 1e6;
    data.clear();
    data.shrink_to_fit();
    malloc_trim(0);

    // At rest: the table of N framed sessions, nothing unfinished.
    fig.heap_at_rest = static_cast<double>(mallinfo2().uordblks - heap0) / n;
    fig.rss_at_rest = static_cast<double>(rss_kib() - rss0) * 1024 / n;
    // Each connection now holds an unfinished frame: a header declaring a
    // 1000-byte body, 100 bytes of it (the engine keeps the retained prefix).
    Bytes part{0x01, 0x01, 0x00, 0x00, 0x03, 0xE8};
    part.resize(6 + 100, 0x41);
    part[6] = 0x00, part[7] = 0x60;
    for (std::size_t i = 0; i < n; ++i) {
        auto m = queue_message(conns[i], packet_id++, true, true, ip_packet(conns[i], true, false, part), &info);
        d->packet(m, now);
    }
    malloc_trim(0);
    fig.heap_unfinished = static_cast<double>(mallinfo2().uordblks - heap0) / n;
    fig.rss_unfinished = static_cast<double>(rss_kib() - rss0) * 1024 / n;
    fig.rss_total_kib = rss_kib();
    if (d->runtime.sessions_tracked() != n || d->drops != 0 || d->runtime.counters().malformed != 0 ||
        d->runtime.counters().sessions != n) {
        std::fprintf(stderr, "bench-daemon: unexpected state: %zu tracked, %zu drops, %llu malformed, %llu sessions\n",
                     d->runtime.sessions_tracked(), d->drops,
                     static_cast<unsigned long long>(d->runtime.counters().malformed),
                     static_cast<unsigned long long>(d->runtime.counters().sessions));
        std::exit(EXIT_FAILURE);
    }
    delete d;
    malloc_trim(0);
    return fig;
}

// TB_BENCH_BASELINE names another build's bench-daemon (e.g. main's, built in
// a worktree of its own): it is run for the same size and its figure printed
// beside this one. 0 when there is none or it printed nothing usable.
double baseline_us(std::size_t n) {
    const char* base = std::getenv("TB_BENCH_BASELINE");
    if (!base || !*base) return 0;
    // Without the variable: a baseline built from this same file would
    // otherwise run its own baseline, itself, without end.
    const std::string cmd = std::string("env -u TB_BENCH_BASELINE '") + base + "' " + std::to_string(n) + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return 0;
    char line[512];
    double us = 0;
    while (std::fgets(line, sizeof line, p)) {
        std::size_t tracked = 0;
        double v = 0;
        if (std::sscanf(line, "%zu %lf", &tracked, &v) == 2 && tracked == n) us = v;
    }
    pclose(p);
    return us;
}

}  // namespace

int main(int argc, char** argv) {
    daemon::Log::set_level(LogLevel::warning);  // what a busy site runs at; info lines are per session
    // TB_BENCH_PACKETS: timed packets per size (default 2 million).
    std::size_t timed = 2'000'000;
    if (const char* e = std::getenv("TB_BENCH_PACKETS")) timed = std::strtoul(e, nullptr, 10);
    std::vector<std::size_t> sizes{1000, 10000, 100000};
    if (argc > 1) {
        sizes.clear();
        for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoul(argv[i], nullptr, 10));
    }
    std::printf("daemon: per queued packet (decode message, per-packet path, build verdict; no kernel), framed TCP\n"
                "contact connections, 22-byte frames round robin over all of them; memory per tracked connection\n");
    std::printf("%9s %9s %8s | %11s %11s | %11s %11s | %9s | %9s %8s\n", "tracked", "us/packet", "vs 1k",
                "heap rest", "RSS rest", "heap unfin.", "RSS unfin.", "RSS MiB", "baseline", "base/new");
    double first = 0;
    for (std::size_t n : sizes) {
        const Figures f = run(n, timed);
        if (first == 0) first = f.us_per_packet;
        const double base = baseline_us(n);
        std::printf("%9zu %9.3f %8.2f | %9.0f B %9.0f B | %9.0f B %9.0f B | %9.1f | ", f.tracked, f.us_per_packet,
                    f.us_per_packet / first, f.heap_at_rest, f.rss_at_rest, f.heap_unfinished, f.rss_unfinished,
                    f.rss_total_kib / 1024.0);
        if (base > 0) std::printf("%9.3f %8.2f\n", base, base / f.us_per_packet);
        else std::printf("%9s %8s\n", "-", "-");
        std::fflush(stdout);
    }
    std::printf("us/packet: the process's CPU time per packet; vs 1k: over the first size's (1.00 = flat);\n"
                "heap: mallinfo2 in-use bytes; RSS:\n"
                "VmRSS growth over the process before the daemon's runtime was made; RSS MiB: the whole process\n"
                "with every connection holding an unfinished frame; baseline: us/packet of TB_BENCH_BASELINE's\n"
                "bench-daemon (another build) for the same size, base/new its ratio to this one (> 1: faster now)\n");
    return 0;
}
