// One NFQUEUE, bound through libnetfilter_queue's netlink API over libmnl.
// Every packet read is handed to a handler that returns its verdict; the
// reader sends exactly one verdict per packet, ACCEPT, even when the handler
// throws: nothing is ever left queued. What goes wrong on the way is counted
// (QueueStats) and reported as a typed QueueEvent; the program says it in
// its own words (tbhelperd: nfhelper/kernel_text.hpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "helper/reply_path.hpp"
#include "netfilter/netlink_socket.hpp"
#include "netfilter/queue_stats.hpp"

namespace tb::netfilter {

// A bind that failed for a reason the operator must fix. what() is a plain
// "cannot configure queue N (STEP): strerror"; the kind says what it means.
class QueueBindError : public std::runtime_error {
public:
    enum class Kind {
        taken,         // EPERM/EBUSY: another process has bound the queue
        no_nfqueue,    // EINVAL on bind: no nfnetlink_queue
        no_glue_ct,    // EOPNOTSUPP for NFQA_CFG_F_CONNTRACK: no CONFIG_NETFILTER_NETLINK_GLUE_CT
        kernel_error,  // anything else: `step` and `error`
    };
    // Inline, so that pure code (the daemon's words, its tests) builds one
    // without the netfilter libraries.
    QueueBindError(Kind kind, std::uint16_t queue, const char* step, int err)
        : std::runtime_error("cannot configure queue " + std::to_string(queue) + " (" + step +
                             "): " + std::strerror(err)),
          kind_(kind),
          queue_(queue),
          step_(step),
          err_(err) {}
    Kind kind() const { return kind_; }
    std::uint16_t queue() const { return queue_; }
    const char* step() const { return step_; }  // "bind", "copy mode", "flags", "queue length"
    int error() const { return err_; }

private:
    Kind kind_;
    std::uint16_t queue_;
    const char* step_;
    int err_;
};

// What the reader met on the way, besides packets (each is also counted).
namespace queue_event {
struct Overrun {};  // ENOBUFS: the kernel could not deliver some packets; they passed (fail-open)
struct ReceiveFailed { int err; };
struct VerdictRejected { int err; };  // the kernel answered a verdict with an error
struct VerdictNotSent { std::uint32_t packet_id; int err; };  // sent again as a plain ACCEPT
struct HandlerFailed { std::uint32_t packet_id; std::string what; };  // accepted unchanged; `what` empty: not a std::exception
}  // namespace queue_event
using QueueEvent = std::variant<queue_event::Overrun, queue_event::ReceiveFailed, queue_event::VerdictRejected,
                                queue_event::VerdictNotSent, queue_event::HandlerFailed>;

struct QueuedPacket {
    std::uint32_t id = 0;
    std::span<std::uint8_t> data;            // the IP packet (mutable: rewrites happen in place)
    bool truncated = false;                  // NFQA_CAP_LEN says the copy is shorter than the packet
    std::optional<std::span<const std::uint8_t>> ct;  // NFQA_CT payload
    std::optional<std::uint32_t> ctinfo;     // NFQA_CT_INFO
    helper::PacketInterfaces ifaces;          // NFQA_IFINDEX_*: where it came in and goes out
    std::uint32_t cap_len = 0;               // NFQA_CAP_LEN: the packet's real length, sent when the copy is cut
    // NFQA_SKB_INFO (docs/daemon.md#gso); the two flags are set only on a queue bound with GSO:
    bool gso = false;                        // NFQA_SKB_GSO: a super-packet, several segments' worth
    bool csum_not_ready = false;             // NFQA_SKB_CSUMNOTREADY: its L4 checksum is still to be computed
};

struct Verdict {
    bool send_packet = false;                // the (modified) packet goes back with the verdict
    bool drop = false;                       // NF_DROP: the engine asked for a retransmission
    std::vector<std::uint8_t> ct_nest;       // a complete NFQA_CT attribute, or empty
    // NF_QUEUE_NR(queue) | NF_VERDICT_FLAG_QUEUE_BYPASS: the packet goes on,
    // unexamined and unchanged, to that queue at the same hook (the segment
    // queue, docs/daemon.md#gso); nothing else of the verdict is sent.
    std::optional<std::uint16_t> requeue_to;
};

// What one netlink message read from the queue socket is.
enum class QueueMessage : std::uint8_t {
    packet,        // a queued packet: `pkt` is filled, it needs its verdict
    error,         // the kernel answered an earlier verdict with an error (`error` > 0)
    unparsable,    // a packet message without a packet id: nothing to answer
    other,         // anything else (an ACK, another message type)
};

// Decodes one message of the queue socket without touching a socket (the
// daemon's per-packet path and its benchmark, tests/bench/bench_daemon.cpp,
// share it). `pkt.data` points into the message.
QueueMessage decode_queue_message(const struct nlmsghdr* nlh, QueuedPacket& pkt, int& error);

// Builds the verdict for packet `id` of queue `queue` in `buf` (at least
// kVerdictBufferSize bytes) and returns it, ready to send.
inline constexpr std::size_t kVerdictBufferSize = 0xffff + 8192;
// The verdict that sends a packet on, unexamined, to `queue` (docs/daemon.md#gso).
std::uint32_t requeue_verdict(std::uint16_t queue);
struct nlmsghdr* build_verdict_message(std::span<char> buf, std::uint16_t queue, std::uint32_t id, const Verdict& v,
                                       std::span<const std::uint8_t> packet);

class QueueReader {
public:
    using EventSink = std::function<void(std::uint16_t queue, const QueueEvent&)>;
    // Binds queue `num` with conntrack info and fail-open, and with
    // NFQA_CFG_F_GSO when `gso` (super-packets arrive whole, checksums not
    // computed: docs/daemon.md#gso). Throws QueueBindError.
    // `stats` outlives the reader (it survives a queue change on reload).
    QueueReader(std::uint16_t num, QueueStats& stats, EventSink events, bool gso = false);
    ~QueueReader();
    QueueReader(const QueueReader&) = delete;
    QueueReader& operator=(const QueueReader&) = delete;

    int fd() const { return nl_.fd(); }
    std::uint16_t number() const { return num_; }
    std::uint32_t portid() const { return nl_.portid(); }
    bool gso() const { return gso_; }

    using Handler = std::function<Verdict(QueuedPacket&)>;
    // Reads what is waiting (at most `max_packets`, never blocking) and answers
    // every packet. Returns the number of packets handled.
    //
    // Several packets per receive (recvmmsg, kReceiveBatch datagrams) and
    // several verdicts per send (docs/daemon.md#queue): a run of plain
    // ACCEPTs becomes one NFQNL_MSG_VERDICT_BATCH (every id up to the last
    // one), a packet with its own verdict (rewritten payload, conntrack
    // nest, DROP) gets its own message after the batch of the packets before
    // it, so packets are released in the order they came. Everything is sent
    // before process() returns.
    std::size_t process(const Handler& handler, std::size_t max_packets);
    static constexpr std::size_t kReceiveBatch = 16;

    const QueueStats& stats() const { return stats_; }

private:
    void configure();
    void report(const QueueEvent& e);
    void handle_message(const struct nlmsghdr* nlh, const Handler& handler);
    // Queues the verdict: a plain ACCEPT joins the pending batch, anything
    // else goes out after it in its own message.
    void add_verdict(std::uint32_t id, const Verdict& v, std::span<const std::uint8_t> packet);
    void close_batch();  // the pending batch becomes a VERDICT_BATCH message in tx_
    void flush();        // sends tx_; on failure every packet in it passes as a plain ACCEPT

    std::uint16_t num_;
    bool gso_;
    NetlinkSocket nl_;
    std::vector<std::vector<char>> rx_;
    std::vector<std::size_t> rx_lens_;
    std::vector<char> tx_;
    std::size_t tx_used_ = 0;
    // The packets whose verdicts are in tx_ (ids; a batch lists each id it covers).
    // Every packet the pending send answers, with the verdict it gets alone
    // should that send fail: NF_ACCEPT, or its requeue (a packet the engine
    // must read as segments is never let through unexamined).
    struct Answered {
        std::uint32_t id;
        std::uint32_t fallback;
    };
    std::vector<Answered> tx_ids_;
    std::vector<std::uint32_t> batch_ids_;  // plain ACCEPTs not yet in tx_, oldest first
    QueueStats& stats_;
    EventSink events_;
};

}  // namespace tb::netfilter
