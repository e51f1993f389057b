#include "helper/state_sync.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace tb::helper {

namespace {

constexpr std::uint8_t kMagic[4] = {'T', 'B', 'S', 0x01};

void put_address(std::uint8_t* p, const IpAddress& a) {
    std::memset(p, 0, 16);
    std::memcpy(p, a.bytes.data(), a.is_v4() ? 4 : 16);
}

bool get_address(const std::uint8_t* p, IpAddress::Family family, IpAddress& out) {
    if (family == IpAddress::Family::v4) {
        for (int i = 4; i < 16; ++i)
            if (p[i] != 0) return false;
        out = IpAddress::v4_bytes(p);
    } else {
        out = IpAddress::v6_bytes(p);
    }
    return true;
}

void put_tuple(std::uint8_t* p, const Tuple& t) {
    put_address(p, t.src);
    put_address(p + 16, t.dst);
    store_be16(p + 32, t.sport);
    store_be16(p + 34, t.dport);
}

bool get_tuple(const std::uint8_t* p, IpAddress::Family family, Tuple& t) {
    if (!get_address(p, family, t.src) || !get_address(p + 16, family, t.dst)) return false;
    t.sport = load_be16(p + 32);
    t.dport = load_be16(p + 34);
    return true;
}

}  // namespace

std::vector<std::uint8_t> encode_sync(std::span<const ReplicatedState> records) {
    const std::size_t n = std::min(records.size(), kSyncMaxRecords);
    std::vector<std::uint8_t> out(kSyncHeaderSize + n * kSyncRecordSize, 0);
    std::memcpy(out.data(), kMagic, 4);
    out[4] = static_cast<std::uint8_t>(n);
    for (std::size_t i = 0; i < n; ++i) {
        const ReplicatedState& r = records[i];
        std::uint8_t* p = out.data() + kSyncHeaderSize + i * kSyncRecordSize;
        p[0] = r.key.orig.src.is_v6() ? 6 : 4;
        p[1] = r.key.l4;
        store_be16(p + 2, r.key.zone);
        put_tuple(p + 4, r.key.orig);
        put_tuple(p + 40, r.reply);
        std::memcpy(p + 76, r.state.data(), r.state.size());
    }
    return out;
}

std::optional<std::vector<ReplicatedState>> decode_sync(std::span<const std::uint8_t> d) {
    if (d.size() < kSyncHeaderSize + kSyncRecordSize || d.size() > kSyncMaxDatagram) return std::nullopt;
    if (std::memcmp(d.data(), kMagic, 4) != 0 || d[5] != 0) return std::nullopt;
    const std::size_t n = d[4];
    if (n == 0 || n > kSyncMaxRecords || d.size() != kSyncHeaderSize + n * kSyncRecordSize) return std::nullopt;
    std::vector<ReplicatedState> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = d.data() + kSyncHeaderSize + i * kSyncRecordSize;
        IpAddress::Family family;
        if (p[0] == 4) family = IpAddress::Family::v4;
        else if (p[0] == 6) family = IpAddress::Family::v6;
        else return std::nullopt;
        if (p[1] != IPPROTO_TCP && p[1] != IPPROTO_UDP) return std::nullopt;
        ReplicatedState r;
        r.key.l4 = p[1];
        r.key.zone = load_be16(p + 2);
        if (!get_tuple(p + 4, family, r.key.orig) || !get_tuple(p + 40, family, r.reply)) return std::nullopt;
        std::memcpy(r.state.data(), p + 76, r.state.size());
        out.push_back(r);
    }
    return out;
}

std::vector<std::uint8_t> encode_resync_request() { return {'T', 'B', 'R', 0x01}; }

bool is_resync_request(std::span<const std::uint8_t> d) {
    return d.size() == 4 && d[0] == 'T' && d[1] == 'B' && d[2] == 'R' && d[3] == 0x01;
}

ReplicaTable::ReplicaTable(std::size_t capacity, std::time_t max_age)
    : capacity_(std::max<std::size_t>(capacity, 1)), max_age_(max_age) {}

void ReplicaTable::put(const ReplicatedState& record, std::time_t now) {
    if (auto it = index_.find(record.key); it != index_.end()) {
        order_.erase(it->second);
        index_.erase(it);
    }
    while (index_.size() >= capacity_) {
        index_.erase(order_.back().record.key);
        order_.pop_back();
    }
    order_.push_front(Entry{record, now});
    index_.emplace(record.key, order_.begin());
}

std::optional<timbuktu::PersistedState> ReplicaTable::find(const SessionKey& key, const Tuple& reply,
                                                           std::time_t now) const {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    const Entry& e = *it->second;
    if (e.record.reply != reply || now - e.received > max_age_) return std::nullopt;
    return e.record.state;
}

void ReplicaTable::erase(const SessionKey& key) {
    if (auto it = index_.find(key); it != index_.end()) {
        order_.erase(it->second);
        index_.erase(it);
    }
}

std::size_t ReplicaTable::expire(std::time_t now) {
    std::size_t n = 0;
    while (!order_.empty() && now - order_.back().received > max_age_) {
        index_.erase(order_.back().record.key);
        order_.pop_back();
        ++n;
    }
    return n;
}

}  // namespace tb::helper
