// Pure netlink attribute code for the conntrack nest (NFQA_CT) of a queued
// packet and of its verdict: just the CTA_HELP part, which carries the helper's
// 32 bytes of private data (nfnetlink_cthelper's NFCTH_PRIV_DATA_LEN).
//
// Why by hand and not nfct_nlmsg_build: libnetfilter_conntrack 1.0.9 stores
// ATTR_HELPER_INFO but emits CTA_HELP_INFO with length 0 (verified), and it
// refuses to build a conntrack without an original tuple, so its nest would
// also carry a meaningless all-zero tuple. The kernel's glue parser reads only
// CTA_HELP (and a few others we do not send) from a verdict's NFQA_CT.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tb::netfilter {

// The complete NFQA_CT attribute (header included, padded to 4 bytes):
//   NFQA_CT { CTA_HELP { CTA_HELP_NAME "<name>\0", [CTA_HELP_INFO <info>] } }
// An empty name detaches the helper from the connection (ctnetlink_change_helper),
// in which case `info` must be empty. Returns an empty vector when the input does
// not fit a netlink attribute.
std::vector<std::uint8_t> build_nfqa_ct_help(std::string_view helper_name, std::span<const std::uint8_t> info);

struct CtHelp {
    std::string name;
    std::vector<std::uint8_t> info;  // CTA_HELP_INFO, empty when absent
    bool has_info = false;
};

// Finds CTA_HELP in the payload of an NFQA_CT attribute (the conntrack
// attributes, CTA_*). Bounds-checked; nullopt when there is none or it is malformed.
std::optional<CtHelp> parse_ct_help(std::span<const std::uint8_t> nfqa_ct_payload);
// The same, from the payload of the CTA_HELP attribute itself.
std::optional<CtHelp> parse_ct_help_nest(std::span<const std::uint8_t> cta_help_payload);

// Walks the netlink attributes in `area` (bounds-checked: a header that claims
// more than is there ends the walk); calls f(type without flags, payload) for
// each. Returns false when the walk ended on a malformed header.
template <typename F>
bool walk_attributes(std::span<const std::uint8_t> area, F&& f) {
    // The layout and flags are the uapi's (struct nlattr, NLA_HDRLEN,
    // NLA_TYPE_MASK, NLA_ALIGN); copied out with memcpy, since the area has no
    // alignment guarantee. libmnl's mnl_attr_parse_payload ends such a walk
    // silently, and the callers need to tell a cut nest from a complete one.
    constexpr std::size_t kHdr = NLA_HDRLEN;
    std::size_t off = 0;
    while (area.size() - off >= kHdr) {
        nlattr a;
        std::memcpy(&a, area.data() + off, sizeof a);
        if (a.nla_len < kHdr || a.nla_len > area.size() - off) return false;
        f(static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK), area.subspan(off + kHdr, a.nla_len - kHdr));
        off += NLA_ALIGN(std::size_t{a.nla_len});
        if (off > area.size()) break;
    }
    return true;
}

}  // namespace tb::netfilter
