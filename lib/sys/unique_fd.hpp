// Owning file descriptor: closed exactly once, movable, never copied. The one
// owning-fd class of every program (tbhelperd, tbhelperctl, tbsim). It lives
// in lib/sys/ rather than lib/netfilter/ because tbsim, a Timbuktu guest and
// host over plain sockets, has nothing to do with the kernel adapters.
#pragma once

#include <unistd.h>

#include <utility>

namespace tb::sys {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }
    // Gives the descriptor up without closing it.
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

}  // namespace tb::sys
