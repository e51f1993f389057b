// The kernel side of "tbhelperd is the timbuktu helper": four userspace
// conntrack helper registrations (nfnetlink_cthelper), TCP and UDP over IPv4
// and IPv6, all naming the same NFQUEUE and expectation policy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "netfilter/netlink_socket.hpp"

namespace tb::daemon {

struct HelperEntry {
    std::string name;
    std::uint16_t l3 = 0;  // AF_INET / AF_INET6
    std::uint8_t l4 = 0;   // IPPROTO_TCP / IPPROTO_UDP
    std::uint32_t queue = 0;
    std::uint32_t priv_data_len = 0;
    std::uint32_t max_expected = 0;
    std::uint32_t expect_timeout = 0;
    bool enabled = false;
};
std::string l3_name(std::uint16_t l3);  // "ipv4" / "ipv6"
std::string l4_name(std::uint8_t l4);   // "tcp" / "udp"

// The four (l3, l4) pairs tbhelperd registers, in a fixed order.
std::vector<HelperEntry> wanted_helpers(const Config& config);

// The kernel's current userspace helpers named `timbuktu`. Throws netfilter::KernelError.
std::vector<HelperEntry> list_registered_helpers(netfilter::NetlinkSocket& nl);

struct RegistrationResult {
    std::vector<HelperEntry> registered;  // what the kernel now has
    bool replaced_existing = false;       // some entry was already there (daemon restart)
    bool found_enabled = false;           // ... and enabled: the previous daemon did not stop cleanly
};

// Creates or updates the four entries (NFNL_MSG_CTHELPER_NEW without
// NLM_F_EXCL updates an existing helper in place: queue, policy, status). An
// entry the kernel cannot update (its private data size differs, e.g. left by
// another version) is deleted and created again when nothing references it.
// Throws std::runtime_error with a one-line reason.
RegistrationResult register_helpers(netfilter::NetlinkSocket& nl, const Config& config);

// Clean stop: keeps the four entries (rules naming the helper stay valid) but
// sets them disabled. Why: while enabled, the kernel's helper function queues
// every packet with the bypass flag; with nobody bound to the queue the packet
// does pass, but the hook returns before conntrack confirms the connection, so
// the connection never becomes established, and its replies are dropped by any
// stateful filter (verified on Debian 12's 6.1 kernel). Disabled, the helper
// function accepts and conntrack confirms: contact connections work, offers are
// simply not acted on (fail-open). Returns one line per entry that failed.
std::vector<std::string> park_helpers(netfilter::NetlinkSocket& nl);
// Sets the status of the registered entries only (park: false).
std::vector<std::string> set_helpers_enabled(netfilter::NetlinkSocket& nl, bool enabled);

// Deletes the four entries. Returns one line per entry that could not be
// removed (empty: all gone). EBUSY means nft/iptables rules still reference it.
std::vector<std::string> unregister_helpers(netfilter::NetlinkSocket& nl);

}  // namespace tb::daemon
