// The daemon's control socket (docs/control-socket.md): one JSON line each way.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tb::ctl {

// --socket, else $TBHELPER_SOCKET, else /run/tbhelper/tbhelperd.sock.
std::string control_socket_path(const std::string& option);

// Sends {"command": COMMAND}, returns the answer. Throws CtlError(3):
// "cannot reach tbhelperd at PATH: <strerror> (is tbhelperd running? systemctl status tbhelperd)"
// when it cannot connect, and a clear line for a bad, late or {"ok": false} answer.
nlohmann::json control_request(const std::string& path, const std::string& command, int timeout_ms = 5000);

std::string unreachable_message(const std::string& path, const std::string& why);

}  // namespace tb::ctl
