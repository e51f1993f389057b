// The daemon's sessions: one engine::Session per contact connection, keyed by
// the original tuple and zone, with the conntrack id kept in the entry: the
// first packets of a flow sent before the first one is confirmed each get
// their own unconfirmed conntrack (same tuple, other id) which the kernel
// merges on confirmation, so they belong to one session; a different id once
// the flow was confirmed means the old connection died and a new one reuses
// the tuple (helper_core.cpp decides). Bounded: when full, the least recently
// used session is evicted. An evicted or forgotten session is not lost for
// good: its state lives in the conntrack's helper private data and is restored
// on its next packet.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

#include "conntrack_facts.hpp"
#include "engine/session.hpp"

namespace tb::daemon {

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

struct SessionEntry {
    SessionKey key;
    engine::Session session;
    engine::PersistedState written{};  // what the conntrack holds (as far as we know)
    std::time_t last_seen = 0;
    std::uint32_t ct_id = 0;       // conntrack id (CTA_ID) of the connection
    std::time_t created = 0;
    bool seen_confirmed = false;   // a packet of it came with a confirmed conntrack
    // The engine asked to stop watching while the conntrack was unconfirmed;
    // the detach goes with the connection's next packet (see helper_core.cpp).
    bool detach_pending = false;
};

class SessionTable {
public:
    explicit SessionTable(std::size_t capacity) : capacity_(capacity) {}

    // The entry for `key`, moved to the front; nullptr when absent.
    SessionEntry* find(const SessionKey& key, std::time_t now);
    // Inserts (evicting the least recently used when full); returns the entry.
    // `on_evict` is told about an eviction, for the log.
    SessionEntry& insert(SessionEntry entry, const std::function<void(const SessionEntry&)>& on_evict);
    void erase(const SessionKey& key);
    // Drops entries idle for longer than `max_idle` seconds; returns how many.
    std::size_t expire(std::time_t now, std::time_t max_idle_udp, std::time_t max_idle_tcp);

    template <typename F>
    void for_each(F&& f) {
        for (auto& e : lru_) f(e);
    }
    std::size_t size() const { return index_.size(); }
    std::size_t capacity() const { return capacity_; }
    std::uint64_t evictions() const { return evictions_; }

private:
    std::size_t capacity_;
    std::list<SessionEntry> lru_;  // most recently used first
    std::unordered_map<SessionKey, std::list<SessionEntry>::iterator, SessionKeyHash> index_;
    std::uint64_t evictions_ = 0;
};

}  // namespace tb::daemon
