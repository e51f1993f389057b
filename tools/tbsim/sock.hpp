// tbsim: small RAII socket layer. Every wait is bounded by a Deadline and done
// with poll(2); nothing here spins.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/address.hpp"
#include "sys/unique_fd.hpp"

namespace tbsim {

using Clock = std::chrono::steady_clock;

// A point in time after which a wait gives up.
class Deadline {
public:
    static Deadline after(double seconds);
    static Deadline never();
    bool expired() const;
    // Milliseconds left, clamped to [0, INT_MAX]; -1 for never.
    int poll_ms() const;
    double seconds_left() const;
    Clock::time_point when() const { return when_; }
    // The earlier of two deadlines.
    static Deadline earliest(const Deadline& a, const Deadline& b);

private:
    Clock::time_point when_{};
    bool never_ = false;
};

// The one owning-fd class of all programs (sys/unique_fd.hpp).
using Fd = tb::sys::UniqueFd;

// A socket address (IPv4 or IPv6). IPv4-mapped IPv6 addresses are shown and
// compared as IPv4 (a dual-stack socket bound to :: reports them).
struct SockAddr {
    sockaddr_storage ss{};
    socklen_t len = 0;

    static std::optional<SockAddr> from_ip(const tb::IpAddress& ip, std::uint16_t port);
    // Numeric address or host name; the first result.
    static std::optional<SockAddr> resolve(const std::string& host, std::uint16_t port, std::string* error);

    int family() const { return ss.ss_family; }
    bool is_v6() const { return family() == AF_INET6; }
    // True for real IPv6 (not IPv4-mapped).
    bool is_real_v6() const;
    std::uint16_t port() const;
    void set_port(std::uint16_t p);
    // IPv4-mapped addresses come back as IPv4.
    tb::IpAddress ip() const;
    // "1.2.3.4:407" or "[::1]:407"
    std::string to_string() const;
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss); }
};

std::string errno_text(int err);

std::optional<SockAddr> local_address(int fd);
std::optional<SockAddr> peer_address(int fd);

// A listening TCP socket (SO_REUSEADDR, dual-stack when bound to ::).
Fd tcp_listen(const tb::IpAddress& addr, std::uint16_t port, std::string* error);
// A bound UDP socket with packet-info reception enabled, so that replies can
// leave from the address the datagram came to.
Fd udp_bind(const tb::IpAddress& addr, std::uint16_t port, std::string* error);

// Non-blocking connect bounded by `deadline`. On failure returns an invalid Fd
// and a reason ("connect timed out", "connection refused", ...).
Fd tcp_connect(const SockAddr& to, const Deadline& deadline, std::string* error);
// A connected UDP socket.
Fd udp_connect(const SockAddr& to, std::string* error);

// Waits until fd is readable (or has an error/hangup). false on timeout.
// Also returns early (false, *stopped = true) when `stop_fd` becomes readable.
bool wait_readable(int fd, const Deadline& deadline, int stop_fd = -1, bool* stopped = nullptr);

enum class IoStatus { ok, timeout, closed, error, stopped };
struct IoResult {
    IoStatus status = IoStatus::ok;
    std::size_t bytes = 0;
    int err = 0;
};
std::string io_text(const IoResult& r);

// Reads what is available (at most buf.size()), waiting until the deadline.
IoResult read_some(int fd, std::span<std::uint8_t> buf, const Deadline& deadline, int stop_fd = -1);
// Reads exactly buf.size() bytes.
IoResult read_exact(int fd, std::span<std::uint8_t> buf, const Deadline& deadline, int stop_fd = -1);
// Writes everything, waiting for buffer space until the deadline.
IoResult write_all(int fd, std::span<const std::uint8_t> data, const Deadline& deadline);

// A datagram with the local address it arrived at (from packet info).
struct Datagram {
    std::vector<std::uint8_t> data;
    SockAddr from;
    std::optional<tb::IpAddress> to;  // local address the datagram was sent to
    bool truncated = false;
};
std::optional<Datagram> udp_receive(int fd, int* err);
// Sends from `local` when given (packet info), else the socket's own address.
bool udp_send(int fd, std::span<const std::uint8_t> data, const SockAddr& to,
              const std::optional<tb::IpAddress>& local, int* err);

// An eventfd that stays readable once signalled (used to stop threads).
class Event {
public:
    Event();
    void signal();
    // For counter use: clears pending signals.
    void drain();
    int fd() const { return fd_.get(); }

private:
    Fd fd_;
};

std::vector<std::uint8_t> random_bytes(std::size_t n);

}  // namespace tbsim
