// Userspace conntrack helpers in the kernel (nfnetlink_cthelper), for both
// programs: tbhelperd registers, parks and removes its four entries (TCP and
// UDP over IPv4 and IPv6, all naming the same NFQUEUE and expectation
// policy); tbhelperctl lists them. Results are typed; the programs say what
// they mean in their own words (nfhelper/kernel_text.hpp for the daemon).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netfilter/netlink_socket.hpp"

namespace tb::netfilter {

// One registration, as tbhelperd asks for it or as the kernel lists it
// (a listing fills name, l3, l4, queue, priv_data_len and enabled).
struct HelperEntry {
    std::string name;
    std::uint16_t l3 = 0;  // AF_INET / AF_INET6
    std::uint8_t l4 = 0;   // IPPROTO_TCP / IPPROTO_UDP
    std::uint32_t queue = 0;
    std::uint32_t priv_data_len = 0;
    std::uint32_t max_expected = 0;
    std::uint32_t expect_timeout = 0;
    // NFCTH_STATUS: a parked helper (tbhelperd's clean stop) is disabled. A
    // kernel that lists no status has no way to disable one: enabled.
    bool enabled = true;
};
// Inline and without the netfilter libraries, so that pure code (the
// daemon's words, its unit tests) names entries without linking them.
inline std::string l3_name(std::uint16_t l3) {  // "ipv4" / "ipv6"
    return l3 == AF_INET ? "ipv4" : l3 == AF_INET6 ? "ipv6" : "l3-" + std::to_string(l3);
}
inline std::string l4_name(std::uint8_t l4) {  // "tcp" / "udp"
    return l4 == IPPROTO_TCP ? "tcp" : l4 == IPPROTO_UDP ? "udp" : "l4-" + std::to_string(l4);
}
inline std::string entry_name(const HelperEntry& e) { return l3_name(e.l3) + "/" + l4_name(e.l4); }  // "ipv4/tcp"

// At most this many entries are kept from one listing, whatever the kernel sends.
inline constexpr std::size_t kMaxListedHelpers = 64;

// Every userspace helper the kernel has (global, not per network namespace)
// into `out`. Returns 0 or the positive errno (EINVAL, EOPNOTSUPP or
// EPROTONOSUPPORT typically: the kernel lacks nfnetlink_cthelper).
int list_helpers(NetlinkSocket& nl, std::vector<HelperEntry>& out);

// What went wrong with one entry.
struct HelperFailure {
    enum class Step { list, create, enable, disable, remove };
    enum class Kind {
        kernel_error,        // `err` says why
        still_referenced,    // EBUSY: ct helper objects (nft/iptables rules) name it
        other_parameters,    // registered with another private data size and still referenced: cannot replace it
        no_cthelper_support, // EINVAL on create: no nfnetlink_cthelper, or the policy is refused
    };
    Step step = Step::create;
    Kind kind = Kind::kernel_error;
    HelperEntry entry;  // empty for Step::list
    int err = 0;
};

struct RegistrationResult {
    std::vector<HelperEntry> registered;  // what the kernel now has
    bool replaced_existing = false;       // some entry was already there (daemon restart)
    bool found_enabled = false;           // ... and enabled: the previous daemon did not stop cleanly
    int list_error = 0;                   // the listing before failed (not fatal: creation says what is wrong)
    std::optional<HelperFailure> failure; // registration stopped here; `registered` holds what came before
};

// Creates or updates the `wanted` entries in order (NFNL_MSG_CTHELPER_NEW
// without NLM_F_EXCL updates an existing helper in place: queue, policy,
// status). An entry the kernel cannot update (its private data size differs,
// e.g. left by another version) is deleted and created again when nothing
// references it. Stops at the first failure.
RegistrationResult register_helpers(NetlinkSocket& nl, const std::vector<HelperEntry>& wanted);

// Sets the status of those of `entries` the kernel has (a status-only update
// cannot create one). Parking is set_helpers_enabled(false): why a clean stop
// parks rather than removes is in docs/daemon.md#fail-open. One failure a
// entry that failed (a failed listing: one failure of Step::list).
std::vector<HelperFailure> set_helpers_enabled(NetlinkSocket& nl, const std::vector<HelperEntry>& entries,
                                               bool enabled);

// Deletes `entries`; absent ones are not a failure.
std::vector<HelperFailure> unregister_helpers(NetlinkSocket& nl, const std::vector<HelperEntry>& entries);

}  // namespace tb::netfilter
