#include "state_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "log.hpp"

namespace tb::daemon {

namespace {

// A peer's copy is kept as long as the session table keeps a live TCP
// session, and there are as many copies as the table has places
// (session_capacity at start; the peer's table follows the same key).
constexpr std::time_t kReplicaMaxAge = helper::IdleLimits{}.tcp;

socklen_t to_sockaddr(const IpAddress& a, std::uint16_t port, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (a.is_v4()) {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        std::memcpy(&s->sin_addr, a.bytes.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

bool same_address(const sockaddr_storage& ss, const IpAddress& a) {
    if (ss.ss_family == AF_INET && a.is_v4())
        return std::memcmp(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, a.bytes.data(), 4) == 0;
    if (ss.ss_family == AF_INET6 && a.is_v6())
        return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, a.bytes.data(), 16) == 0;
    return false;
}

}  // namespace

StatePeer::StatePeer(const Config& config, Dump dump)
    : interface_(config.ha_sync_interface),
      peer_(*config.ha_sync_peer),
      port_(config.ha_sync_port),
      table_(config.session_capacity, kReplicaMaxAge),
      dump_(std::move(dump)) {
    const int family = peer_.is_v4() ? AF_INET : AF_INET6;
    fd_.reset(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_)
        throw std::runtime_error(fmt::format(
            "ha_sync_interface is set but the sync socket cannot be created: {}{}", std::strerror(errno),
            errno == EAFNOSUPPORT ? " (under systemd: install examples/ha/tbhelperd-ha.conf as a drop-in, docs/ha.md)"
                                  : ""));
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_BINDTODEVICE, interface_.c_str(),
                   static_cast<socklen_t>(interface_.size() + 1)) != 0)
        throw std::runtime_error(fmt::format("ha_sync_interface \"{}\": cannot bind the sync socket to it: {}",
                                             interface_, std::strerror(errno)));
    sockaddr_storage any;
    socklen_t len = to_sockaddr(peer_.is_v4() ? IpAddress::v4(0) : IpAddress{IpAddress::Family::v6, {}}, port_, any);
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&any), len) != 0)
        throw std::runtime_error(
            fmt::format("ha_sync_port {}: cannot bind UDP {} on {}: {}", port_, port_, interface_, std::strerror(errno)));
    // The sessions the peer runs now: it answers with all of them.
    send(helper::encode_resync_request(), 0);
}

void StatePeer::send(std::span<const std::uint8_t> bytes, std::uint64_t records) {
    sockaddr_storage to;
    socklen_t len = to_sockaddr(peer_, port_, to);
    if (sendto(fd_.get(), bytes.data(), bytes.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), len) ==
        static_cast<ssize_t>(bytes.size()))
        counters_.sent += records;
    else
        ++counters_.send_errors;
}

void StatePeer::publish(const helper::ReplicatedState& record) {
    // One record a datagram, sent at once: a state changes at a frame
    // boundary of a contact connection, a few times a session.
    send(helper::encode_sync(std::span(&record, 1)), 1);
}

std::optional<timbuktu::PersistedState> StatePeer::taken_over(const helper::SessionKey& key,
                                                              const helper::Tuple& reply) {
    return table_.find(key, reply, std::time(nullptr));
}

void StatePeer::on_readable(std::time_t now) {
    std::uint8_t buf[helper::kSyncMaxDatagram + 1];
    for (int i = 0; i < 64; ++i) {
        sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0) return;  // EAGAIN: drained (other errors: try again on the next poll)
        if (!same_address(from, peer_)) {
            ++counters_.rejected;
            continue;
        }
        const std::span<const std::uint8_t> d(buf, static_cast<std::size_t>(n));
        if (helper::is_resync_request(d)) {
            ++counters_.resync_requests;
            const auto all = dump_ ? dump_() : std::vector<helper::ReplicatedState>{};
            for (std::size_t at = 0; at < all.size(); at += helper::kSyncMaxRecords) {
                const std::size_t k = std::min(helper::kSyncMaxRecords, all.size() - at);
                send(helper::encode_sync(std::span(all.data() + at, k)), k);
            }
            continue;
        }
        auto records = helper::decode_sync(d);
        if (!records) {
            ++counters_.rejected;
            continue;
        }
        for (const auto& r : *records) {
            table_.put(r, now);
            ++counters_.received;
        }
    }
}

}  // namespace tb::daemon
