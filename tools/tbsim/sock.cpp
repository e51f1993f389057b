#include "sock.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <random>

#include <fmt/format.h>

namespace tbsim {

// ---- Deadline -------------------------------------------------------------

Deadline Deadline::after(double seconds) {
    Deadline d;
    if (seconds < 0) seconds = 0;
    if (seconds > 1e9) return never();  // beyond any test; avoids clock overflow
    d.when_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    return d;
}

Deadline Deadline::never() {
    Deadline d;
    d.never_ = true;
    return d;
}

bool Deadline::expired() const { return !never_ && Clock::now() >= when_; }

int Deadline::poll_ms() const {
    if (never_) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(when_ - Clock::now()).count();
    if (left <= 0) return 0;
    // Round up so that a wait never ends just before the deadline.
    left += 1;
    return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

double Deadline::seconds_left() const {
    if (never_) return 1e9;
    return std::chrono::duration<double>(when_ - Clock::now()).count();
}

Deadline Deadline::earliest(const Deadline& a, const Deadline& b) {
    if (a.never_) return b;
    if (b.never_) return a;
    return a.when_ <= b.when_ ? a : b;
}

std::string errno_text(int err) {
    switch (err) {  // the common ones, in the words the tests grep for
        case ECONNREFUSED: return "connection refused";
        case ETIMEDOUT: return "connect timed out";
        case ECONNRESET: return "connection reset by peer";
        case EHOSTUNREACH: return "host unreachable";
        case ENETUNREACH: return "network unreachable";
        case EADDRINUSE: return "address already in use";
        case EACCES: return "permission denied";
        default: return std::strerror(err);
    }
}

// ---- SockAddr -------------------------------------------------------------

namespace {
bool is_mapped(const sockaddr_in6& s) { return IN6_IS_ADDR_V4MAPPED(&s.sin6_addr); }
}  // namespace

std::optional<SockAddr> SockAddr::from_ip(const tb::IpAddress& ip, std::uint16_t p) {
    SockAddr a;
    if (ip.is_v4()) {
        auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
        s->sin_family = AF_INET;
        std::memcpy(&s->sin_addr, ip.bytes.data(), 4);
        s->sin_port = htons(p);
        a.len = sizeof(sockaddr_in);
        return a;
    }
    if (ip.is_v6()) {
        auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
        s->sin6_family = AF_INET6;
        std::memcpy(&s->sin6_addr, ip.bytes.data(), 16);
        s->sin6_port = htons(p);
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    return std::nullopt;
}

std::optional<SockAddr> SockAddr::resolve(const std::string& host, std::uint16_t p, std::string* error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
        if (error) *error = fmt::format("cannot resolve {}: {}", host, gai_strerror(rc));
        return std::nullopt;
    }
    SockAddr a;
    std::memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
    a.len = res->ai_addrlen;
    freeaddrinfo(res);
    a.set_port(p);
    return a;
}

bool SockAddr::is_real_v6() const {
    return is_v6() && !is_mapped(*reinterpret_cast<const sockaddr_in6*>(&ss));
}

std::uint16_t SockAddr::port() const {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

void SockAddr::set_port(std::uint16_t p) {
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(p);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(p);
}

tb::IpAddress SockAddr::ip() const {
    if (family() == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
        return tb::IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&s->sin_addr));
    }
    if (family() == AF_INET6) {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
        const auto* b = reinterpret_cast<const std::uint8_t*>(&s->sin6_addr);
        if (is_mapped(*s)) return tb::IpAddress::v4_bytes(b + 12);
        return tb::IpAddress::v6_bytes(b);
    }
    return {};
}

std::string SockAddr::to_string() const {
    return tb::format_endpoint(ip(), port());
}

std::optional<SockAddr> local_address(int fd) {
    SockAddr a;
    a.len = sizeof a.ss;
    if (getsockname(fd, a.sa(), &a.len) != 0) return std::nullopt;
    return a;
}

std::optional<SockAddr> peer_address(int fd) {
    SockAddr a;
    a.len = sizeof a.ss;
    if (getpeername(fd, a.sa(), &a.len) != 0) return std::nullopt;
    return a;
}

// ---- sockets ----------------------------------------------------------------

namespace {

Fd make_socket(int family, int type, std::string* error) {
    Fd fd(::socket(family, type | SOCK_CLOEXEC, 0));
    if (!fd && error) *error = fmt::format("socket: {}", errno_text(errno));
    return fd;
}

bool set_nonblocking(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return false;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags) == 0;
}

Fd bound_socket(const tb::IpAddress& addr, std::uint16_t port, int type, std::string* error) {
    auto sa = SockAddr::from_ip(addr, port);
    if (!sa) {
        if (error) *error = "no address";
        return {};
    }
    Fd fd = make_socket(sa->family(), type, error);
    if (!fd) return {};
    int one = 1, zero = 0;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->family() == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd.get(), sa->sa(), sa->len) != 0) {
        if (error) *error = fmt::format("bind {}/{}: {}", type == SOCK_STREAM ? "tcp" : "udp", sa->to_string(),
                                        errno_text(errno));
        return {};
    }
    return fd;
}

}  // namespace

Fd tcp_listen(const tb::IpAddress& addr, std::uint16_t port, std::string* error) {
    Fd fd = bound_socket(addr, port, SOCK_STREAM, error);
    if (!fd) return {};
    if (::listen(fd.get(), 64) != 0) {
        if (error) *error = fmt::format("listen tcp/{}: {}", port, errno_text(errno));
        return {};
    }
    set_nonblocking(fd.get(), true);  // accept() after poll never blocks
    return fd;
}

Fd udp_bind(const tb::IpAddress& addr, std::uint16_t port, std::string* error) {
    Fd fd = bound_socket(addr, port, SOCK_DGRAM, error);
    if (!fd) return {};
    int one = 1;
    if (addr.is_v6()) {
        setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one);  // mapped IPv4
    } else {
        setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    }
    set_nonblocking(fd.get(), true);
    return fd;
}

Fd tcp_connect(const SockAddr& to, const Deadline& deadline, std::string* error) {
    Fd fd = make_socket(to.family(), SOCK_STREAM, error);
    if (!fd) return {};
    set_nonblocking(fd.get(), true);
    int rc = ::connect(fd.get(), to.sa(), to.len);
    if (rc != 0 && errno != EINPROGRESS) {
        if (error) *error = errno_text(errno);
        return {};
    }
    if (rc != 0) {
        pollfd p{fd.get(), POLLOUT, 0};
        for (;;) {
            int n = ::poll(&p, 1, deadline.poll_ms());
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) {
                if (error) *error = "connect timed out";
                return {};
            }
            break;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            if (error) *error = errno_text(soerr);
            return {};
        }
    }
    return fd;
}

Fd udp_connect(const SockAddr& to, std::string* error) {
    Fd fd = make_socket(to.family(), SOCK_DGRAM, error);
    if (!fd) return {};
    if (::connect(fd.get(), to.sa(), to.len) != 0) {
        if (error) *error = fmt::format("connect udp: {}", errno_text(errno));
        return {};
    }
    set_nonblocking(fd.get(), true);
    return fd;
}

bool wait_readable(int fd, const Deadline& deadline, int stop_fd, bool* stopped) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const nfds_t n = stop_fd >= 0 ? 2 : 1;
    for (;;) {
        int rc = ::poll(p, n, deadline.poll_ms());
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        if (n == 2 && (p[1].revents & POLLIN)) {
            if (stopped) *stopped = true;
            return false;
        }
        return true;
    }
}

std::string io_text(const IoResult& r) {
    switch (r.status) {
        case IoStatus::ok: return "ok";
        case IoStatus::timeout: return "timed out";
        case IoStatus::closed: return "connection closed by peer";
        case IoStatus::stopped: return "stopped";
        case IoStatus::error: return errno_text(r.err);
    }
    return "?";
}

IoResult read_some(int fd, std::span<std::uint8_t> buf, const Deadline& deadline, int stop_fd) {
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0) return {IoStatus::ok, static_cast<std::size_t>(n), 0};
        if (n == 0) return {IoStatus::closed, 0, 0};
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return {IoStatus::error, 0, errno};
        bool stopped = false;
        if (!wait_readable(fd, deadline, stop_fd, &stopped))
            return {stopped ? IoStatus::stopped : IoStatus::timeout, 0, 0};
    }
}

IoResult read_exact(int fd, std::span<std::uint8_t> buf, const Deadline& deadline, int stop_fd) {
    std::size_t got = 0;
    while (got < buf.size()) {
        auto r = read_some(fd, buf.subspan(got), deadline, stop_fd);
        if (r.status != IoStatus::ok) {
            r.bytes = got;
            return r;
        }
        got += r.bytes;
    }
    return {IoStatus::ok, got, 0};
}

IoResult write_all(int fd, std::span<const std::uint8_t> data, const Deadline& deadline) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return {IoStatus::error, done, errno};
        pollfd p{fd, POLLOUT, 0};
        int rc = ::poll(&p, 1, deadline.poll_ms());
        if (rc < 0 && errno == EINTR) continue;
        if (rc == 0) return {IoStatus::timeout, done, 0};
    }
    return {IoStatus::ok, done, 0};
}

// ---- UDP with packet info ---------------------------------------------------

std::optional<Datagram> udp_receive(int fd, int* err) {
    Datagram d;
    d.data.resize(65536);
    alignas(cmsghdr) char control[256];
    iovec iov{d.data.data(), d.data.size()};
    msghdr msg{};
    msg.msg_name = &d.from.ss;
    msg.msg_namelen = sizeof d.from.ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (err) *err = errno;
        return std::nullopt;
    }
    d.from.len = msg.msg_namelen;
    d.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    d.data.resize(static_cast<std::size_t>(n));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            d.to = tb::IpAddress::v4_bytes(reinterpret_cast<const std::uint8_t*>(&pi.ipi_addr));
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            const auto* b = reinterpret_cast<const std::uint8_t*>(&pi.ipi6_addr);
            if (IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr)) d.to = tb::IpAddress::v4_bytes(b + 12);
            else d.to = tb::IpAddress::v6_bytes(b);
        }
    }
    return d;
}

bool udp_send(int fd, std::span<const std::uint8_t> data, const SockAddr& to,
              const std::optional<tb::IpAddress>& local, int* err) {
    alignas(cmsghdr) char control[256] = {};
    iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr*>(to.sa());
    msg.msg_namelen = to.len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (local) {
        auto own = local_address(fd);
        const bool v6_socket = own && own->family() == AF_INET6;
        cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
        if (v6_socket) {
            in6_pktinfo pi{};
            if (local->is_v4()) {
                auto* b = reinterpret_cast<std::uint8_t*>(&pi.ipi6_addr);
                b[10] = b[11] = 0xff;
                std::memcpy(b + 12, local->bytes.data(), 4);
            } else {
                std::memcpy(&pi.ipi6_addr, local->bytes.data(), 16);
            }
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof pi);
            std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
            msg.msg_controllen = CMSG_SPACE(sizeof pi);
        } else if (local->is_v4()) {
            in_pktinfo pi{};
            std::memcpy(&pi.ipi_spec_dst, local->bytes.data(), 4);
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof pi);
            std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
            msg.msg_controllen = CMSG_SPACE(sizeof pi);
        }
        if (msg.msg_controllen) msg.msg_control = control;
    }
    ssize_t n;
    do {
        n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (err) *err = errno;
        return false;
    }
    return true;
}

// ---- Event ------------------------------------------------------------------

Event::Event() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void Event::signal() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof one);
}

void Event::drain() {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(fd_.get(), &v, sizeof v);
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::vector<std::uint8_t> out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    return out;
}

}  // namespace tbsim
