#include "daemon.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control_server.hpp"
#include "helper/counter_table.hpp"
#include "helper_core.hpp"
#include "kernel_text.hpp"
#include "log.hpp"
#include "registration.hpp"
#include "system_checks.hpp"
#include "timbuktu/services.hpp"

namespace tb::daemon {

namespace {

// Packets handled per loop turn before the other fds get a look: keeps the
// control socket and signals responsive under a packet flood.
constexpr std::size_t kPacketsPerTurn = 256;
constexpr int kHousekeepingMs = 10000;

bool file_missing(const std::string& path) {
    struct stat st{};
    return stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

}  // namespace

Config read_config(const Options& opts) {
    if (!opts.config_explicit && file_missing(opts.config_path)) return Config{};
    return load_config_file(opts.config_path);
}

void notify_systemd(const char* state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path) return;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    sys::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return;
    sendto(fd.get(), state, std::strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

Daemon::Daemon(Options opts, Config config) : opts_(std::move(opts)), config_(std::move(config)) {}
Daemon::~Daemon() = default;

std::unique_ptr<QueueReader> Daemon::bind_queue(std::uint16_t queue, bool gso) {
    return std::make_unique<QueueReader>(
        queue, queue_stats_, [this](std::uint16_t q, const netfilter::QueueEvent& e) { on_queue_event(q, e); }, gso);
}

QueueRole Daemon::contact_role() const {
    QueueRole role;
    if (segments_) role.segment_queue = segments_->number();
    return role;
}

std::size_t Daemon::serve_queues(std::size_t max_packets) {
    // One receive of the contact queue at a time, and after each that sent
    // packets on, the segment queue until it is empty (docs/daemon.md#gso):
    // a requeued super-packet becomes up to 45 segments there (more with a
    // small MSS), so reading many receives first could fill that queue,
    // whose overflow lets segments pass unexamined (fail-open).
    const QueueRole contact = contact_role();
    auto on_contact = [this, &contact](netfilter::QueuedPacket& p) { return core_->on_packet(p, contact); };
    std::size_t handled = 0;
    while (handled < max_packets) {
        const auto requeued = queue_stats_.segment_requeues;
        const std::size_t got = queue_->process(on_contact, QueueReader::kReceiveBatch);
        handled += got;
        if (queue_stats_.segment_requeues != requeued) serve_segments();
        if (got < QueueReader::kReceiveBatch) break;  // nothing more was waiting
    }
    return handled;
}

void Daemon::serve_segments() {
    if (!segments_) return;
    const QueueRole segment{std::nullopt, true};
    auto on_segment = [this, &segment](netfilter::QueuedPacket& p) { return core_->on_packet(p, segment); };
    for (int i = 0; i < 64 && segments_->process(on_segment, kPacketsPerTurn) > 0; ++i) {
    }
}

void Daemon::drain_queues() {
    for (int i = 0; i < 64 && serve_queues(kPacketsPerTurn) > 0; ++i) {
    }
    serve_segments();
}

void Daemon::on_queue_event(std::uint16_t queue, const netfilter::QueueEvent& e) {
    if (std::holds_alternative<netfilter::queue_event::VerdictRejected>(e)) {
        // One line per distinct second at most: a storm must not flood the log.
        const auto now = static_cast<std::uint32_t>(std::time(nullptr));
        if (now == verdict_rejected_logged_) return;
        verdict_rejected_logged_ = now;
    }
    const LogLine line = queue_event_line(queue, e);
    if (!line.text.empty() && Log::enabled(line.level)) Log::write(line.level, line.text);
}

void Daemon::setup() {
    started_ = std::chrono::steady_clock::now();
    if (auto why = check_privileges()) throw StartupError(*why);
    load_kernel_modules();
    if (auto why = check_kernel_support()) throw StartupError(*why);

    // Signals through a signalfd, so they are just another fd in the poll loop.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);
    signal_fd_.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signal_fd_) throw StartupError(fmt::format("signalfd: {}", std::strerror(errno)));

    try {
        core_ = std::make_unique<HelperCore>(config_);
        if (config_.ha_enabled()) {
            peer_ = std::make_unique<StatePeer>(
                config_, [this] { return core_->live_states(config_.session_capacity); });
            core_->set_peer(peer_.get());
        }
        // Bind first: if another process holds the queue we stop here without
        // touching the kernel's helper registration. The segment queue
        // before the contact queue, so that nothing is sent to it unread.
        if (config_.gso) {
            try {
                segments_ = bind_queue(config_.segment_queue_number(), false);
            } catch (const netfilter::QueueBindError& e) {
                throw StartupError(fmt::format("{} (the segment queue of gso = true, docs/daemon.md#gso): set "
                                               "segment_queue to a free queue, or gso = false",
                                               queue_bind_text(e)));
            }
        }
        queue_ = bind_queue(config_.queue, config_.gso);
        reg_nl_ = std::make_unique<netfilter::NetlinkSocket>(NETLINK_NETFILTER);
        auto reg = register_helpers(*reg_nl_, config_);
        helpers_ = reg.registered;
        if (reg.found_enabled)
            // The registration is global but the queue is per network namespace: a
            // daemon in another namespace of this kernel (docs/ha.md#test-bed) looks
            // the same from here, so the message names both causes.
            log_warning("helper {} was registered and enabled while no daemon read queue {} in this network "
                        "namespace: either the previous daemon did not stop cleanly (then new connections on "
                        "the helper's ports were not confirmed by conntrack meanwhile and a stateful filter "
                        "dropped their replies), or another tbhelperd runs in another network namespace of "
                        "this kernel (docs/ha.md#test-bed); updated it in place",
                        kHelperName, config_.queue);
        else if (reg.replaced_existing)
            log_warning("helper {} was registered while no daemon read queue {}: connections passed unexamined "
                        "in that time (fail-open); enabled it again",
                        kHelperName, config_.queue);
        // The control socket comes last: its existence tells systemd and the
        // tests that the helper is registered and the queue is read.
        control_ = std::make_unique<ControlServer>(opts_.socket_path,
                                                   [this](std::string_view line) { return control_request(line); });
    } catch (const netfilter::QueueBindError& e) {
        throw StartupError(queue_bind_text(e));
    } catch (const netfilter::KernelError& e) {
        throw StartupError(e.what());
    } catch (const StartupError&) {
        throw;
    } catch (const std::runtime_error& e) {
        throw StartupError(e.what());
    }
    log_info("tbhelperd {} ready: helper {} (tcp, udp over ipv4, ipv6) on queue {}, max {} expectations of {} s "
             "per connection, {} sessions tracked at most, control socket {}",
             TBHELPER_VERSION, kHelperName, config_.queue, config_.max_expectations, config_.expectation_timeout,
             config_.session_capacity, opts_.socket_path);
    if (segments_)
        log_info("GSO: super-packets are read whole on queue {}; what must be read as segments goes on to queue {} "
                 "(docs/daemon.md#gso)",
                 config_.queue, segments_->number());
    if (peer_)
        log_info("firewall pair: session state shared with the daemon at {} over {} (UDP {}; docs/ha.md#session-state)",
                 peer_->peer().to_string(), peer_->interface(), peer_->port());
    if (!config_.reply_interface_check)
        log_warning("reply_interface_check = false: replies are acted on whatever interface they arrive on; the "
                    "ruleset must stop packets that forge a host's address (docs/daemon.md#reply-interface)");
}

int Daemon::run() {
    setup();
    if (!opts_.foreground) {
        // Classic daemon: the parent returns only once everything above worked,
        // so a startup error is still reported by the command that was run.
        pid_t pid = fork();
        if (pid < 0) throw StartupError(fmt::format("fork: {}", std::strerror(errno)));
        // The child owns the sockets now; _exit skips every destructor, so the
        // parent neither unbinds the queue nor unlinks the control socket.
        if (pid > 0) _exit(0);
        setsid();
        if (chdir("/") != 0) { /* nothing depends on the cwd */ }
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            close(devnull);
        }
    }
    // After the fork above, so that the watchdog watches the process that runs.
    watchdog_ = CrashWatchdog::start(config_.queue, queue_->portid());
    notify_systemd("READY=1");
    // Startup is over: from now on the log goes through its rate limit
    // (docs/daemon.md#log-rate-limit); nothing said during startup was suppressed.
    Log::start_rate_limit();
    loop();
    notify_systemd("STOPPING=1");
    stop();
    return 0;
}

void Daemon::stop() {
    // First let the kernel stop queueing (see park_helpers), then answer what
    // is already queued: closing the queue with packets in it drops them.
    auto problems = park_helpers(*reg_nl_);
    for (const auto& p : problems) log_error("{}", p);
    drain_queues();
    if (problems.empty() && watchdog_) watchdog_->disarm();
    if (problems.empty())
        log_info("stopped: helper {} stays registered but disabled, so the rules that name it stay valid and its "
                 "connections pass unexamined until tbhelperd runs again (fail-open)",
                 kHelperName);
    control_.reset();
    queue_.reset();
    segments_.reset();
}

void Daemon::loop() {
    bool stop = false;
    auto next_housekeeping = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHousekeepingMs);
    std::vector<pollfd> fds;
    while (!stop) {
        fds.clear();
        fds.push_back(pollfd{signal_fd_.get(), POLLIN, 0});
        fds.push_back(pollfd{queue_->fd(), POLLIN, 0});
        const std::size_t segment_slot = fds.size();
        if (segments_) fds.push_back(pollfd{segments_->fd(), POLLIN, 0});
        const std::size_t peer_slot = fds.size();
        if (peer_) fds.push_back(pollfd{peer_->fd(), POLLIN, 0});
        control_->add_pollfds(fds);

        int timeout = control_->expire();
        auto now = std::chrono::steady_clock::now();
        int hk = static_cast<int>(
            std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(next_housekeeping - now).count()));
        if (timeout < 0 || hk < timeout) timeout = hk;

        int n = poll(fds.data(), fds.size(), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            log_error("poll: {}", std::strerror(errno));
            break;
        }
        if (fds[1].revents) serve_queues(kPacketsPerTurn);
        if (segments_ && fds[segment_slot].revents) serve_segments();
        if (fds[0].revents) on_signals(stop);
        Log::flush_suppressed();  // the "N messages suppressed" line, once the limit allows it
        if (peer_ && fds[peer_slot].revents) peer_->on_readable(std::time(nullptr));
        for (std::size_t i = peer_slot; i < fds.size(); ++i)
            if (fds[i].revents && control_->owns(fds[i].fd)) control_->on_ready(fds[i]);

        now = std::chrono::steady_clock::now();
        if (now >= next_housekeeping) {
            core_->housekeeping(std::time(nullptr));
            if (peer_) peer_->housekeeping(std::time(nullptr));
            next_housekeeping = now + std::chrono::milliseconds(kHousekeepingMs);
        }
    }
}

void Daemon::on_signals(bool& stop) {
    signalfd_siginfo si;
    while (read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        switch (si.ssi_signo) {
            case SIGTERM:
            case SIGINT:
                log_info("signal {} received", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                stop = true;
                break;
            case SIGHUP:
                reload();
                break;
        }
    }
}

void Daemon::reload() {
    notify_systemd("RELOADING=1");
    Config next;
    try {
        next = read_config(opts_);
    } catch (const std::exception& e) {
        log_error("reload: {}; keeping the previous configuration", e.what());
        notify_systemd("READY=1");
        return;
    }
    Log::set_level(next.log_level);
    try {
        if (next.queue != config_.queue && segments_ && next.queue == segments_->number()) {
            log_error("reload: queue {} is the segment queue (segment_queue, docs/daemon.md#gso); keeping queue {}",
                      next.queue, config_.queue);
            next.queue = config_.queue;
        }
        if (next.queue != config_.queue) {
            // Bind the new queue before pointing the helper at it; then drain
            // what the old queue still holds (closing it would drop those).
            auto fresh = bind_queue(next.queue, queue_->gso());
            helpers_ = register_helpers(*reg_nl_, next).registered;
            drain_queues();
            queue_ = std::move(fresh);
            if (watchdog_) watchdog_->tell_queue(queue_->number(), queue_->portid());
            log_info("reload: now reading queue {}", next.queue);
        } else if (next.max_expectations != config_.max_expectations ||
                   next.expectation_timeout != config_.expectation_timeout) {
            helpers_ = register_helpers(*reg_nl_, next).registered;
        }
    } catch (const netfilter::QueueBindError& e) {
        log_error("reload: {}; keeping queue {} and the registered policy", queue_bind_text(e), config_.queue);
        next.queue = config_.queue;
        next.max_expectations = config_.max_expectations;
        next.expectation_timeout = config_.expectation_timeout;
    } catch (const std::exception& e) {
        log_error("reload: {}; keeping queue {} and the registered policy", e.what(), config_.queue);
        next.queue = config_.queue;
        next.max_expectations = config_.max_expectations;
        next.expectation_timeout = config_.expectation_timeout;
    }
    // The segment queue stays as bound at start (a second queue to rebind
    // and drain in the right order for keys nobody changes at run time). Only
    // what the file says explicitly is compared: a new `queue` alone moves
    // the derived default, which is not a request to move the segment queue.
    const bool segment_moved = segments_ && next.segment_queue && *next.segment_queue != segments_->number();
    if (next.gso != (segments_ != nullptr) || segment_moved)
        log_warning("reload: gso and segment_queue take effect at the next start; keeping {}",
                    segments_ ? fmt::format("segment queue {}", segments_->number()) : std::string("gso = false"));
    if (next.ha_sync_interface != config_.ha_sync_interface || next.ha_sync_peer != config_.ha_sync_peer ||
        next.ha_sync_port != config_.ha_sync_port) {
        log_warning("reload: the ha_sync_* keys take effect at the next start; keeping the sync link as it is");
        next.ha_sync_interface = config_.ha_sync_interface;
        next.ha_sync_peer = config_.ha_sync_peer;
        next.ha_sync_port = config_.ha_sync_port;
    }
    config_ = next;
    core_->apply_config(config_);
    log_info("reload: configuration {} applied (queue {}, max {} expectations of {} s, nat_rewrite {}, "
             "reply_interface_check {}, session_capacity {}, log_level {})",
             opts_.config_path, config_.queue, config_.max_expectations, config_.expectation_timeout,
             config_.nat_rewrite, config_.reply_interface_check, config_.session_capacity,
             log_level_name(config_.log_level));
    notify_systemd("READY=1");
}

std::string Daemon::control_request(std::string_view line) {
    nlohmann::json req;
    try {
        req = nlohmann::json::parse(line);
    } catch (const std::exception&) {
        return nlohmann::json{{"ok", false}, {"error", "request is not a JSON object"}}.dump();
    }
    if (!req.is_object() || !req.contains("command") || !req["command"].is_string())
        return nlohmann::json{{"ok", false}, {"error", "request has no \"command\""}}.dump();
    const std::string cmd = req["command"].get<std::string>();
    if (cmd == "status") return status_json();
    if (cmd == "expectations") return expectations_json();
    if (cmd == "sessions") return sessions_json();
    std::string shown = cmd.size() > 64 ? cmd.substr(0, 64) + "..." : cmd;
    return nlohmann::json{{"ok", false}, {"error", fmt::format("unknown command '{}'", shown)}}
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Daemon::status_json() const {
    using nlohmann::json;
    const auto& c = core_->counters();
    const auto& k = core_->kernel_counters();
    const auto& q = queue_stats_;
    json helpers = json::array();
    for (const auto& h : helpers_)
        helpers.push_back({{"name", h.name}, {"l3", netfilter::l3_name(h.l3)}, {"l4", netfilter::l4_name(h.l4)}});
    json opcodes = json::object();
    for (const auto& [op, n] : c.other_opcodes) opcodes[fmt::format("0x{:04x}", op)] = n;
    double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const helper::CounterSources::Daemon gauges{Log::suppressed_total(), core_->sessions_tracked(),
                                                core_->session_capacity()};
    const helper::CounterSources sources{&c, &k, &q, &core_->hold_budget(), &gauges};
    json counters = json::object();
    json hold_budget = json::object();
    json j = {{"ok", true},
              {"version", TBHELPER_VERSION},
              {"queue", config_.queue},
              {"segment_queue", segments_ ? json(segments_->number()) : json(nullptr)},
              {"pid", static_cast<long>(getpid())},
              {"helpers", helpers},
              {"uptime", std::round(uptime * 10) / 10},
              {"config", opts_.config_path}};
    // Every figure from the one table (helper/counter_table.hpp).
    for (const auto& info : helper::counter_table()) {
        auto value = info.read(sources);
        if (!value) continue;
        const std::string key(info.status_key);
        switch (info.place) {
            case helper::StatusPlace::counters: counters[key] = *value; break;
            case helper::StatusPlace::top: j[key] = *value; break;
            case helper::StatusPlace::hold_budget: hold_budget[key] = *value; break;
        }
    }
    counters["other_opcodes"] = opcodes;
    if (peer_) {
        const auto& pc = peer_->counters();
        j["ha_sync"] = {{"interface", peer_->interface()},
                        {"peer", peer_->peer().to_string()},
                        {"port", peer_->port()},
                        {"held", peer_->held()},
                        {"sent", pc.sent},
                        {"send_errors", pc.send_errors},
                        {"received", pc.received},
                        {"rejected", pc.rejected},
                        {"resync_requests", pc.resync_requests}};
    }
    j["hold_budget"] = hold_budget;
    j["counters"] = counters;
    return j.dump();
}

std::string Daemon::expectations_json() const {
    using nlohmann::json;
    json list = json::array();
    for (const auto& e : core_->expectations().recent())
        list.push_back({{"proto", std::string(transport_name(e.proto))},
                        {"src", e.src.to_string()},
                        {"dst", e.dst.to_string()},
                        {"dport", e.dport},
                        {"service", timbuktu::service_name(e.service)},
                        {"timeout", e.timeout},
                        {"created", e.created}});
    return json{{"ok", true}, {"expectations", list}}.dump();
}

// The tracked connections, most recently active first, at most
// kMaxSessionsListed of them (the answer stays within the control socket's
// 64 KiB line: at most about 300 bytes a session); "total" says how many there are.
std::string Daemon::sessions_json() const {
    using nlohmann::json;
    constexpr std::size_t kMaxSessionsListed = 128;
    std::size_t total = 0;
    const auto views = core_->sessions(kMaxSessionsListed, total);
    const std::time_t now = std::time(nullptr);
    json list = json::array();
    for (const auto& v : views)
        list.push_back({{"proto", std::string(transport_name(v.transport))},
                        {"guest", v.guest.to_string()},
                        {"guest_port", v.guest_port},
                        {"address", v.contact_address.to_string()},
                        {"host", v.host.to_string()},
                        {"contact_port", v.contact_port},
                        {"service", v.phase ? timbuktu::service_name(v.service) : std::string()},
                        {"phase", v.phase ? timbuktu::phase_name(*v.phase) : std::string("handshake")},
                        {"offers", v.offers},
                        {"age", now >= v.created ? now - v.created : 0},
                        {"idle", now >= v.last_seen ? now - v.last_seen : 0}});
    return json{{"ok", true}, {"sessions", list}, {"total", total}}.dump(-1, ' ', false,
                                                                        json::error_handler_t::replace);
}

}  // namespace tb::daemon
