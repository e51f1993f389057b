#include "control_server.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "log.hpp"

namespace tb::daemon {

namespace {

sockaddr_un make_addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path)
        throw std::runtime_error(fmt::format("control socket path too long: {}", path));
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

void make_parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return;
    std::string dir = path.substr(0, slash);
    struct stat st{};
    if (stat(dir.c_str(), &st) == 0) return;
    // One level, as systemd's RuntimeDirectory would: /run/tbhelper.
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        throw std::runtime_error(fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
}

}  // namespace

ControlServer::ControlServer(std::string path, Handler handler) : path_(std::move(path)), handler_(std::move(handler)) {
    make_parent_dir(path_);
    sockaddr_un addr = make_addr(path_);

    struct stat st{};
    if (lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error(fmt::format("{} exists and is not a socket; not touching it", path_));
        // A live daemon answers a connect; a stale socket refuses.
        sys::UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (probe && connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            throw std::runtime_error(fmt::format("another tbhelperd is running (it answers on {})", path_));
        unlink(path_.c_str());
    }

    listen_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listen_) throw std::runtime_error(fmt::format("cannot create the control socket: {}", std::strerror(errno)));
    // Created 0660 from the start (no window where it is wider).
    mode_t old = umask(0117);
    int rc = bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = errno;
    umask(old);
    if (rc != 0) throw std::runtime_error(fmt::format("cannot bind the control socket {}: {}", path_, std::strerror(err)));
    chmod(path_.c_str(), 0660);
    if (listen(listen_.get(), 16) != 0)
        throw std::runtime_error(fmt::format("cannot listen on {}: {}", path_, std::strerror(errno)));
}

ControlServer::~ControlServer() {
    clients_.clear();
    listen_.reset();
    unlink(path_.c_str());
}

void ControlServer::add_pollfds(std::vector<pollfd>& fds) const {
    fds.push_back(pollfd{listen_.get(), POLLIN, 0});
    for (const auto& c : clients_)
        fds.push_back(pollfd{c.fd.get(), static_cast<short>(c.responding ? POLLOUT : POLLIN), 0});
}

bool ControlServer::owns(int fd) const {
    if (fd == listen_.get()) return true;
    for (const auto& c : clients_)
        if (c.fd.get() == fd) return true;
    return false;
}

void ControlServer::on_ready(const pollfd& p) {
    if (p.fd == listen_.get()) {
        accept_clients();
        return;
    }
    for (auto it = clients_.begin(); it != clients_.end(); ++it) {
        if (it->fd.get() != p.fd) continue;
        if (p.revents & (POLLERR | POLLNVAL)) {
            clients_.erase(it);
            return;
        }
        if (!it->responding && (p.revents & (POLLIN | POLLHUP))) read_client(*it);
        else if (it->responding && (p.revents & (POLLOUT | POLLHUP))) write_client(*it);
        if (!it->fd) clients_.erase(it);
        return;
    }
}

void ControlServer::accept_clients() {
    for (int i = 0; i < 16; ++i) {
        sys::UniqueFd fd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) return;
        if (clients_.size() >= kMaxClients) {
            log_warning("control socket: too many clients; dropping one");
            continue;  // closed by sys::UniqueFd
        }
        Client c;
        c.fd = std::move(fd);
        c.deadline = std::chrono::steady_clock::now() + kClientTimeout;
        clients_.push_back(std::move(c));
    }
}

void ControlServer::read_client(Client& c) {
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c.fd.get(), buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            c.fd.reset();
            return;
        }
        if (n == 0) {  // EOF before a newline: treat what came as the request
            if (c.in.empty()) {
                c.fd.reset();
                return;
            }
            break;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
        auto nl = c.in.find('\n');
        if (nl != std::string::npos) {
            c.in.resize(nl);
            break;
        }
        if (c.in.size() > kMaxLine) {
            c.out = R"({"ok": false, "error": "request longer than 64 KiB"})";
            c.out.push_back('\n');
            c.responding = true;
            write_client(c);
            return;
        }
    }
    std::string response;
    try {
        response = handler_(c.in);
    } catch (const std::exception& e) {
        response = R"({"ok": false, "error": "internal error"})";
        log_error("control socket: {}", e.what());
    }
    response.push_back('\n');
    c.out = std::move(response);
    c.responding = true;
    write_client(c);
}

void ControlServer::write_client(Client& c) {
    while (c.out_sent < c.out.size()) {
        ssize_t n = send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            c.fd.reset();
            return;
        }
        c.out_sent += static_cast<std::size_t>(n);
    }
    c.fd.reset();  // one request, one response: done
}

int ControlServer::expire() {
    auto now = std::chrono::steady_clock::now();
    int next = -1;
    for (auto it = clients_.begin(); it != clients_.end();) {
        if (!it->fd || it->deadline <= now) {
            it = clients_.erase(it);
            continue;
        }
        int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(it->deadline - now).count()) + 1;
        if (next < 0 || ms < next) next = ms;
        ++it;
    }
    return next;
}

}  // namespace tb::daemon
