// Fail-open after a crash. A clean stop parks the helper (registered but
// disabled, see park_helpers); a daemon that dies (SIGKILL, SIGSEGV, abort)
// cannot. Left enabled with nobody reading its queue, the helper blocks new
// connections on its ports (their conntrack is never confirmed). So a tiny
// watchdog process, forked at startup, waits on a pipe; when the pipe reports
// EOF without a "clean stop" message first, the daemon is gone and the
// watchdog parks the helper, unless a new daemon already reads the queue.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "sys/unique_fd.hpp"

namespace tb::daemon {

class CrashWatchdog {
public:
    // Forks the watchdog. nullopt (with a logged warning) when it cannot.
    static std::optional<CrashWatchdog> start(std::uint16_t queue, std::uint32_t portid);
    CrashWatchdog(CrashWatchdog&&) = default;
    CrashWatchdog& operator=(CrashWatchdog&&) = default;
    ~CrashWatchdog() = default;

    // The queue (and our socket's port id on it) changed (SIGHUP).
    void tell_queue(std::uint16_t queue, std::uint32_t portid);
    // The helper is parked: nothing for the watchdog to do.
    void disarm();

private:
    CrashWatchdog(sys::UniqueFd fd, pid_t pid) : fd_(std::move(fd)), pid_(pid) {}
    sys::UniqueFd fd_;
    pid_t pid_ = -1;
};

}  // namespace tb::daemon
