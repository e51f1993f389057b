#include "session_table.hpp"

#include <netinet/in.h>

namespace tb::daemon {

namespace {
void mix(std::size_t& h, std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); }
void mix_addr(std::size_t& h, const IpAddress& a) {
    std::size_t n = a.is_v6() ? 16 : 4;
    for (std::size_t i = 0; i < n; ++i) mix(h, a.bytes[i]);
}
}  // namespace

std::size_t SessionKeyHash::operator()(const SessionKey& k) const noexcept {
    std::size_t h = k.zone;
    mix(h, k.l4);
    mix_addr(h, k.orig.src);
    mix_addr(h, k.orig.dst);
    mix(h, k.orig.sport);
    mix(h, k.orig.dport);
    return h;
}

SessionEntry* SessionTable::find(const SessionKey& key, std::time_t now) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    it->second->last_seen = now;
    return &*it->second;
}

SessionEntry& SessionTable::insert(SessionEntry entry, const std::function<void(const SessionEntry&)>& on_evict) {
    erase(entry.key);
    while (!lru_.empty() && index_.size() >= capacity_) {
        auto& victim = lru_.back();
        ++evictions_;
        if (on_evict) on_evict(victim);
        index_.erase(victim.key);
        lru_.pop_back();
    }
    lru_.push_front(std::move(entry));
    index_.emplace(lru_.front().key, lru_.begin());
    return lru_.front();
}

void SessionTable::erase(const SessionKey& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    lru_.erase(it->second);
    index_.erase(it);
}

std::size_t SessionTable::expire(std::time_t now, std::time_t max_idle_udp, std::time_t max_idle_tcp) {
    std::size_t n = 0;
    // Oldest at the back: stop at the first entry that is young enough for
    // both limits (LRU order is by last use, so later entries are younger).
    const std::time_t min_idle = std::min(max_idle_udp, max_idle_tcp);
    while (!lru_.empty()) {
        auto& e = lru_.back();
        std::time_t idle = now - e.last_seen;
        if (idle <= min_idle) break;
        std::time_t limit = e.key.l4 == IPPROTO_UDP ? max_idle_udp : max_idle_tcp;
        if (idle <= limit) {
            // A TCP entry not yet due, behind which UDP entries may be: rare
            // enough to leave for the next sweep rather than scan the list.
            break;
        }
        index_.erase(e.key);
        lru_.pop_back();
        ++n;
    }
    return n;
}

}  // namespace tb::daemon
