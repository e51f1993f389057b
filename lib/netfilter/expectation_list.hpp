// The kernel's expectations as ctnetlink lists them (IPCTNL_MSG_EXP_GET dump)
// and announces them (NFNLGRP_CONNTRACK_EXP_NEW / _DESTROY events), parsed
// with libnetfilter_conntrack into ListedExpectation (netfilter/expectation.hpp).
// No words here: callers say what a failure means to their user.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "netfilter/expectation.hpp"
#include "netfilter/netlink_socket.hpp"

namespace tb::netfilter {

// At most this many expectations are kept from one dump, whatever the kernel sends.
inline constexpr std::size_t kMaxListedExpectations = 65536;

// Every TCP or UDP expectation of this network namespace, IPv4 and IPv6, any
// helper, into `out`. Returns 0 or the positive errno of the failure.
int list_expectations(NetlinkSocket& nl, std::vector<ListedExpectation>& out);

// A socket subscribed to the expectation events of this network namespace.
class ExpectationEvents {
public:
    enum class Kind { created, destroyed };
    using Callback = std::function<void(Kind, const ListedExpectation&)>;

    ExpectationEvents();  // throws KernelError (no socket, no subscription)
    int fd() const { return nl_.fd(); }

    // Reads what is waiting (one receive) and calls `on_event` for every TCP
    // or UDP expectation event in it. Returns 0, EAGAIN/EINTR when nothing was
    // read, ENOBUFS when the kernel dropped events (the socket buffer was
    // full), or another positive errno.
    int read(const Callback& on_event);

private:
    NetlinkSocket nl_;
    std::vector<char> buf_;
};

}  // namespace tb::netfilter
