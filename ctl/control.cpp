#include "control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "text/escape.hpp"
#include "config/config.hpp"
#include "common.hpp"
#include "ctl/format.hpp"

namespace tb::ctl {

namespace {
constexpr std::size_t kMaxLine = 64 * 1024;  // docs/control-socket.md
}

std::string control_socket_path(const std::string& option) {
    if (!option.empty()) return option;
    if (const char* env = std::getenv("TBHELPER_SOCKET"); env && *env) return env;
    return kDefaultControlSocket;
}

std::string unreachable_message(const std::string& path, const std::string& why) {
    return fmt::format("cannot reach tbhelperd at {}: {} (is tbhelperd running? systemctl status tbhelperd)", path,
                       why);
}

nlohmann::json control_request(const std::string& path, const std::string& command, int timeout_ms) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw CtlError(kExitUsage, fmt::format("socket path too long ({} bytes, at most {}): {}", path.size(),
                                               sizeof addr.sun_path - 1, path));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw CtlError(kExitUnreachable, unreachable_message(path, std::strerror(errno)));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw CtlError(kExitUnreachable, unreachable_message(path, std::strerror(errno)));

    const std::string request = dump_json(nlohmann::json{{"command", command}}) + "\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw CtlError(kExitUnreachable, unreachable_message(path, std::strerror(errno)));
        sent += static_cast<std::size_t>(n);
    }

    std::string answer;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    while (answer.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            throw CtlError(kExitUnreachable, fmt::format("tbhelperd at {} did not answer '{}' within {} ms", path,
                                                         command, timeout_ms));
        pollfd p{fd.get(), POLLIN, 0};
        int pr = ::poll(&p, 1, static_cast<int>(left.count()));
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) throw CtlError(kExitUnreachable, unreachable_message(path, std::strerror(errno)));
        if (pr == 0) continue;
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw CtlError(kExitUnreachable, unreachable_message(path, std::strerror(errno)));
        if (n == 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
        if (answer.size() > kMaxLine)
            throw CtlError(kExitUnreachable,
                           fmt::format("tbhelperd at {} sent an answer longer than {} bytes", path, kMaxLine));
    }
    if (auto nl = answer.find('\n'); nl != std::string::npos) answer.resize(nl);
    if (answer.empty())
        throw CtlError(kExitUnreachable, fmt::format("tbhelperd at {} closed the connection without answering '{}'",
                                                     path, command));
    auto j = nlohmann::json::parse(answer, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw CtlError(kExitUnreachable, fmt::format("tbhelperd at {} answered '{}' with something that is not a JSON object",
                                                     path, command));
    if (!j.value("ok", false)) {
        std::string err = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "no reason given";
        throw CtlError(kExitUnreachable,
                       fmt::format("tbhelperd at {} refused '{}': {}", path, command, escape_untrusted(err)));
    }
    return j;
}

}  // namespace tb::ctl
