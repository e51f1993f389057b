// Startup checks that turn "it does not work" into one line naming the cause:
// privileges, and the kernel's netfilter netlink subsystems (each named by its
// module and its kernel configuration option).
#pragma once

#include <optional>
#include <string>

namespace tb::daemon {

// nullopt when the process has CAP_NET_ADMIN in its effective set, else the
// one-line reason.
std::optional<std::string> check_privileges();

// Runs /sbin/modprobe for the modules tbhelperd needs (failures ignored: the
// modules may be built in, or absent, which the probes below then report).
void load_kernel_modules();

// Asks the kernel whether the netfilter netlink subsystems answer. Returns the
// one-line reason of the first missing one, or nullopt.
std::optional<std::string> check_kernel_support();

}  // namespace tb::daemon
