#include "netfilter/ct_attrs.hpp"

#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#include <cstring>
#include <utility>

namespace tb::netfilter {

namespace {

constexpr std::size_t kAttrHdr = NLA_HDRLEN;  // 4
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

void put_u16_ne(std::vector<std::uint8_t>& v, std::size_t at, std::uint16_t x) { std::memcpy(v.data() + at, &x, 2); }

// Appends an attribute header + payload + padding; returns the header's offset.
std::size_t put_attr(std::vector<std::uint8_t>& v, std::uint16_t type, std::span<const std::uint8_t> payload) {
    std::size_t at = v.size();
    v.resize(at + align4(kAttrHdr + payload.size()), 0);
    put_u16_ne(v, at, static_cast<std::uint16_t>(kAttrHdr + payload.size()));
    put_u16_ne(v, at + 2, type);
    if (!payload.empty()) std::memcpy(v.data() + at + kAttrHdr, payload.data(), payload.size());
    return at;
}
std::size_t begin_nest(std::vector<std::uint8_t>& v, std::uint16_t type) {
    return put_attr(v, static_cast<std::uint16_t>(type | NLA_F_NESTED), {});
}
void end_nest(std::vector<std::uint8_t>& v, std::size_t at) {
    put_u16_ne(v, at, static_cast<std::uint16_t>(v.size() - at));
}

static_assert((NLA_TYPE_MASK & 0xffff) == 0x3fff && NLA_HDRLEN == 4, "walk_attributes' constants");
template <typename F>
bool walk(std::span<const std::uint8_t> area, F&& f) {
    return walk_attributes(area, std::forward<F>(f));
}

}  // namespace

std::vector<std::uint8_t> build_nfqa_ct_help(std::string_view helper_name, std::span<const std::uint8_t> info) {
    // Bounds far below the u16 attribute length; the kernel's limits are 16
    // bytes of name and 32 bytes of data, so anything near this is a bug.
    if (helper_name.size() > 64 || info.size() > 1024) return {};
    std::vector<std::uint8_t> out;
    out.reserve(64 + info.size());
    std::size_t ct = begin_nest(out, NFQA_CT);
    std::size_t help = begin_nest(out, CTA_HELP);
    std::vector<std::uint8_t> name(helper_name.begin(), helper_name.end());
    name.push_back(0);
    put_attr(out, CTA_HELP_NAME, name);
    if (!info.empty()) put_attr(out, CTA_HELP_INFO, info);
    end_nest(out, help);
    end_nest(out, ct);
    return out;
}

std::optional<CtHelp> parse_ct_help(std::span<const std::uint8_t> payload) {
    std::optional<std::span<const std::uint8_t>> help_area;
    walk(payload, [&](std::uint16_t type, std::span<const std::uint8_t> p) {
        if (type == CTA_HELP && !help_area) help_area = p;
    });
    if (!help_area) return std::nullopt;
    return parse_ct_help_nest(*help_area);
}

std::optional<CtHelp> parse_ct_help_nest(std::span<const std::uint8_t> help_area) {
    CtHelp h;
    bool have_name = false;
    bool ok = walk(help_area, [&](std::uint16_t type, std::span<const std::uint8_t> p) {
        if (type == CTA_HELP_NAME && !have_name) {
            std::size_t n = 0;
            while (n < p.size() && p[n] != 0) ++n;
            h.name.assign(reinterpret_cast<const char*>(p.data()), n);
            have_name = true;
        } else if (type == CTA_HELP_INFO && !h.has_info) {
            h.info.assign(p.begin(), p.end());
            h.has_info = true;
        }
    });
    if (!ok || !have_name) return std::nullopt;
    return h;
}

}  // namespace tb::netfilter
