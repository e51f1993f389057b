// The control socket of docs/control-socket.md: unix stream, one request line
// in, one response line out, then close. Non-blocking and bounded (clients,
// line length, 2 s per client), driven by the daemon's single poll loop.
#pragma once

#include <poll.h>

#include <chrono>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <vector>

#include "sys/unique_fd.hpp"

namespace tb::daemon {

class ControlServer {
public:
    using Handler = std::function<std::string(std::string_view request)>;

    // Creates the socket's directory (0755) when missing, removes a stale
    // socket, binds, sets mode 0660, listens. Throws std::runtime_error with a
    // one-line reason (e.g. another tbhelperd answers on the path).
    ControlServer(std::string path, Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Appends the fds to poll; `tag` of each is this server.
    void add_pollfds(std::vector<pollfd>& fds) const;
    // Handles whatever poll reported for one of our fds.
    void on_ready(const pollfd& p);
    // Drops clients past their deadline; returns ms until the next deadline (or -1).
    int expire();
    bool owns(int fd) const;
    const std::string& path() const { return path_; }

    static constexpr std::size_t kMaxLine = 64 * 1024;
    static constexpr std::size_t kMaxClients = 32;
    static constexpr std::chrono::milliseconds kClientTimeout{2000};

private:
    struct Client {
        sys::UniqueFd fd;
        std::string in;
        std::string out;
        std::size_t out_sent = 0;
        bool responding = false;
        std::chrono::steady_clock::time_point deadline;
    };
    void accept_clients();
    void read_client(Client& c);
    void write_client(Client& c);

    std::string path_;
    Handler handler_;
    sys::UniqueFd listen_;
    std::list<Client> clients_;
};

}  // namespace tb::daemon
