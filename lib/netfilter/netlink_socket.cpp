#include "netlink_socket.hpp"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <algorithm>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include <fmt/format.h>

namespace tb::netfilter {

bool message_fits(const nlmsghdr* nlh, int len) {
    return mnl_nlmsg_ok(nlh, len) && nlh->nlmsg_len <= static_cast<std::uint32_t>(len);
}


KernelError::KernelError(const std::string& what, int err)
    : std::runtime_error(fmt::format("{}: {}", what, std::strerror(err))), err_(err) {}

NetlinkSocket::NetlinkSocket(int bus) {
    sock_ = mnl_socket_open2(bus, SOCK_CLOEXEC);
    if (!sock_) throw KernelError("cannot open a netlink socket", errno);
    if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(sock_);
        sock_ = nullptr;
        throw KernelError("cannot bind a netlink socket", e);
    }
    // A default bound on every synchronous wait; callers may shorten it.
    set_receive_timeout_ms(2000);
    // Sequence numbers start from the clock so that the answers of an earlier
    // daemon instance (same port id reused) cannot be mistaken for ours.
    seq_ = static_cast<std::uint32_t>(std::time(nullptr));
}

NetlinkSocket::~NetlinkSocket() {
    if (sock_) mnl_socket_close(sock_);
}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)), seq_(o.seq_) {}
NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& o) noexcept {
    if (this != &o) {
        if (sock_) mnl_socket_close(sock_);
        sock_ = std::exchange(o.sock_, nullptr);
        seq_ = o.seq_;
    }
    return *this;
}

int NetlinkSocket::fd() const { return mnl_socket_get_fd(sock_); }
std::uint32_t NetlinkSocket::portid() const { return mnl_socket_get_portid(sock_); }

int NetlinkSocket::send(const nlmsghdr* nlh) {
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return errno;
    return 0;
}

int NetlinkSocket::send_bytes(const void* data, std::size_t len) {
    if (mnl_socket_sendto(sock_, data, len) < 0) return errno;
    return 0;
}

int NetlinkSocket::recv_many(std::span<std::vector<char>> bufs, std::span<std::size_t> lens) {
    constexpr std::size_t kMax = 64;
    const std::size_t n = std::min({bufs.size(), lens.size(), kMax});
    iovec iov[kMax];
    mmsghdr msgs[kMax] = {};
    for (std::size_t i = 0; i < n; ++i) {
        iov[i] = {bufs[i].data(), bufs[i].size()};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int got = ::recvmmsg(fd(), msgs, static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
    if (got < 0) return -errno;
    for (int i = 0; i < got; ++i) lens[i] = msgs[i].msg_len;
    return got;
}

long NetlinkSocket::recv(std::vector<char>& buf, bool nonblocking) {
    ssize_t n = ::recv(fd(), buf.data(), buf.size(), nonblocking ? MSG_DONTWAIT : 0);
    if (n < 0) return -errno;
    return n;
}

void NetlinkSocket::set_receive_buffer(int bytes) {
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
        setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

void NetlinkSocket::set_receive_timeout_ms(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int NetlinkSocket::join_group(unsigned group) {
    if (mnl_socket_setsockopt(sock_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) return errno;
    return 0;
}

int NetlinkSocket::request(nlmsghdr* nlh, const DataCallback& on_data) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = next_seq();
    if (int e = send(nlh)) return e;
    return wait_answer(nlh->nlmsg_seq, false, on_data);
}

int NetlinkSocket::dump(nlmsghdr* nlh, const DataCallback& on_data) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK;
    nlh->nlmsg_seq = next_seq();
    if (int e = send(nlh)) return e;
    return wait_answer(nlh->nlmsg_seq, true, on_data);
}

int NetlinkSocket::wait_answer(std::uint32_t seq, bool dump, const DataCallback& on_data) {
    std::vector<char> buf(32768);  // libmnl's MNL_SOCKET_DUMP_SIZE (newer versions)
    // Bounded: a dump of a few thousand entries fits in far fewer reads.
    for (int reads = 0; reads < 100000; ++reads) {
        ssize_t n = ::recv(fd(), buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? ETIMEDOUT : errno;
        }
        int len = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); message_fits(nlh, len);
             nlh = mnl_nlmsg_next(nlh, &len)) {
            if (nlh->nlmsg_seq != seq) continue;  // a late answer to an earlier request
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EBADMSG;
                auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
                // For a dump the ACK comes after DONE; for a request it is the answer.
                return -err->error;
            }
            if (nlh->nlmsg_type == NLMSG_DONE) {
                if (!dump) continue;
                // A dump that failed half-way says so in DONE's payload.
                int status = 0;
                if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof status))
                    std::memcpy(&status, mnl_nlmsg_get_payload(nlh), sizeof status);
                return status < 0 ? -status : 0;
            }
            if (nlh->nlmsg_type < NLMSG_MIN_TYPE) continue;
            if (on_data) on_data(nlh);
        }
    }
    return ETIMEDOUT;
}

}  // namespace tb::netfilter
