// Where this machine would send a packet to an address (rtnetlink
// RTM_GETROUTE): the out interface, or "local" when the address is one of
// its own. Used for the reply check of a connection whose original direction
// has not been seen yet (docs/daemon.md#reply-interface): a session restored
// after a restart whose host speaks first. The route to the host is the way
// the original direction leaves (policy routing aside), so a reply is then
// checked against it instead of being trusted or ignored.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "net/address.hpp"
#include "helper/reply_path.hpp"
#include "netfilter/netlink_socket.hpp"

struct nlattr;

namespace tb::netfilter {

class RouteLookup {
public:
    // Never throws: without rtnetlink every lookup answers nullopt, and
    // unavailable() says why (the program decides whether to tell).
    RouteLookup();
    ~RouteLookup();
    RouteLookup(const RouteLookup&) = delete;
    RouteLookup& operator=(const RouteLookup&) = delete;

    // The original path towards `host`, as routing would send it; nullopt when
    // there is no usable route (unreachable, blackhole, error).
    std::optional<helper::OriginalPath> path_to(const IpAddress& host);

    // Why there are no lookups (the socket could not be opened); nullopt when there are.
    const std::optional<std::string>& unavailable() const { return unavailable_; }

private:
    static int read_oif(const struct nlattr* attr, void* data);  // libmnl attribute callback
    std::unique_ptr<NetlinkSocket> nl_;
    std::optional<std::string> unavailable_;
};

}  // namespace tb::netfilter
