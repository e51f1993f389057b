#include "netfilter/queue_reader.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstring>


#include "timbuktu/counters.hpp"

namespace tb::netfilter {
using timbuktu::saturating_inc;

namespace {

// Whole packets: an IP packet is at most 64 KiB. Without NFQA_CFG_F_GSO the
// kernel segments GSO packets before queueing, so nothing is cut short; with
// it a super-packet can be longer than the payload attribute holds (65531
// bytes; BIG TCP), and such a cut copy is sent on to the segment queue
// unexamined (docs/daemon.md#gso).
constexpr std::uint32_t kCopyRange = 0xffff;
// Netlink overhead around the packet (headers, conntrack nest, interfaces).
constexpr std::size_t kMessageOverhead = 8192;
// Packets the kernel holds for us before fail-open lets more pass unexamined.
constexpr std::uint32_t kQueueMaxLen = 4096;
constexpr int kReceiveBuffer = 8 * 1024 * 1024;
// Verdicts gathered before one send: room for several verdicts that carry a
// whole packet; a send goes out whenever less than one such verdict fits.
constexpr std::size_t kTransmitBuffer = 4 * kVerdictBufferSize;

}  // namespace

QueueReader::QueueReader(std::uint16_t num, QueueStats& stats, EventSink events, bool gso)
    : num_(num),
      gso_(gso),
      nl_(NETLINK_NETFILTER),
      rx_(kReceiveBatch, std::vector<char>(kCopyRange + kMessageOverhead)),
      rx_lens_(kReceiveBatch),
      tx_(kTransmitBuffer),
      stats_(stats),
      events_(std::move(events)) {
    nl_.set_receive_buffer(kReceiveBuffer);
    // No NETLINK_NO_ENOBUFS: with fail-open the kernel lets a packet it cannot
    // deliver to this socket pass unexamined and counts it nowhere (neither
    // queue counter of /proc/net/netfilter/nfnetlink_queue moves). ENOBUFS on
    // the next receive is the only sign of it, so it must reach us: process()
    // counts it (overruns) and reports it (the daemon's warning), then goes on
    // reading (docs/metrics.md#what-the-kernels-queue-counters-cannot-show).
    configure();
}

QueueReader::~QueueReader() {
    // Closing the socket unbinds too; saying so explicitly makes the kernel
    // drop the instance now, not when the socket's last reference goes.
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
    nl_.send(nlh);
}

void QueueReader::report(const QueueEvent& e) {
    // A sink that throws must not leave a packet without its verdict.
    if (!events_) return;
    try {
        events_(num_, e);
    } catch (...) {
    }
}

void QueueReader::configure() {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    auto fail = [&](const char* step, int err) -> QueueBindError {
        using Kind = QueueBindError::Kind;
        if (err == EPERM || err == EBUSY) return QueueBindError(Kind::taken, num_, step, err);
        if (err == EINVAL && std::strcmp(step, "bind") == 0) return QueueBindError(Kind::no_nfqueue, num_, step, err);
        return QueueBindError(Kind::kernel_error, num_, step, err);
    };

    nlmsghdr* nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
    if (int e = nl_.request(nlh)) throw fail("bind", e);

    nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, kCopyRange);
    if (int e = nl_.request(nlh)) throw fail("copy mode", e);

    // CONNTRACK: each packet arrives with its conntrack (tuples, id, helper data)
    // and a verdict may carry conntrack changes. FAIL_OPEN: when our queue is
    // full the kernel accepts instead of dropping. GSO: super-packets whole
    // (see kCopyRange); the mask names it either way, so a queue bound
    // without it never keeps it from an earlier owner.
    nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    const std::uint32_t flags = NFQA_CFG_F_CONNTRACK | NFQA_CFG_F_FAIL_OPEN | (gso_ ? NFQA_CFG_F_GSO : 0u);
    const std::uint32_t mask = NFQA_CFG_F_CONNTRACK | NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
    if (int e = nl_.request(nlh)) {
        if (e == EOPNOTSUPP) throw QueueBindError(QueueBindError::Kind::no_glue_ct, num_, "flags", e);
        throw fail("flags", e);
    }

    nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_qmaxlen(nlh, kQueueMaxLen);
    if (int e = nl_.request(nlh)) throw fail("queue length", e);
}

std::size_t QueueReader::process(const Handler& handler, std::size_t max_packets) {
    std::size_t handled = 0;
    while (handled < max_packets) {
        const int got = nl_.recv_many(rx_, rx_lens_);
        if (got < 0) {
            if (got == -EAGAIN || got == -EWOULDBLOCK || got == -EINTR) break;
            if (got == -ENOBUFS) {
                saturating_inc(stats_.overruns);
                report(queue_event::Overrun{});
                continue;
            }
            report(queue_event::ReceiveFailed{-got});
            break;
        }
        for (int k = 0; k < got; ++k) {
            int len = static_cast<int>(rx_lens_[k]);
            for (auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_[k].data()); message_fits(nlh, len);
                 nlh = mnl_nlmsg_next(nlh, &len)) {
                handle_message(nlh, handler);
                ++handled;
            }
        }
        // Answered before the next receive: the kernel holds at most
        // kQueueMaxLen packets, and a packet waits no longer than one batch.
        close_batch();
        flush();
        if (got < static_cast<int>(rx_.size())) break;  // nothing more was waiting
    }
    close_batch();
    flush();
    return handled;
}

QueueMessage decode_queue_message(const nlmsghdr* nlh, QueuedPacket& pkt, int& error) {
    error = 0;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        // Verdicts go without NLM_F_ACK; the kernel reports only failures.
        if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
            auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
            if (err->error != 0) {
                // A negative errno; anything else (INT_MIN cannot even be
                // negated) is not one the kernel sends: a protocol error.
                error = err->error < 0 && err->error > -4096 ? -err->error : EPROTO;
                return QueueMessage::error;
            }
        }
        return QueueMessage::other;
    }
    if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) return QueueMessage::other;

    nlattr* attr[NFQA_MAX + 1] = {};
    if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR] ||
        mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(nfqnl_msg_packet_hdr))
        return QueueMessage::unparsable;  // without a packet id there is nothing to answer
    auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
    pkt = QueuedPacket{};
    pkt.id = ntohl(ph->packet_id);

    if (attr[NFQA_PAYLOAD]) {
        pkt.data = std::span(static_cast<std::uint8_t*>(mnl_attr_get_payload(attr[NFQA_PAYLOAD])),
                             mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]));
    }
    if (attr[NFQA_CAP_LEN] && mnl_attr_get_payload_len(attr[NFQA_CAP_LEN]) >= 4) {
        pkt.cap_len = ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]));
        pkt.truncated = pkt.cap_len > pkt.data.size();
    }
    if (attr[NFQA_CT])
        pkt.ct = std::span(static_cast<const std::uint8_t*>(mnl_attr_get_payload(attr[NFQA_CT])),
                           mnl_attr_get_payload_len(attr[NFQA_CT]));
    if (attr[NFQA_CT_INFO] && mnl_attr_get_payload_len(attr[NFQA_CT_INFO]) >= 4)
        pkt.ctinfo = ntohl(mnl_attr_get_u32(attr[NFQA_CT_INFO]));
    // Interface indexes (network byte order); an absent one stays 0, which
    // helper::check_reply reads as "none" (docs/daemon.md#reply-interface).
    auto ifindex = [&](int type) -> std::uint32_t {
        if (!attr[type] || mnl_attr_get_payload_len(attr[type]) < 4) return 0;
        return ntohl(mnl_attr_get_u32(attr[type]));
    };
    pkt.ifaces.indev = ifindex(NFQA_IFINDEX_INDEV);
    pkt.ifaces.outdev = ifindex(NFQA_IFINDEX_OUTDEV);
    pkt.ifaces.physindev = ifindex(NFQA_IFINDEX_PHYSINDEV);
    pkt.ifaces.physoutdev = ifindex(NFQA_IFINDEX_PHYSOUTDEV);
    if (attr[NFQA_SKB_INFO] && mnl_attr_get_payload_len(attr[NFQA_SKB_INFO]) >= 4) {
        const std::uint32_t info = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
        pkt.gso = info & NFQA_SKB_GSO;
        pkt.csum_not_ready = info & NFQA_SKB_CSUMNOTREADY;
    }
    return QueueMessage::packet;
}

std::uint32_t requeue_verdict(std::uint16_t queue) {
    // Unexamined and unchanged to that queue, at the same hook; the bypass
    // flag lets it pass (fail-open) should the queue have no reader.
    return NF_QUEUE_NR(queue) | NF_VERDICT_FLAG_QUEUE_BYPASS;
}

nlmsghdr* build_verdict_message(std::span<char> buf, std::uint16_t queue, std::uint32_t id, const Verdict& v,
                                std::span<const std::uint8_t> packet) {
    nlmsghdr* nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_VERDICT, queue);
    if (v.requeue_to) {
        nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), static_cast<int>(requeue_verdict(*v.requeue_to)));
        return nlh;
    }
    // A drop carries nothing else: the packet is gone and its sender retransmits it.
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), v.drop ? NF_DROP : NF_ACCEPT);
    if (!v.drop && v.send_packet && !packet.empty() && packet.size() <= kCopyRange)
        nfq_nlmsg_verdict_put_pkt(nlh, packet.data(), static_cast<std::uint32_t>(packet.size()));
    if (!v.drop && !v.ct_nest.empty() && nlh->nlmsg_len + v.ct_nest.size() <= buf.size()) {
        std::memcpy(static_cast<char*>(mnl_nlmsg_get_payload_tail(nlh)), v.ct_nest.data(), v.ct_nest.size());
        nlh->nlmsg_len += static_cast<std::uint32_t>(v.ct_nest.size());
    }
    return nlh;
}

void QueueReader::handle_message(const nlmsghdr* nlh, const Handler& handler) {
    QueuedPacket pkt;
    int error = 0;
    switch (decode_queue_message(nlh, pkt, error)) {
        case QueueMessage::other: return;
        case QueueMessage::error:
            saturating_inc(stats_.verdict_errors);
            report(queue_event::VerdictRejected{error});
            return;
        case QueueMessage::unparsable: saturating_inc(stats_.unparsable); return;
        case QueueMessage::packet: break;
    }
    saturating_inc(stats_.packets);
    if (pkt.gso) saturating_inc(stats_.gso_packets);

    Verdict v;
    try {
        v = handler(pkt);
    } catch (const std::exception& e) {
        saturating_inc(stats_.handler_failures);
        report(queue_event::HandlerFailed{pkt.id, e.what()});
        v = Verdict{};
    } catch (...) {
        saturating_inc(stats_.handler_failures);
        report(queue_event::HandlerFailed{pkt.id, {}});
        v = Verdict{};
    }
    if (pkt.truncated) v.send_packet = false;  // never send back a shortened packet
    if (v.requeue_to) saturating_inc(stats_.segment_requeues);
    add_verdict(pkt.id, v, pkt.data);
}

void QueueReader::add_verdict(std::uint32_t id, const Verdict& v, std::span<const std::uint8_t> packet) {
    const bool plain = !v.drop && !v.send_packet && v.ct_nest.empty() && !v.requeue_to;
    // A batch covers every queued id up to its last one (the kernel walks its
    // list, ordered by id, with a wrap-safe comparison): ids must grow.
    if (!batch_ids_.empty() && static_cast<std::int32_t>(id - batch_ids_.back()) <= 0) close_batch();
    if (plain) {
        batch_ids_.push_back(id);
        return;
    }
    close_batch();  // the packets before this one are released first
    if (tx_.size() - tx_used_ < kVerdictBufferSize) flush();
    nlmsghdr* nlh = build_verdict_message(std::span(tx_).subspan(tx_used_, kVerdictBufferSize), num_, id, v, packet);
    tx_used_ += NLMSG_ALIGN(nlh->nlmsg_len);
    tx_ids_.push_back({id, v.requeue_to ? requeue_verdict(*v.requeue_to) : NF_ACCEPT});
}

void QueueReader::close_batch() {
    if (batch_ids_.empty()) return;
    if (tx_.size() - tx_used_ < kVerdictBufferSize) flush();
    nlmsghdr* nlh = nfq_nlmsg_put(tx_.data() + tx_used_, NFQNL_MSG_VERDICT_BATCH, num_);
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(batch_ids_.back()), NF_ACCEPT);
    tx_used_ += NLMSG_ALIGN(nlh->nlmsg_len);
    for (std::uint32_t id : batch_ids_) tx_ids_.push_back({id, NF_ACCEPT});
    batch_ids_.clear();
}

void QueueReader::flush() {
    if (tx_used_ == 0) return;
    const int e = nl_.send_bytes(tx_.data(), tx_used_);
    tx_used_ = 0;
    if (e == 0) {
        for (std::size_t i = 0; i < tx_ids_.size(); ++i) saturating_inc(stats_.verdicts);
        tx_ids_.clear();
        return;
    }
    // The packets stay queued until the socket closes; each is sent again
    // alone as a plain ACCEPT, so that it at least passes unchanged, or, one
    // that was sent on to the segment queue, sent on again.
    saturating_inc(stats_.verdict_errors);
    report(queue_event::VerdictNotSent{tx_ids_.empty() ? 0 : tx_ids_.front().id, e});
    std::vector<char> one(MNL_SOCKET_BUFFER_SIZE);
    for (const Answered& a : tx_ids_) {
        nlmsghdr* nlh = nfq_nlmsg_put(one.data(), NFQNL_MSG_VERDICT, num_);
        nfq_nlmsg_verdict_put(nlh, static_cast<int>(a.id), static_cast<int>(a.fallback));
        if (nl_.send(nlh) == 0) saturating_inc(stats_.verdicts);
    }
    tx_ids_.clear();
}

}  // namespace tb::netfilter
