// The other daemon of a firewall pair (docs/ha.md#session-state): a UDP
// socket bound to the pair's dedicated sync link (SO_BINDTODEVICE, so that
// nothing arriving on any other interface, a guest's segment included, is
// ever read), datagrams accepted only from the configured peer address. What
// it sends and keeps is helper/state_sync.hpp's (pure, unit-tested, fuzzed).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <span>
#include <vector>

#include "config/config.hpp"
#include "helper/runtime.hpp"
#include "helper/state_sync.hpp"
#include "sys/unique_fd.hpp"

namespace tb::daemon {

class StatePeer : public helper::PeerPort {
public:
    struct Counters {
        std::uint64_t sent = 0;         // records sent to the peer
        std::uint64_t send_errors = 0;  // sendto failed (the link is down, the peer not there)
        std::uint64_t received = 0;     // records received and kept
        std::uint64_t rejected = 0;     // datagrams from another source or not in the format
        std::uint64_t resync_requests = 0;  // the peer started and asked for what this node holds
    };
    // What this node holds, for a peer that starts while sessions run.
    using Dump = std::function<std::vector<helper::ReplicatedState>()>;

    // Throws std::runtime_error with the reason (no such interface, port taken).
    // Sends the peer a resync request at once (helper/state_sync.hpp).
    StatePeer(const Config& config, Dump dump);

    int fd() const { return fd_.get(); }
    void on_readable(std::time_t now);
    void housekeeping(std::time_t now) { table_.expire(now); }

    void publish(const helper::ReplicatedState& record) override;
    std::optional<timbuktu::PersistedState> taken_over(const helper::SessionKey& key,
                                                       const helper::Tuple& reply) override;

    const Counters& counters() const { return counters_; }
    std::size_t held() const { return table_.size(); }
    const std::string& interface() const { return interface_; }
    const IpAddress& peer() const { return peer_; }
    std::uint16_t port() const { return port_; }

private:
    sys::UniqueFd fd_;
    std::string interface_;
    IpAddress peer_;
    std::uint16_t port_;
    helper::ReplicaTable table_;
    Counters counters_;
    Dump dump_;
    void send(std::span<const std::uint8_t> bytes, std::uint64_t records);
};

}  // namespace tb::daemon
