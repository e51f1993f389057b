// tbhelperctl: exit codes, the error that carries one, and small RAII types.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "sys/unique_fd.hpp"

namespace tb::ctl {

// docs/tbhelperctl.md#exit-status
constexpr int kExitOk = 0;
constexpr int kExitProblem = 1;      // the command ran and found a problem (check)
constexpr int kExitUsage = 2;        // usage error
constexpr int kExitUnreachable = 3;  // cannot reach the kernel or the daemon

// A failure that ends the command: `what()` is the one line printed on stderr.
class CtlError : public std::runtime_error {
public:
    CtlError(int exit_code, const std::string& message) : std::runtime_error(message), code_(exit_code) {}
    int exit_code() const { return code_; }

private:
    int code_;
};

constexpr const char* kPermissionMessage = "permission denied talking to the kernel (run as root or with CAP_NET_ADMIN)";

// Throws CtlError(3) for a failed kernel call: the permission message for
// EPERM/EACCES, else "WHAT: strerror".
[[noreturn]] void kernel_failure(const std::string& what, int err);

// The one owning-fd class of every program (sys/unique_fd.hpp).
using Fd = sys::UniqueFd;

}  // namespace tb::ctl
