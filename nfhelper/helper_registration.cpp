#include "helper_registration.hpp"

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
#include <stdexcept>

#include <fmt/format.h>

#include "timbuktu/session.hpp"
#include "log.hpp"

namespace tb::daemon {

namespace {

struct HelperDeleter {
    void operator()(nfct_helper* h) const { nfct_helper_free(h); }
};
struct PolicyDeleter {
    void operator()(nfct_helper_policy* p) const { nfct_helper_policy_free(p); }
};
using HelperPtr = std::unique_ptr<nfct_helper, HelperDeleter>;
using PolicyPtr = std::unique_ptr<nfct_helper_policy, PolicyDeleter>;

// Room for one helper message: name, tuple, queue, one policy, status, size.
constexpr std::size_t kMsgBuffer = 4096;

enum class Fields { key, status, full };

HelperPtr make_helper(const HelperEntry& e, Fields fields) {
    HelperPtr h(nfct_helper_alloc());
    if (!h) throw std::runtime_error("out of memory");
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
    if (!p) throw std::runtime_error("out of memory");
    nfct_helper_policy_attr_set_str(p.get(), NFCTH_ATTR_POLICY_NAME, kHelperName);
    nfct_helper_policy_attr_set_u32(p.get(), NFCTH_ATTR_POLICY_TIMEOUT, e.expect_timeout);
    nfct_helper_policy_attr_set_u32(p.get(), NFCTH_ATTR_POLICY_MAX, e.max_expected);
    // One expectation class; the helper object owns (and frees) its policies.
    nfct_helper_attr_set(h.get(), NFCTH_ATTR_POLICY1, p.release());
    return h;
}

int send_helper(netfilter::NetlinkSocket& nl, std::uint8_t cmd, std::uint16_t flags, const HelperEntry& e, Fields fields) {
    std::vector<char> buf(kMsgBuffer);
    nlmsghdr* nlh = nfct_helper_nlmsg_build_hdr(buf.data(), cmd, flags, 0);
    auto h = make_helper(e, fields);
    nfct_helper_nlmsg_build_payload(nlh, h.get());
    return nl.request(nlh);
}

std::string entry_name(const HelperEntry& e) { return fmt::format("{}/{}", l3_name(e.l3), l4_name(e.l4)); }

}  // namespace

std::string l3_name(std::uint16_t l3) { return l3 == AF_INET ? "ipv4" : l3 == AF_INET6 ? "ipv6" : fmt::format("l3-{}", l3); }
std::string l4_name(std::uint8_t l4) {
    return l4 == IPPROTO_TCP ? "tcp" : l4 == IPPROTO_UDP ? "udp" : fmt::format("l4-{}", l4);
}

std::vector<HelperEntry> wanted_helpers(const Config& config) {
    std::vector<HelperEntry> out;
    for (std::uint16_t l3 : {std::uint16_t{AF_INET}, std::uint16_t{AF_INET6}})
        for (std::uint8_t l4 : {std::uint8_t{IPPROTO_TCP}, std::uint8_t{IPPROTO_UDP}}) {
            HelperEntry e;
            e.name = kHelperName;
            e.l3 = l3;
            e.l4 = l4;
            e.queue = config.queue;
            e.priv_data_len = timbuktu::kPersistedStateSize;
            e.max_expected = config.max_expectations;
            e.expect_timeout = config.expectation_timeout;
            e.enabled = true;
            out.push_back(e);
        }
    return out;
}

std::vector<HelperEntry> list_registered_helpers(netfilter::NetlinkSocket& nl) {
    std::vector<char> buf(kMsgBuffer);
    nlmsghdr* nlh = nfct_helper_nlmsg_build_hdr(buf.data(), NFNL_MSG_CTHELPER_GET, 0, 0);
    std::vector<HelperEntry> out;
    int err = nl.dump(nlh, [&](const nlmsghdr* m) {
        HelperPtr h(nfct_helper_alloc());
        if (!h || nfct_helper_nlmsg_parse_payload(m, h.get()) < 0) return;
        const char* name = nfct_helper_attr_get_str(h.get(), NFCTH_ATTR_NAME);
        if (!name || std::strcmp(name, kHelperName) != 0) return;
        if (out.size() >= 64) return;  // bounded, whatever the kernel sends
        HelperEntry e;
        e.name = name;
        e.l3 = nfct_helper_attr_get_u16(h.get(), NFCTH_ATTR_PROTO_L3NUM);
        e.l4 = nfct_helper_attr_get_u8(h.get(), NFCTH_ATTR_PROTO_L4NUM);
        e.queue = nfct_helper_attr_get_u32(h.get(), NFCTH_ATTR_QUEUE_NUM);
        e.priv_data_len = nfct_helper_attr_get_u32(h.get(), NFCTH_ATTR_PRIV_DATA_LEN);
        e.enabled = nfct_helper_attr_get_u32(h.get(), NFCTH_ATTR_STATUS) == NFCT_HELPER_STATUS_ENABLED;
        out.push_back(e);
    });
    if (err) throw netfilter::KernelError("cannot list the kernel's conntrack helpers", err);
    return out;
}

RegistrationResult register_helpers(netfilter::NetlinkSocket& nl, const Config& config) {
    RegistrationResult result;
    std::vector<HelperEntry> existing;
    try {
        existing = list_registered_helpers(nl);
    } catch (const netfilter::KernelError& e) {
        log_debug("{}", e.what());  // not fatal: registration below says what is wrong
    }
    for (const auto& want : wanted_helpers(config)) {
        bool present = false;
        for (const auto& x : existing)
            if (x.l3 == want.l3 && x.l4 == want.l4) {
                present = true;
                if (x.enabled) result.found_enabled = true;
            }
        if (present) result.replaced_existing = true;
        int err = send_helper(nl, NFNL_MSG_CTHELPER_NEW, NLM_F_CREATE, want, Fields::full);
        if (err == EBUSY && present) {
            // The kernel will not change an entry's private data size or its
            // number of expectation classes in place: recreate it, which only
            // works while no nft/iptables rule references it.
            int del = send_helper(nl, NFNL_MSG_CTHELPER_DEL, 0, want, Fields::key);
            if (del == EBUSY)
                throw std::runtime_error(fmt::format(
                    "helper {} {} is registered with different parameters and still referenced by ct helper "
                    "objects; run tbhelperctl rules --remove, then tbhelperd --unregister, then start again",
                    kHelperName, entry_name(want)));
            err = del ? del : send_helper(nl, NFNL_MSG_CTHELPER_NEW, NLM_F_CREATE, want, Fields::full);
        }
        if (err == EINVAL)
            throw std::runtime_error(fmt::format(
                "the kernel rejected helper {} {} (EINVAL): it lacks userspace helper support (module "
                "nfnetlink_cthelper, kernel option CONFIG_NF_CT_NETLINK_HELPER) or refuses the policy",
                kHelperName, entry_name(want)));
        if (err) throw netfilter::KernelError(fmt::format("cannot register helper {} {}", kHelperName, entry_name(want)), err);
        result.registered.push_back(want);
    }
    return result;
}

std::vector<std::string> set_helpers_enabled(netfilter::NetlinkSocket& nl, bool enabled) {
    std::vector<std::string> problems;
    std::vector<HelperEntry> present;
    try {
        present = list_registered_helpers(nl);
    } catch (const netfilter::KernelError& e) {
        problems.push_back(e.what());
        return problems;
    }
    for (auto e : wanted_helpers(Config{})) {
        bool there = false;
        for (const auto& x : present)
            if (x.l3 == e.l3 && x.l4 == e.l4) there = true;
        if (!there) continue;  // a status-only NEW cannot create an entry, nor should it
        e.enabled = enabled;
        if (int err = send_helper(nl, NFNL_MSG_CTHELPER_NEW, 0, e, Fields::status))
            problems.push_back(fmt::format("cannot {} helper {} {}: {}", enabled ? "enable" : "disable", kHelperName,
                                           entry_name(e), std::strerror(err)));
    }
    return problems;
}

std::vector<std::string> park_helpers(netfilter::NetlinkSocket& nl) { return set_helpers_enabled(nl, false); }

std::vector<std::string> unregister_helpers(netfilter::NetlinkSocket& nl) {
    std::vector<std::string> problems;
    Config defaults;
    for (const auto& e : wanted_helpers(defaults)) {
        int err = send_helper(nl, NFNL_MSG_CTHELPER_DEL, 0, e, Fields::key);
        if (err == 0 || err == ENOENT) continue;  // gone, or was never there
        if (err == EBUSY)
            problems.push_back(fmt::format("helper {} {} is still referenced by ct helper objects; run tbhelperctl "
                                           "rules --remove first",
                                           kHelperName, entry_name(e)));
        else
            problems.push_back(
                fmt::format("cannot remove helper {} {}: {}", kHelperName, entry_name(e), std::strerror(err)));
    }
    return problems;
}

}  // namespace tb::daemon
