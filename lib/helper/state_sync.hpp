// Session state shared between the two daemons of a firewall pair
// (docs/ha.md#session-state). conntrackd replicates the conntrack, its helper
// name and its expectations, but not the helper's private data, where a
// contact connection's session state lives (docs/protocol-model.md#persistence).
// So each daemon sends its peer, over the pair's dedicated sync link, the
// 32-byte state it writes into the kernel, keyed by the connection's tuples;
// the peer keeps the latest copy per connection in a bounded table and, when
// a connection it meets carries no state of its own (it was taken over from
// the other node), restores the session from that copy instead of starting
// one that would judge the stream "not Timbuktu".
//
// Pure: datagram encoding and decoding, and the table. The socket is the
// daemon's (nfhelper/state_peer.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "helper/session_table.hpp"
#include "timbuktu/persisted_state.hpp"

namespace tb::helper {

// One connection's state as the active node last wrote it.
struct ReplicatedState {
    SessionKey key;   // zone, l4, original tuple
    Tuple reply;      // the reply tuple: both must match on the taking node
    timbuktu::PersistedState state{};
    friend bool operator==(const ReplicatedState&, const ReplicatedState&) = default;
};

// Datagram: "TBS" 0x01 (magic and version), one byte record count (1 to
// kSyncMaxRecords), one reserved zero byte, then the records of
// kSyncRecordSize bytes each: family (4 or 6), l4 (6 or 17), zone (2), orig
// src (16), orig dst (16), orig sport (2), orig dport (2), reply src, dst,
// sport, dport (36), state (32). Numbers big-endian; IPv4 addresses in the
// first 4 of their 16 bytes, the rest zero.
constexpr std::size_t kSyncHeaderSize = 6;
constexpr std::size_t kSyncRecordSize = 4 + 36 + 36 + timbuktu::kPersistedStateSize;
constexpr std::size_t kSyncMaxRecords = 12;  // 1302 bytes: fits one Ethernet frame
constexpr std::size_t kSyncMaxDatagram = kSyncHeaderSize + kSyncMaxRecords * kSyncRecordSize;

// records.size() must be 1 to kSyncMaxRecords.
std::vector<std::uint8_t> encode_sync(std::span<const ReplicatedState> records);
// nullopt for anything this version did not write: short or long datagram,
// bad magic or version, a count that does not match the size, a record with
// an unknown family or l4, non-zero padding of an IPv4 address. The state
// bytes are not judged here: the engine's decode_persisted does that when a
// session is restored from them.
std::optional<std::vector<ReplicatedState>> decode_sync(std::span<const std::uint8_t> datagram);

// "Send me what you hold": the 4 bytes "TBR" 0x01, sent by a daemon when it
// starts, so that the sessions already running on the other node are
// copied to it at once, not only when they next change.
std::vector<std::uint8_t> encode_resync_request();
bool is_resync_request(std::span<const std::uint8_t> datagram);

// The latest state per connection received from the peer. Bounded: at most
// `capacity` entries, the least recently updated goes first; an entry older
// than `max_age` seconds is dropped (the peer sends a session's state at
// every change only, so an idle contact's entry is as old as its last
// change: max_age is the session table's TCP idle limit).
class ReplicaTable {
public:
    ReplicaTable(std::size_t capacity, std::time_t max_age);

    void put(const ReplicatedState& record, std::time_t now);
    // The state for this connection when one is held, its reply tuple is the
    // same and it is younger than max_age. It stays in the table (a second
    // packet of the same connection may come before the first one's verdict
    // wrote the state into the kernel).
    std::optional<timbuktu::PersistedState> find(const SessionKey& key, const Tuple& reply, std::time_t now) const;
    void erase(const SessionKey& key);
    std::size_t expire(std::time_t now);

    std::size_t size() const { return index_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    struct Entry {
        ReplicatedState record;
        std::time_t received = 0;
    };
    std::size_t capacity_;
    std::time_t max_age_;
    std::list<Entry> order_;  // most recent first
    std::unordered_map<SessionKey, std::list<Entry>::iterator, SessionKeyHash> index_;
};

}  // namespace tb::helper
