// The daemon's table of contact connections (docs/daemon.md#session-table),
// keyed by the original tuple and zone, with the conntrack id kept in the
// entry: the first packets of a flow sent before the first one is confirmed
// each get their own unconfirmed conntrack (same tuple, other id) which the
// kernel merges on confirmation, so they belong to one entry; a different id
// once the flow was confirmed means the old connection died and a new one
// reuses the tuple (helper/runtime.cpp decides).
//
// Three lanes, each in least-recently-used order with one idle limit, so that
// expiry walks each from its old end and stops at the first entry still young:
//   junk: entries without an engine session (only a payload-less SYN or
//         SYN-ACK seen) and sessions in a terminal phase (not Timbuktu,
//         hostile, outside the model, finished, lost): short idle limit,
//         evicted first when the table is full;
//   udp:  live legacy-contact sessions: short idle limit;
//   tcp:  live TCP contact sessions: long idle limit.
// When full, a junk entry goes first; only without junk is the least recently
// used live session evicted. Nothing is lost for good: a session's state
// lives in the conntrack's helper private data and is restored on its next
// packet.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

#include "helper/conntrack.hpp"
#include "timbuktu/session.hpp"
#include "helper/reply_path.hpp"

namespace tb::helper {

struct SessionKey {
    std::uint16_t zone = 0;
    std::uint8_t l4 = 0;
    Tuple orig;
    friend bool operator==(const SessionKey&, const SessionKey&) = default;
    static SessionKey of(const ConntrackFacts& f) { return SessionKey{f.zone, f.l4, f.orig}; }
};

struct SessionKeyHash {
    std::size_t operator()(const SessionKey& k) const noexcept;
};

enum class Lane : std::uint8_t { junk, udp, tcp };

struct SessionEntry {
    SessionKey key;
    Tuple reply;  // the conntrack's reply tuple (a firewall pair's copy names it: helper/state_sync.hpp)
    // The engine's session; absent while only the TCP handshake was seen (a
    // payload-less SYN creates no session, docs/daemon.md#session-table).
    std::optional<timbuktu::Session> session;
    timbuktu::PersistedState written{};  // what the conntrack holds (as far as we know)
    helper::OriginalPath path;          // where the original direction leaves (reply check)
    // Sequence numbers of the payload-less SYN (original) and SYN-ACK (reply)
    // seen before the session exists: handed to the new session so that each
    // direction's stream starts where TCP says, even when the first payload
    // segment arrives out of order.
    std::array<std::optional<std::uint32_t>, 2> syn_seq{};
    std::time_t last_seen = 0;
    std::time_t created = 0;
    std::uint32_t ct_id = 0;       // conntrack id (CTA_ID) of the connection
    Lane lane = Lane::junk;
    bool seen_confirmed = false;   // a packet of it came with a confirmed conntrack
    // The engine asked to stop watching while the conntrack was unconfirmed;
    // the detach goes with the connection's next packet (see helper/runtime.cpp).
    bool detach_pending = false;
    // A firewall pair (docs/ha.md#session-state): the other node's daemon
    // holds a copy of this session (sent, or restored from), so its end is
    // sent too.
    bool peer_has_copy = false;
};

// Gives a handshake-only entry its engine session: the SYN / SYN-ACK
// sequence numbers kept in the entry are handed to the session first (each
// fixes where that direction's stream starts), then forgotten.
void adopt_session(SessionEntry& entry, timbuktu::Session session);

struct IdleLimits {
    std::time_t junk = 120;
    std::time_t udp = 300;
    std::time_t tcp = 6 * 3600;
};

class SessionTable {
public:
    explicit SessionTable(std::size_t capacity) : capacity_(capacity) {}

    // The entry for `key`, moved to the young end of its lane; nullptr when absent.
    SessionEntry* find(const SessionKey& key, std::time_t now);
    // The entry for `key` without touching its place in the lane; nullptr when absent.
    const SessionEntry* peek(const SessionKey& key) const;
    // Inserts into entry.lane (evicting when full: junk first, then the least
    // recently used live session); returns the entry. `on_evict` is told
    // about an eviction, for the log and the counters.
    SessionEntry& insert(SessionEntry entry, const std::function<void(const SessionEntry&)>& on_evict);
    // Moves an entry to another lane (young end). The entry stays where it is in memory.
    void set_lane(SessionEntry& entry, Lane lane);
    void erase(const SessionKey& key);
    // Drops entries idle for longer than their lane's limit; returns how many.
    // Walks every lane from its old end to its first young entry.
    std::size_t expire(std::time_t now, const IdleLimits& limits);

    template <typename F>
    void for_each(F&& f) {
        for (auto& lane : lanes_)
            for (auto& e : lane) f(e);
    }
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& lane : lanes_)
            for (const auto& e : lane) f(e);
    }
    std::size_t size() const { return index_.size(); }
    std::size_t size(Lane lane) const { return lanes_[static_cast<std::size_t>(lane)].size(); }
    std::size_t capacity() const { return capacity_; }

private:
    using List = std::list<SessionEntry>;
    List& list(Lane lane) { return lanes_[static_cast<std::size_t>(lane)]; }
    // The lane to evict from: junk when it has entries, else the live lane
    // whose least recently used entry is older.
    List* victim_lane();

    std::size_t capacity_;
    std::array<List, 3> lanes_;  // each: most recently used first
    std::unordered_map<SessionKey, List::iterator, SessionKeyHash> index_;
};

}  // namespace tb::helper
