#include "netfilter/cthelper.hpp"
#include "netfilter/c_handle.hpp"

extern "C" {
#include <libnetfilter_cthelper/libnetfilter_cthelper.h>
}
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>


namespace tb::netfilter {

namespace {

using HelperPtr = CHandle<nfct_helper, nfct_helper_free>;
using PolicyPtr = CHandle<nfct_helper_policy, nfct_helper_policy_free>;

// Room for one helper message: name, tuple, queue, one policy, status, size.
constexpr std::size_t kMsgBuffer = 4096;

enum class Fields { key, status, full };

HelperPtr make_helper(const HelperEntry& e, Fields fields) {
    HelperPtr h(nfct_helper_alloc());
    if (!h) throw std::bad_alloc();
    nfct_helper_attr_set_str(h.get(), NFCTH_ATTR_NAME, e.name.c_str());
    nfct_helper_attr_set_u16(h.get(), NFCTH_ATTR_PROTO_L3NUM, e.l3);
    nfct_helper_attr_set_u8(h.get(), NFCTH_ATTR_PROTO_L4NUM, e.l4);
    if (fields == Fields::key) return h;
    if (fields == Fields::status) {
        // An update that changes nothing but the status (every other attribute
        // is optional in the kernel's update path).
        nfct_helper_attr_set_u32(h.get(), NFCTH_ATTR_STATUS,
                                 e.enabled ? NFCT_HELPER_STATUS_ENABLED : NFCT_HELPER_STATUS_DISABLED);
        return h;
    }
    nfct_helper_attr_set_u32(h.get(), NFCTH_ATTR_QUEUE_NUM, e.queue);
    // The kernel insists on this attribute (EINVAL without it) and sizes the
    // per-connection private area from it: the engine's persisted state.
    nfct_helper_attr_set_u32(h.get(), NFCTH_ATTR_PRIV_DATA_LEN, e.priv_data_len);
    // Enabled: the kernel queues the helper's packets to us. Disabled: its helper
    // function accepts them unqueued, and conntrack confirms them as usual.
    nfct_helper_attr_set_u32(h.get(), NFCTH_ATTR_STATUS,
                             e.enabled ? NFCT_HELPER_STATUS_ENABLED : NFCT_HELPER_STATUS_DISABLED);
    PolicyPtr p(nfct_helper_policy_alloc());
    if (!p) throw std::bad_alloc();
    nfct_helper_policy_attr_set_str(p.get(), NFCTH_ATTR_POLICY_NAME, e.name.c_str());
    nfct_helper_policy_attr_set_u32(p.get(), NFCTH_ATTR_POLICY_TIMEOUT, e.expect_timeout);
    nfct_helper_policy_attr_set_u32(p.get(), NFCTH_ATTR_POLICY_MAX, e.max_expected);
    // One expectation class; the helper object owns (and frees) its policies.
    nfct_helper_attr_set(h.get(), NFCTH_ATTR_POLICY1, p.release());
    return h;
}

int send_helper(NetlinkSocket& nl, std::uint8_t cmd, std::uint16_t flags, const HelperEntry& e, Fields fields) {
    std::vector<char> buf(kMsgBuffer);
    nlmsghdr* nlh = nfct_helper_nlmsg_build_hdr(buf.data(), cmd, flags, 0);
    auto h = make_helper(e, fields);
    nfct_helper_nlmsg_build_payload(nlh, h.get());
    return nl.request(nlh);
}

}  // namespace

int list_helpers(NetlinkSocket& nl, std::vector<HelperEntry>& out) {
    std::vector<char> buf(kMsgBuffer);
    nlmsghdr* nlh = nfct_helper_nlmsg_build_hdr(buf.data(), NFNL_MSG_CTHELPER_GET, 0, 0);
    return nl.dump(nlh, [&](const nlmsghdr* m) {
        if (out.size() >= kMaxListedHelpers) return;  // bounded, whatever the kernel sends
        HelperPtr h(nfct_helper_alloc());
        if (!h || nfct_helper_nlmsg_parse_payload(m, h.get()) < 0) return;
        HelperEntry e;
        if (const char* name = nfct_helper_attr_get_str(h.get(), NFCTH_ATTR_NAME)) e.name = name;
        e.l3 = nfct_helper_attr_get_u16(h.get(), NFCTH_ATTR_PROTO_L3NUM);
        e.l4 = nfct_helper_attr_get_u8(h.get(), NFCTH_ATTR_PROTO_L4NUM);
        e.queue = nfct_helper_attr_get_u32(h.get(), NFCTH_ATTR_QUEUE_NUM);
        e.priv_data_len = nfct_helper_attr_get_u32(h.get(), NFCTH_ATTR_PRIV_DATA_LEN);
        if (const void* st = nfct_helper_attr_get(h.get(), NFCTH_ATTR_STATUS))
            e.enabled = *static_cast<const std::uint32_t*>(st) == NFCT_HELPER_STATUS_ENABLED;
        out.push_back(std::move(e));
    });
}

namespace {

bool same_key(const HelperEntry& a, const HelperEntry& b) { return a.name == b.name && a.l3 == b.l3 && a.l4 == b.l4; }

}  // namespace

RegistrationResult register_helpers(NetlinkSocket& nl, const std::vector<HelperEntry>& wanted) {
    RegistrationResult result;
    std::vector<HelperEntry> existing;
    result.list_error = list_helpers(nl, existing);
    for (const auto& want : wanted) {
        bool present = false;
        for (const auto& x : existing)
            if (same_key(x, want)) {
                present = true;
                if (x.enabled) result.found_enabled = true;
            }
        if (present) result.replaced_existing = true;
        int err = send_helper(nl, NFNL_MSG_CTHELPER_NEW, NLM_F_CREATE, want, Fields::full);
        if (err == EBUSY && present) {
            // The kernel will not change an entry's private data size or its
            // number of expectation classes in place: recreate it, which only
            // works while no nft/iptables rule references it.
            const int del = send_helper(nl, NFNL_MSG_CTHELPER_DEL, 0, want, Fields::key);
            if (del == EBUSY) {
                result.failure = HelperFailure{HelperFailure::Step::create, HelperFailure::Kind::other_parameters, want, del};
                return result;
            }
            err = del ? del : send_helper(nl, NFNL_MSG_CTHELPER_NEW, NLM_F_CREATE, want, Fields::full);
        }
        if (err) {
            const auto kind = err == EINVAL ? HelperFailure::Kind::no_cthelper_support : HelperFailure::Kind::kernel_error;
            result.failure = HelperFailure{HelperFailure::Step::create, kind, want, err};
            return result;
        }
        result.registered.push_back(want);
    }
    return result;
}

std::vector<HelperFailure> set_helpers_enabled(NetlinkSocket& nl, const std::vector<HelperEntry>& entries,
                                               bool enabled) {
    std::vector<HelperFailure> failures;
    std::vector<HelperEntry> present;
    if (int err = list_helpers(nl, present)) {
        failures.push_back({HelperFailure::Step::list, HelperFailure::Kind::kernel_error, {}, err});
        return failures;
    }
    const auto step = enabled ? HelperFailure::Step::enable : HelperFailure::Step::disable;
    for (auto e : entries) {
        bool there = false;
        for (const auto& x : present)
            if (same_key(x, e)) there = true;
        if (!there) continue;  // a status-only NEW cannot create an entry, nor should it
        e.enabled = enabled;
        if (int err = send_helper(nl, NFNL_MSG_CTHELPER_NEW, 0, e, Fields::status))
            failures.push_back({step, HelperFailure::Kind::kernel_error, e, err});
    }
    return failures;
}

std::vector<HelperFailure> unregister_helpers(NetlinkSocket& nl, const std::vector<HelperEntry>& entries) {
    std::vector<HelperFailure> failures;
    for (const auto& e : entries) {
        const int err = send_helper(nl, NFNL_MSG_CTHELPER_DEL, 0, e, Fields::key);
        if (err == 0 || err == ENOENT) continue;  // gone, or was never there
        failures.push_back({HelperFailure::Step::remove,
                            err == EBUSY ? HelperFailure::Kind::still_referenced : HelperFailure::Kind::kernel_error, e,
                            err});
    }
    return failures;
}

}  // namespace tb::netfilter
