// libFuzzer target: the parser of /proc/net/netfilter/nfnetlink_queue
// (lib/netfilter/queue_proc.cpp). Kernel output is input too: whatever the
// text, the parser returns bounded, well-formed lines only.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "invariant.hpp"
#include "netfilter/queue_proc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto all = tb::netfilter::parse_queue_proc(text);
    INVARIANT(all.size() <= tb::netfilter::kMaxQueues);
    // Every line kept is at least nine numbers' worth of text ("0 " x 9 minus one).
    INVARIANT(all.size() * 17 <= size + 1);
    for (const auto& q : all) {
        auto found = tb::netfilter::find_queue(all, q.queue);
        INVARIANT(found.has_value());
    }
    return 0;
}
