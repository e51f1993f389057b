// Minimal libmnl plumbing shared by the ctnetlink and cthelper code.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <libmnl/libmnl.h>

namespace tb::ctl {

struct MnlClose {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlClose>;

// Receive buffer for dumps and events (the kernel sends up to 32 KiB per skb).
constexpr std::size_t kNetlinkRecvSize = 64 * 1024;

// Opens and binds a NETLINK_NETFILTER socket; throws CtlError(3) on failure.
MnlSocket open_netfilter_socket(unsigned groups = 0);

// Sends `nlh` (a dump request) and feeds every answer message to `cb` until
// the dump ends. Returns 0, or the errno of the failure (NLMSG_ERROR or I/O).
int netlink_dump(mnl_socket* nl, nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& cb);

}  // namespace tb::ctl
