#include "session_table.hpp"

namespace tb::helper {

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

void adopt_session(SessionEntry& entry, timbuktu::Session session) {
    entry.session.emplace(std::move(session));
    for (std::size_t d = 0; d < entry.syn_seq.size(); ++d) {
        if (!entry.syn_seq[d]) continue;
        timbuktu::Packet start;
        start.direction = d == 0 ? timbuktu::PacketDirection::original : timbuktu::PacketDirection::reply;
        start.tcp_seq = *entry.syn_seq[d];
        start.tcp_syn = true;
        entry.session->on_packet(start);  // no payload: only fixes the stream start
        entry.syn_seq[d].reset();
    }
}

SessionEntry* SessionTable::find(const SessionKey& key, std::time_t now) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    List& l = list(it->second->lane);
    l.splice(l.begin(), l, it->second);
    it->second->last_seen = now;
    return &*it->second;
}

const SessionEntry* SessionTable::peek(const SessionKey& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &*it->second;
}

SessionTable::List* SessionTable::victim_lane() {
    if (!list(Lane::junk).empty()) return &list(Lane::junk);
    List& udp = list(Lane::udp);
    List& tcp = list(Lane::tcp);
    if (udp.empty()) return tcp.empty() ? nullptr : &tcp;
    if (tcp.empty()) return &udp;
    return udp.back().last_seen <= tcp.back().last_seen ? &udp : &tcp;
}

void SessionTable::evict_down_to(std::size_t keep, const std::function<void(const SessionEntry&)>& on_evict) {
    while (index_.size() > keep) {
        List* from = victim_lane();
        if (!from) break;
        auto& victim = from->back();
        if (on_evict) on_evict(victim);
        index_.erase(victim.key);
        from->pop_back();
    }
}

void SessionTable::set_capacity(std::size_t capacity, const std::function<void(const SessionEntry&)>& on_evict) {
    capacity_ = capacity;
    evict_down_to(capacity_, on_evict);
}

SessionEntry& SessionTable::insert(SessionEntry entry, const std::function<void(const SessionEntry&)>& on_evict) {
    erase(entry.key);
    evict_down_to(capacity_ > 0 ? capacity_ - 1 : 0, on_evict);  // room for the new one
    List& l = list(entry.lane);
    l.push_front(std::move(entry));
    index_.emplace(l.front().key, l.begin());
    return l.front();
}

void SessionTable::set_lane(SessionEntry& entry, Lane lane) {
    if (entry.lane == lane) return;
    auto it = index_.find(entry.key);
    if (it == index_.end()) return;
    List& from = list(entry.lane);
    List& to = list(lane);
    // splice keeps the element (and every pointer or iterator to it) valid.
    to.splice(to.begin(), from, it->second);
    it->second->lane = lane;
}

void SessionTable::erase(const SessionKey& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    list(it->second->lane).erase(it->second);
    index_.erase(it);
}

std::size_t SessionTable::expire(std::time_t now, const IdleLimits& limits) {
    std::size_t n = 0;
    const std::array<std::pair<Lane, std::time_t>, 3> lanes{
        {{Lane::junk, limits.junk}, {Lane::udp, limits.udp}, {Lane::tcp, limits.tcp}}};
    for (const auto& [lane, limit] : lanes) {
        List& l = list(lane);
        // Oldest at the back; one limit per lane, so the first young entry
        // ends this lane's walk and every entry before it was due.
        while (!l.empty() && now - l.back().last_seen > limit) {
            index_.erase(l.back().key);
            l.pop_back();
            ++n;
        }
    }
    return n;
}

}  // namespace tb::helper
