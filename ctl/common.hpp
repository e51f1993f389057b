// tbhelperctl: exit codes, the error that carries one, and small RAII types.
#pragma once

#include <unistd.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace tb::ctl {

// spec/interfaces.md
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

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

}  // namespace tb::ctl
