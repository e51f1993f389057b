#include "session_table.hpp"

#include <cstring>
#include <random>

namespace tb::helper {

namespace {
// One multiply-and-fold per 64-bit word (the key is six words), seeded.
std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
    h = (h ^ v) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}
std::uint64_t word(const std::uint8_t* p) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}
}  // namespace

std::uint64_t SessionKeyHash::operator()(const SessionKey& k) const {
    // Equal keys have equal bytes (IpAddress compares all 16; IPv4 leaves 12 zero).
    std::uint64_t h = mix(seed, (std::uint64_t{k.zone} << 48) | (std::uint64_t{k.l4} << 32) |
                                    (std::uint64_t{k.orig.sport} << 16) | k.orig.dport);
    h = mix(h, word(k.orig.src.bytes.data()));
    h = mix(h, word(k.orig.src.bytes.data() + 8));
    h = mix(h, word(k.orig.dst.bytes.data()) + static_cast<std::uint64_t>(k.orig.src.family));
    h = mix(h, word(k.orig.dst.bytes.data() + 8));
    return h;
}

void SessionTable::Index::reserve(std::size_t capacity) {
    std::size_t want = 16;
    while (want < 2 * capacity) want *= 2;
    if (slots_.size() >= want) return;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(want, Slot{});
    const std::size_t mask = want - 1;
    for (const Slot& s : old) {
        if (!s.hash) continue;
        std::size_t i = s.hash & mask;
        while (slots_[i].hash) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

std::size_t SessionTable::Index::locate(const SessionKey& key) const {
    if (slots_.empty()) return 0;
    const std::uint64_t h = hash_of(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
        const Slot& s = slots_[i];
        if (!s.hash) return slots_.size();
        if (s.hash == h && s.it->key == key) return i;
    }
}

SessionTable::List::iterator* SessionTable::Index::find(const SessionKey& key) {
    const std::size_t i = locate(key);
    return i < slots_.size() ? &slots_[i].it : nullptr;
}

const SessionTable::List::iterator* SessionTable::Index::find(const SessionKey& key) const {
    const std::size_t i = locate(key);
    return i < slots_.size() ? &slots_[i].it : nullptr;
}

void SessionTable::Index::insert(const SessionKey& key, List::iterator it) {
    reserve(size_ + 1);  // never more than half full
    const std::uint64_t h = hash_of(key);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = h & mask;
    while (slots_[i].hash) i = (i + 1) & mask;
    slots_[i] = Slot{h, it};
    ++size_;
}

void SessionTable::Index::erase(const SessionKey& key) {
    std::size_t i = locate(key);
    if (i >= slots_.size()) return;
    const std::size_t mask = slots_.size() - 1;
    // Backward shift: every later slot of the probe run that may move to the
    // hole does, so a lookup's run never ends early at an empty slot.
    for (std::size_t j = (i + 1) & mask; slots_[j].hash; j = (j + 1) & mask) {
        const std::size_t home = slots_[j].hash & mask;
        // Slot j may fill hole i unless its home lies cyclically in (i, j].
        const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        slots_[i] = slots_[j];
        i = j;
    }
    slots_[i] = Slot{};
    --size_;
}

SessionTable::SessionTable(std::size_t capacity)
    : capacity_(capacity), index_((std::uint64_t{std::random_device{}()} << 32) | std::random_device{}()) {
    index_.reserve(capacity_);
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
    List::iterator* found = index_.find(key);
    if (!found) return nullptr;
    List::iterator it = *found;
    // Each lane stays ordered by last_seen (young end first) when an entry
    // moves only as its time changes: entries seen within the same second keep
    // their order, which expiry and eviction (whole seconds) cannot tell apart.
    if (it->last_seen != now) {
        List& l = list(it->lane);
        l.splice(l.begin(), l, it);
        it->last_seen = now;
    }
    return &*it;
}

const SessionEntry* SessionTable::peek(const SessionKey& key) const {
    const List::iterator* found = index_.find(key);
    return found ? &**found : nullptr;
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
    index_.reserve(capacity_);  // grows when needed (it never shrinks)
}

SessionEntry& SessionTable::insert(SessionEntry entry, const std::function<void(const SessionEntry&)>& on_evict) {
    erase(entry.key);
    evict_down_to(capacity_ > 0 ? capacity_ - 1 : 0, on_evict);  // room for the new one
    List& l = list(entry.lane);
    l.push_front(std::move(entry));
    index_.insert(l.front().key, l.begin());
    return l.front();
}

void SessionTable::set_lane(SessionEntry& entry, Lane lane) {
    if (entry.lane == lane) return;
    List::iterator* found = index_.find(entry.key);
    if (!found) return;
    List& from = list(entry.lane);
    List& to = list(lane);
    // splice keeps the element (and every pointer or iterator to it) valid.
    to.splice(to.begin(), from, *found);
    (*found)->lane = lane;
}

void SessionTable::erase(const SessionKey& key) {
    List::iterator* found = index_.find(key);
    if (!found) return;
    const List::iterator it = *found;
    index_.erase(key);  // reads the entry's key: before the entry goes
    list(it->lane).erase(it);
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
