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
#include <vector>

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

// Keyed with a per-table random seed: the guest chooses its address and
// port, so an unkeyed hash would let it aim many connections at one slot.
struct SessionKeyHash {
    std::uint64_t seed = 0;
    std::uint64_t operator()(const SessionKey& k) const;
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
    // Per direction (original, reply), while packets of it wait on the
    // segment queue (docs/daemon.md#gso): the sequence number just past the
    // last byte sent there. Every later payload packet of that direction goes
    // the same way, so the engine reads the stream in order; the segment that
    // reaches it clears it.
    std::array<std::optional<std::uint32_t>, 2> segment_mark{};
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
    explicit SessionTable(std::size_t capacity);

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
    // A new capacity (configuration reload): a smaller one evicts at once, in
    // insert's order (junk first), telling `on_evict` about each.
    void set_capacity(std::size_t capacity, const std::function<void(const SessionEntry&)>& on_evict);
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
    // Evicts entries until at most `keep` remain.
    void evict_down_to(std::size_t keep, const std::function<void(const SessionEntry&)>& on_evict);

    // The key -> entry index: open addressing with linear probing, at most
    // half full (a table of `capacity` entries gets at least 2 x capacity
    // slots), deletion by backward shift (no tombstones). Each slot holds the
    // key's hash and the entry's place in its lane, so a lookup reads one slot
    // (usually) and then the entry itself: std::unordered_map's chained nodes
    // cost three dependent cache misses before the entry, which dominated the
    // per-packet work at 100k connections (docs/daemon.md#figures).
    class Index {
    public:
        explicit Index(std::uint64_t seed) : hash_{seed} {}
        void reserve(std::size_t capacity);  // rebuilds when the slots are too few
        List::iterator* find(const SessionKey& key);
        const List::iterator* find(const SessionKey& key) const;
        void insert(const SessionKey& key, List::iterator it);  // key not present
        void erase(const SessionKey& key);
        std::size_t size() const { return size_; }

    private:
        struct Slot {
            std::uint64_t hash = 0;  // 0: empty (a stored hash has its top bit set)
            List::iterator it{};
        };
        std::uint64_t hash_of(const SessionKey& key) const { return hash_(key) | (std::uint64_t{1} << 63); }
        std::size_t locate(const SessionKey& key) const;  // slot index, or slots_.size()
        SessionKeyHash hash_;
        std::vector<Slot> slots_;
        std::size_t size_ = 0;
    };

    std::size_t capacity_;
    std::array<List, 3> lanes_;  // each: most recently used first
    Index index_;
};

}  // namespace tb::helper
