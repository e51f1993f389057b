#include "commands.hpp"
#include "common.hpp"

namespace tb::ctl {
int cmd_analyze(const Globals&, const std::string&) {
    throw CtlError(kExitUnreachable, "analyze: not implemented yet");
}
}  // namespace tb::ctl
