// One NFQUEUE, bound through libnetfilter_queue's netlink API over libmnl.
// Every packet read is handed to a handler that returns its verdict; the
// reader sends exactly one verdict per packet, ACCEPT, even when the handler
// throws: nothing is ever left queued.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "helper/reply_path.hpp"
#include "netfilter/netlink_socket.hpp"
#include "netfilter/queue_stats.hpp"

namespace tb::daemon {

// A bind that failed for a reason the operator must fix; what() is the one line.
class QueueBindError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct QueuedPacket {
    std::uint32_t id = 0;
    std::span<std::uint8_t> data;            // the IP packet (mutable: rewrites happen in place)
    bool truncated = false;                  // NFQA_CAP_LEN says the copy is shorter than the packet
    std::optional<std::span<const std::uint8_t>> ct;  // NFQA_CT payload
    std::optional<std::uint32_t> ctinfo;     // NFQA_CT_INFO
    helper::PacketInterfaces ifaces;          // NFQA_IFINDEX_*: where it came in and goes out
};

struct Verdict {
    bool send_packet = false;                // the (modified) packet goes back with the verdict
    bool drop = false;                       // NF_DROP: the engine asked for a retransmission
    std::vector<std::uint8_t> ct_nest;       // a complete NFQA_CT attribute, or empty
};

using netfilter::QueueStats;

class QueueReader {
public:
    // Binds queue `num` with conntrack info and fail-open. Throws QueueBindError.
    // `stats` outlives the reader (it survives a queue change on reload).
    QueueReader(std::uint16_t num, QueueStats& stats);
    ~QueueReader();
    QueueReader(const QueueReader&) = delete;
    QueueReader& operator=(const QueueReader&) = delete;

    int fd() const { return nl_.fd(); }
    std::uint16_t number() const { return num_; }
    std::uint32_t portid() const { return nl_.portid(); }

    using Handler = std::function<Verdict(QueuedPacket&)>;
    // Reads what is waiting (at most `max_packets`, never blocking) and answers
    // every packet. Returns the number of packets handled.
    std::size_t process(const Handler& handler, std::size_t max_packets);

    const QueueStats& stats() const { return stats_; }

private:
    void configure();
    void handle_message(const struct nlmsghdr* nlh, const Handler& handler);
    void send_verdict(std::uint32_t id, const Verdict& v, std::span<const std::uint8_t> packet);

    std::uint16_t num_;
    netfilter::NetlinkSocket nl_;
    std::vector<char> rx_;
    std::vector<char> tx_;
    QueueStats& stats_;
    std::uint32_t last_error_logged_ = 0;
};

}  // namespace tb::daemon
