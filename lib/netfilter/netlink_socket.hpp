// RAII around a libmnl netlink socket, the one netlink socket class of
// tbhelperd and tbhelperctl, plus the two request shapes both use: "do this
// and tell me if it worked" (ACK) and "list these" (dump). Both are
// synchronous and bounded by a receive timeout, so a silent kernel can never
// hang a program; event listeners (join_group) read with recv().
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace tb::netfilter {

// Whether `nlh` is a whole message within the `len` bytes left of a receive
// buffer: libmnl's mnl_nlmsg_ok, plus the check it leaves out. It compares
// the length as a signed int, so a header claiming 2 GiB or more passes
// and mnl_nlmsg_next then steps outside the buffer (found by
// tests/fuzz/fuzz_queue_message.cpp). Every loop over received messages uses this.
bool message_fits(const nlmsghdr* nlh, int len);

// A kernel call failed; `error()` is the positive errno.
class KernelError : public std::runtime_error {
public:
    KernelError(const std::string& what, int err);
    int error() const { return err_; }

private:
    int err_;
};

class NetlinkSocket {
public:
    // Opens and binds (automatic port id). Throws KernelError.
    explicit NetlinkSocket(int bus);
    ~NetlinkSocket();
    NetlinkSocket(NetlinkSocket&& o) noexcept;
    NetlinkSocket& operator=(NetlinkSocket&& o) noexcept;
    NetlinkSocket(const NetlinkSocket&) = delete;
    NetlinkSocket& operator=(const NetlinkSocket&) = delete;

    int fd() const;
    std::uint32_t portid() const;
    std::uint32_t next_seq() { return ++seq_; }

    // Sends one message as is. Returns 0 or a positive errno.
    int send(const nlmsghdr* nlh);
    // Sends `len` bytes holding one or more messages (the kernel handles them
    // in order). Returns 0 or a positive errno.
    int send_bytes(const void* data, std::size_t len);
    // One recvmsg into `buf`. Returns bytes, or -errno (EAGAIN when nothing waits).
    long recv(std::vector<char>& buf, bool nonblocking);
    // Up to bufs.size() datagrams in one recvmmsg, never blocking: each into
    // its buffer, its length in lens[i]. Returns how many, or -errno.
    int recv_many(std::span<std::vector<char>> bufs, std::span<std::size_t> lens);

    // Sets NLM_F_ACK and a fresh sequence number, sends, waits for the answer.
    // Returns 0 on success or the kernel's positive errno (ETIMEDOUT when no
    // answer came within the receive timeout). Data messages that arrive with
    // the answer (none for NEW/DEL) are given to `on_data` if set.
    using DataCallback = std::function<void(const nlmsghdr*)>;
    int request(nlmsghdr* nlh, const DataCallback& on_data = {});
    // Sets NLM_F_DUMP|NLM_F_ACK; calls on_data for every message until DONE.
    int dump(nlmsghdr* nlh, const DataCallback& on_data);

    void set_receive_buffer(int bytes);  // SO_RCVBUFFORCE, falling back to SO_RCVBUF
    void set_receive_timeout_ms(int ms);
    // Subscribes to a multicast group (NFNLGRP_*). Returns 0 or a positive errno.
    int join_group(unsigned group);

private:
    int wait_answer(std::uint32_t seq, bool dump, const DataCallback& on_data);
    mnl_socket* sock_ = nullptr;
    std::uint32_t seq_ = 0;
};

}  // namespace tb::netfilter
