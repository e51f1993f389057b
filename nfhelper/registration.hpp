// tbhelperd's registration as the timbuktu helper: the four entries it asks
// the kernel for (TCP and UDP over IPv4 and IPv6, all naming the configured
// NFQUEUE and expectation policy), carried out by lib/netfilter/cthelper and
// said in the daemon's words (kernel_text.hpp).
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "netfilter/cthelper.hpp"

namespace tb::daemon {

// The four (l3, l4) entries tbhelperd registers, in a fixed order.
std::vector<netfilter::HelperEntry> wanted_helpers(const Config& config);

// Registers (or updates) the four entries. Throws std::runtime_error with
// the one line that says what is wrong.
netfilter::RegistrationResult register_helpers(netfilter::NetlinkSocket& nl, const Config& config);

// How many `timbuktu` entries the kernel has. Throws netfilter::KernelError.
std::size_t registered_count(netfilter::NetlinkSocket& nl);

// Clean stop: keeps the four entries (rules naming the helper stay valid) but
// sets them disabled. Why: while enabled, the kernel's helper function queues
// every packet with the bypass flag; with nobody bound to the queue the packet
// does pass, but the hook returns before conntrack confirms the connection, so
// the connection never becomes established, and its replies are dropped by any
// stateful filter (verified on Debian 12's 6.1 kernel). Disabled, the helper
// function accepts and conntrack confirms: contact connections work, offers are
// simply not acted on (fail-open). Returns one line per entry that failed.
std::vector<std::string> park_helpers(netfilter::NetlinkSocket& nl);

// Deletes the four entries. Returns one line per entry that could not be
// removed (empty: all gone). EBUSY means nft/iptables rules still reference it.
std::vector<std::string> unregister_helpers(netfilter::NetlinkSocket& nl);

}  // namespace tb::daemon
