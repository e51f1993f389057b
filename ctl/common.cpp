#include "common.hpp"

#include <cerrno>
#include <cstring>

namespace tb::ctl {

void kernel_failure(const std::string& what, int err) {
    if (err == EPERM || err == EACCES) throw CtlError(kExitUnreachable, kPermissionMessage);
    throw CtlError(kExitUnreachable, what + ": " + std::strerror(err));
}

}  // namespace tb::ctl
