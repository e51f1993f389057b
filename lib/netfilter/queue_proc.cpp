#include "netfilter/queue_proc.hpp"

#include <array>
#include <charconv>

namespace tb::netfilter {

namespace {

// Nine unsigned 32-bit numbers separated by spaces; anything else: nullopt.
std::optional<QueueProcEntry> parse_line(std::string_view line) {
    std::array<std::uint32_t, 9> v{};
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i == line.size()) break;
        if (n == v.size()) return std::nullopt;  // more fields than the format has
        const char* first = line.data() + i;
        const char* last = line.data() + line.size();
        auto [end, ec] = std::from_chars(first, last, v[n]);
        if (ec != std::errc() || end == first) return std::nullopt;
        if (end != last && *end != ' ' && *end != '\t') return std::nullopt;
        i = static_cast<std::size_t>(end - line.data());
        ++n;
    }
    if (n != v.size()) return std::nullopt;
    return QueueProcEntry{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}

}  // namespace

std::vector<QueueProcEntry> parse_queue_proc(std::string_view text) {
    std::vector<QueueProcEntry> out;
    while (!text.empty() && out.size() < kMaxQueues) {
        const std::size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (auto q = parse_line(line)) out.push_back(*q);
    }
    return out;
}

std::optional<QueueProcEntry> find_queue(const std::vector<QueueProcEntry>& all, std::uint32_t queue) {
    for (const auto& q : all)
        if (q.queue == queue) return q;
    return std::nullopt;
}

}  // namespace tb::netfilter
