// tbhelperd's process: startup checks, the kernel registration, one
// single-threaded poll loop over the queue, the signals and the control
// socket, configuration reload, clean stop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "helper_core.hpp"
#include "netfilter/cthelper.hpp"
#include "netfilter/netlink_socket.hpp"
#include "netfilter/queue_reader.hpp"
#include "sys/unique_fd.hpp"
#include "state_peer.hpp"
#include "watchdog.hpp"

namespace tb::daemon {

class ControlServer;
class HelperCore;
using netfilter::QueueReader;
using netfilter::QueueStats;

struct Options {
    std::string config_path = kDefaultConfigPath;
    bool config_explicit = false;  // a missing explicit file is an error; a missing default means defaults
    bool foreground = false;
    std::string socket_path = kDefaultControlSocket;
};

// Reads the configuration as Options say. Throws ConfigError / runtime_error.
Config read_config(const Options& opts);

// A startup failure: what() is the one line the operator reads.
class StartupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Daemon {
public:
    Daemon(Options opts, Config config);
    ~Daemon();
    // Sets everything up (throws StartupError), then runs until SIGTERM/SIGINT.
    // Returns the process exit status.
    int run();

private:
    void setup();
    void loop();
    void stop();
    void reload();
    void on_signals(bool& stop);
    std::string control_request(std::string_view line);
    std::string status_json() const;
    std::string expectations_json() const;
    std::string sessions_json() const;
    std::unique_ptr<QueueReader> bind_queue(std::uint16_t queue, bool gso);  // throws QueueBindError
    // Reads the contact queue (at most `max_packets`) and, after every
    // receive that sent packets on, the segment queue (docs/daemon.md#gso).
    std::size_t serve_queues(std::size_t max_packets);
    void serve_segments();
    // Answers everything the queues hold (before a queue is closed).
    void drain_queues();
    QueueRole contact_role() const;
    void on_queue_event(std::uint16_t queue, const netfilter::QueueEvent& e);

    Options opts_;
    Config config_;
    std::chrono::steady_clock::time_point started_;
    std::unique_ptr<netfilter::NetlinkSocket> reg_nl_;  // nfnetlink_cthelper: register / update
    std::unique_ptr<HelperCore> core_;
    std::unique_ptr<QueueReader> queue_;
    // The segment queue (docs/daemon.md#gso): bound when gso is on, without
    // NFQA_CFG_F_GSO, so the kernel segments what the contact queue sends it.
    std::unique_ptr<QueueReader> segments_;
    QueueStats queue_stats_;
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<StatePeer> peer_;  // a firewall pair's other daemon (docs/ha.md#session-state)
    std::vector<netfilter::HelperEntry> helpers_;
    std::uint32_t verdict_rejected_logged_ = 0;  // the second of the last such line
    sys::UniqueFd signal_fd_;
    std::optional<CrashWatchdog> watchdog_;
};

// sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET, if set.
void notify_systemd(const char* state);

}  // namespace tb::daemon
