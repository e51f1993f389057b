// The kernel side of tbhelperctl, over lib/netfilter's adapters (the ones
// tbhelperd uses): ctnetlink expectations (dump and events) and the userspace
// helpers registered through nfnetlink_cthelper. Failures become CtlError(3)
// with tbhelperctl's words (docs/tbhelperctl.md#exit-status).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ctl/expectations.hpp"
#include "netfilter/cthelper.hpp"

namespace tb::ctl {

// Every expectation in this network namespace, IPv4 and IPv6, any helper.
// Throws CtlError(3) when ctnetlink cannot be reached (permission message for EPERM).
std::vector<ExpectationRow> dump_expectations();

// Calls `on_event("new"|"destroy", row)` for each expectation event until
// SIGINT or SIGTERM (which it blocks and takes through a signalfd). Rows are
// not filtered. `on_lost` is called when the kernel dropped events (ENOBUFS).
void watch_expectations(const std::function<void(const std::string&, const ExpectationRow&)>& on_event,
                        const std::function<void()>& on_lost);

using netfilter::HelperEntry;
struct HelperDump {
    bool ok = false;
    int error = 0;  // errno when !ok (EPERM is thrown instead)
    std::vector<HelperEntry> helpers;
};
// Userspace helpers registered in the kernel (global, not per namespace).
// !ok with error EINVAL/EOPNOTSUPP/EPROTONOSUPPORT typically means the kernel
// lacks nfnetlink_cthelper.
HelperDump dump_helpers();

// "timbuktu ipv4/tcp"
std::string helper_text(const HelperEntry& h);

}  // namespace tb::ctl
