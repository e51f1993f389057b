// libFuzzer target: the datagrams a firewall pair's daemons exchange over
// their sync link (lib/helper/state_sync.cpp, docs/ha.md#session-state).
// Whatever decodes must encode back to the very same bytes (the format has
// one spelling), and the replica table stays within its bound whatever it is
// fed.
#include <cstddef>
#include <cstdint>
#include <span>

#include "helper/state_sync.hpp"
#include "invariant.hpp"

using namespace tb::helper;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> in(data, size);
    auto records = decode_sync(in);
    if (!records) return 0;
    INVARIANT(!records->empty() && records->size() <= kSyncMaxRecords);
    auto again = encode_sync(*records);
    INVARIANT(again.size() == size);
    INVARIANT(std::equal(again.begin(), again.end(), data));
    static ReplicaTable table(4, 60);
    std::time_t now = 0;
    for (const auto& r : *records) {
        table.put(r, now++);
        INVARIANT(table.size() <= table.capacity());
        auto got = table.find(r.key, r.reply, now);
        INVARIANT(got && *got == r.state);
    }
    return 0;
}
