// tbsim host. One thread per listening socket and per connection, all bounded:
// at most --max-threads workers, every wait a poll(2) with a deadline that also
// watches a stop event, so shutdown joins every thread promptly.
#include "host.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "frames.hpp"
#include "log.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/services.hpp"
#include "timbuktu/wire.hpp"
#include "servicedata.hpp"
#include "sock.hpp"

namespace tbsim {

namespace timbuktu = tb::timbuktu;
using json = nlohmann::json;
using tb::Transport;

namespace {

int g_signal_fd = -1;
volatile std::sig_atomic_t g_signal = 0;

void on_signal(int sig) {
    g_signal = sig;
    if (g_signal_fd >= 0) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(g_signal_fd, &one, sizeof one);
    }
}

std::string tp(Transport t, std::uint16_t port) { return fmt::format("{}/{}", tb::transport_name(t), port); }
std::string v4text(std::uint32_t a) { return tb::IpAddress::v4(a).to_string(); }

void append(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& more) {
    out.insert(out.end(), more.begin(), more.end());
}

struct OfferPlan {
    std::uint8_t service = 0;
    Transport transport = Transport::tcp;
    std::uint16_t fixed_port = 0;  // legacy fixed port; 0 = dynamic
    bool primary = true;           // false for --extra-offers (never forced)
};

struct Offered {
    timbuktu::PortOffer offer;
    bool listening = false;
};

using PortKey = std::pair<Transport, std::uint16_t>;

class Host {
public:
    explicit Host(const HostOptions& o)
        : o_(o), log_(o.json ? Logger::Mode::json_lines : Logger::Mode::text, o.verbose),
          next_port_(o.dynamic_base) {}

    int run();

private:
    // ---- workers ----
    template <class F>
    bool spawn(F&& fn) {
        std::lock_guard lock(workers_mu_);
        std::size_t active = 0;
        for (auto& w : workers_)
            if (!w.done->load()) ++active;
        if (active >= o_.max_threads) return false;
        auto done = std::make_shared<std::atomic<bool>>(false);
        workers_.push_back(Worker{std::thread([this, f = std::forward<F>(fn), done]() mutable {
                                      try {
                                          f();
                                      } catch (const std::exception& e) {
                                          log_.event("error", fmt::format("host: worker failed: {}", e.what()));
                                      }
                                      done->store(true);
                                  }),
                                  done});
        return true;
    }
    void reap(bool all) {
        std::list<Worker> finished;
        {
            std::lock_guard lock(workers_mu_);
            for (auto it = workers_.begin(); it != workers_.end();) {
                if (all || it->done->load()) {
                    auto next = std::next(it);
                    finished.splice(finished.end(), workers_, it);
                    it = next;
                } else {
                    ++it;
                }
            }
        }
        for (auto& w : finished)
            if (w.thread.joinable()) w.thread.join();
    }
    void touch() { last_activity_.store(Clock::now().time_since_epoch().count()); }
    double idle_seconds() const {
        auto last = Clock::time_point(Clock::duration(last_activity_.load()));
        return std::chrono::duration<double>(Clock::now() - last).count();
    }

    // ---- sockets served by threads ----
    void contact_tcp_listener(Fd lfd, std::uint16_t port);
    void contact_tcp(Fd fd, SockAddr peer, SockAddr local, std::uint16_t port);
    void contact_udp(Fd fd, std::uint16_t port);
    void handle_datagram(int fd, std::uint16_t port, const Datagram& d);
    void serve_tcp_listener(Fd lfd, std::uint16_t port, std::string role, Deadline until);
    void echo_tcp(Fd fd, SockAddr peer, std::uint16_t port, std::string role);
    void serve_udp_echo(Fd fd, std::uint16_t port, std::string role, Deadline until);

    // ---- offers ----
    std::vector<OfferPlan> plan_tcp(std::uint8_t service) const;
    std::vector<OfferPlan> plan_udp(const timbuktu::Hello& hello) const;
    std::vector<Offered> realise(const std::vector<OfferPlan>& plans, bool allow_forced,
                                 const tb::IpAddress& local, bool v6_contact);
    // Allocates a dynamic port and listens on it; nullopt when none is free.
    std::optional<std::pair<std::uint16_t, bool>> open_dynamic(Transport t, std::uint8_t service);
    bool ensure_listening(Transport t, std::uint16_t port, std::uint8_t service);
    bool start_listener(Transport t, std::uint16_t port, Fd fd, const std::string& role, Deadline until);
    std::uint32_t offer_address_for(const tb::IpAddress& local, bool v6_contact) const;
    timbuktu::HelloAck make_ack(std::uint8_t service, std::uint32_t host_address, bool tcp_contact) const;
    std::string log_hello(const timbuktu::Hello& hello, const std::string& who, const std::string& where);
    void log_offer(const Offered& of, const SockAddr& peer, const std::string& round);
    void log_guest_frame(const timbuktu::FrameView& f, const SockAddr& peer, const std::string& where);

    // ---- sessions ----
    void session_done() {
        {
            std::lock_guard lock(sessions_mu_);
            ++sessions_done_;
        }
        wake_.signal();
    }
    void stream_served(Transport t, std::uint16_t port) {
        {
            std::lock_guard lock(sessions_mu_);
            for (auto& s : udp_sessions_) s.pending.erase({t, port});
        }
        wake_.signal();
    }

    struct Worker {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    struct UdpSession {
        std::string label;
        std::set<PortKey> pending;
        Deadline until;
    };
    struct Recent {
        std::vector<std::uint8_t> hello;
        std::vector<std::uint8_t> reply;
        Clock::time_point at;
    };

    const HostOptions& o_;
    Logger log_;
    tb::IpAddress listen_ip_;
    enum class OfferAddr { zero, self, fixed } offer_mode_ = OfferAddr::zero;
    std::uint32_t offer_fixed_ = 0;
    Event stop_, wake_, signal_;
    std::atomic<Clock::rep> last_activity_{0};

    std::mutex workers_mu_;
    std::list<Worker> workers_;

    std::mutex ports_mu_;
    std::set<PortKey> listening_;
    std::uint32_t next_port_;

    std::mutex sessions_mu_;
    std::list<UdpSession> udp_sessions_;
    unsigned sessions_done_ = 0;
    std::map<std::string, Recent> recent_;

    std::atomic<unsigned> c_contacts_{0}, c_hellos_{0}, c_malformed_{0}, c_not_hello_{0}, c_offers_{0},
        c_streams_{0}, c_forged_{0};
};

// ---- run --------------------------------------------------------------------

int Host::run() {
    auto ip = tb::IpAddress::parse(o_.listen);
    if (!ip) {
        log_.event("error", fmt::format("host: --listen {}: not an IPv4 or IPv6 address", o_.listen));
        return 2;
    }
    listen_ip_ = *ip;
    if (o_.offer_address == "zero") {
        offer_mode_ = OfferAddr::zero;
    } else if (o_.offer_address == "self") {
        offer_mode_ = OfferAddr::self;
    } else {
        auto a = tb::IpAddress::parse(o_.offer_address);
        if (!a || !a->is_v4()) {
            log_.event("error", fmt::format("host: --offer-address {}: expected zero, self or an IPv4 address",
                                            o_.offer_address));
            return 2;
        }
        offer_mode_ = OfferAddr::fixed;
        offer_fixed_ = a->v4_value();
    }
    touch();

    g_signal_fd = signal_.fd();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    bool ok = true;
    std::string err;
    for (auto port : o_.tcp_ports) {
        if (port == 0) continue;
        Fd fd = tcp_listen(listen_ip_, port, &err);
        if (!fd) {
            log_.event("error", fmt::format("host: cannot listen for TCP contact: {}", err));
            ok = false;
            break;
        }
        log_.event("listening", fmt::format("host: listening tcp/{} on {} (contact)", port, listen_ip_.to_string()),
                   {{"transport", "tcp"}, {"port", port}, {"role", "contact"}});
        spawn([this, f = std::move(fd), port]() mutable { contact_tcp_listener(std::move(f), port); });
    }
    for (auto port : o_.udp_ports) {
        if (!ok || port == 0) continue;
        Fd fd = udp_bind(listen_ip_, port, &err);
        if (!fd) {
            log_.event("error", fmt::format("host: cannot listen for UDP contact: {}", err));
            ok = false;
            break;
        }
        log_.event("listening", fmt::format("host: listening udp/{} on {} (legacy contact)", port, listen_ip_.to_string()),
                   {{"transport", "udp"}, {"port", port}, {"role", "contact"}});
        spawn([this, f = std::move(fd), port]() mutable { contact_udp(std::move(f), port); });
    }
    if (ok && o_.legacy_ports) {
        for (std::uint8_t s = timbuktu::kServiceControl; s <= timbuktu::kServiceExchangeFiles; ++s) {
            const auto port = timbuktu::service_legacy_port(s);
            Fd fd = tcp_listen(listen_ip_, port, &err);
            if (!fd) {
                log_.event("error", fmt::format("host: cannot listen on the legacy {} port: {}", timbuktu::service_name(s), err));
                ok = false;
                break;
            }
            log_.event("listening",
                       fmt::format("host: listening tcp/{} on {} (legacy {} port)", port, listen_ip_.to_string(),
                                   timbuktu::service_name(s)),
                       {{"transport", "tcp"}, {"port", port}, {"role", "legacy " + timbuktu::service_name(s)}});
            std::lock_guard lock(ports_mu_);
            start_listener(Transport::tcp, port, std::move(fd), "legacy " + timbuktu::service_name(s), Deadline::never());
        }
    }
    if (!ok) {
        rc = 1;
    } else {
        log_.event("ready", fmt::format("host: ready (name \"{}\", dynamic ports from {}, offer address {}{})", o_.name,
                                        o_.dynamic_base, o_.offer_address,
                                        o_.offer_port ? fmt::format(", offer port {}", *o_.offer_port) : ""));
        for (;;) {
            Deadline tick = Deadline::after(1.0);
            pollfd p[2] = {{wake_.fd(), POLLIN, 0}, {signal_.fd(), POLLIN, 0}};
            int n = ::poll(p, 2, tick.poll_ms());
            if (n < 0 && errno != EINTR) break;
            if (p[1].revents & POLLIN) {
                log_.event("exit", fmt::format("host: signal {}, exiting", static_cast<int>(g_signal)));
                break;
            }
            if (p[0].revents & POLLIN) wake_.drain();
            unsigned done;
            {
                std::lock_guard lock(sessions_mu_);
                for (auto it = udp_sessions_.begin(); it != udp_sessions_.end();) {
                    if (it->pending.empty() || it->until.expired()) {
                        log_.event("session-done",
                                   fmt::format("host: legacy session {} done ({})", it->label,
                                               it->pending.empty() ? "every offered stream was used"
                                                                   : "session linger expired"));
                        ++sessions_done_;
                        it = udp_sessions_.erase(it);
                    } else {
                        ++it;
                    }
                }
                const auto now = Clock::now();
                for (auto it = recent_.begin(); it != recent_.end();)
                    it = now - it->second.at > std::chrono::seconds(10) ? recent_.erase(it) : std::next(it);
                done = sessions_done_;
            }
            if (o_.sessions && done >= o_.sessions) {
                log_.event("exit", fmt::format("host: served {} session(s), exiting", done), {{"sessions", done}});
                break;
            }
            if (o_.timeout > 0 && idle_seconds() >= o_.timeout) {
                log_.event("exit", fmt::format("host: idle for {} s, exiting", o_.timeout));
                rc = 1;
                break;
            }
            reap(false);
        }
    }
    stop_.signal();
    // Workers may start more workers until they see the stop event; join until none is left.
    for (;;) {
        {
            std::lock_guard lock(workers_mu_);
            if (workers_.empty()) break;
        }
        reap(true);
    }
    unsigned sessions;
    {
        std::lock_guard lock(sessions_mu_);
        sessions = sessions_done_;
    }
    log_.event("summary",
               fmt::format("host: summary: {} contacts, {} HELLOs, {} sessions, {} offers, {} streams, {} malformed, "
                           "{} forged offers ignored, {} not-HELLO",
                           c_contacts_.load(), c_hellos_.load(), sessions, c_offers_.load(), c_streams_.load(),
                           c_malformed_.load(), c_forged_.load(), c_not_hello_.load()),
               {{"contacts", c_contacts_.load()},
                {"hellos", c_hellos_.load()},
                {"sessions", sessions},
                {"offers", c_offers_.load()},
                {"streams", c_streams_.load()},
                {"malformed", c_malformed_.load()},
                {"forged", c_forged_.load()},
                {"not_hello", c_not_hello_.load()},
                {"exit_code", rc}});
    g_signal_fd = -1;
    return rc;
}

// ---- offers -----------------------------------------------------------------

std::vector<OfferPlan> Host::plan_tcp(std::uint8_t service) const {
    std::vector<OfferPlan> plans;
    switch (service) {
        case timbuktu::kServiceChat:
        case timbuktu::kServiceNotify:
        case timbuktu::kServiceClipboard:
        case timbuktu::kServiceDragAndDrop:
        case timbuktu::kServiceAskPermission: plans.push_back({service, Transport::tcp, 0, true}); break;
        case timbuktu::kServiceIntercom: plans.push_back({service, Transport::udp, 0, true}); break;
        default: break;  // probe, invite, unknown codes: HELLO-ACK only
    }
    for (unsigned i = 0; i < o_.extra_offers; ++i) plans.push_back({service, Transport::tcp, 0, false});
    return plans;
}

std::vector<OfferPlan> Host::plan_udp(const timbuktu::Hello& hello) const {
    std::vector<OfferPlan> plans;
    const auto s = hello.service;
    const bool attended = (hello.flags & 0x02) != 0;
    if (s == timbuktu::kServiceNone) {
        // a probe: HELLO-ACK only
    } else if (timbuktu::service_legacy_port(s) != 0) {
        plans.push_back({s, Transport::tcp, attended ? std::uint16_t{0} : timbuktu::service_legacy_port(s), true});
    } else if (s == timbuktu::kServiceIntercom) {
        plans.push_back({s, Transport::udp, 0, true});
        plans.push_back({s, Transport::tcp, 0, true});
    } else {
        plans.push_back({s, Transport::tcp, 0, true});
    }
    for (unsigned i = 0; i < o_.extra_offers; ++i) plans.push_back({s, Transport::tcp, 0, false});
    return plans;
}

std::uint32_t Host::offer_address_for(const tb::IpAddress& local, bool v6_contact) const {
    switch (offer_mode_) {
        case OfferAddr::zero: return 0;
        case OfferAddr::self: return v6_contact ? 0 : local.v4_value();
        case OfferAddr::fixed: return offer_fixed_;
    }
    return 0;
}

bool Host::start_listener(Transport t, std::uint16_t port, Fd fd, const std::string& role, Deadline until) {
    // Called with ports_mu_ held or before any worker runs.
    listening_.insert({t, port});
    bool started;
    if (t == Transport::tcp)
        started = spawn([this, f = std::move(fd), port, role, until]() mutable {
            serve_tcp_listener(std::move(f), port, role, until);
        });
    else
        started = spawn([this, f = std::move(fd), port, role, until]() mutable {
            serve_udp_echo(std::move(f), port, role, until);
        });
    if (!started) {
        listening_.erase({t, port});
        log_.event("warning", fmt::format("host: too many threads; not serving {} ({})", tp(t, port), role));
    }
    return started;
}

std::optional<std::pair<std::uint16_t, bool>> Host::open_dynamic(Transport t, std::uint8_t service) {
    std::lock_guard lock(ports_mu_);
    const std::uint32_t span = 65536u - o_.dynamic_base;
    for (std::uint32_t attempt = 0; attempt < std::min<std::uint32_t>(span, 4000); ++attempt) {
        const auto port = static_cast<std::uint16_t>(next_port_);
        next_port_ = next_port_ >= 65535 ? o_.dynamic_base : next_port_ + 1;
        if (listening_.count({t, port})) continue;
        const auto& contact = t == Transport::tcp ? o_.tcp_ports : o_.udp_ports;
        if (std::find(contact.begin(), contact.end(), port) != contact.end()) continue;
        if (o_.no_listen) return std::pair{port, false};
        std::string err;
        Fd fd = t == Transport::tcp ? tcp_listen(listen_ip_, port, &err) : udp_bind(listen_ip_, port, &err);
        if (!fd) continue;  // in use: try the next one
        bool started = start_listener(t, port, std::move(fd), "dynamic " + timbuktu::service_name(service),
                                      Deadline::after(o_.stream_linger));
        return std::pair{port, started};
    }
    return std::nullopt;
}

bool Host::ensure_listening(Transport t, std::uint16_t port, std::uint8_t service) {
    std::lock_guard lock(ports_mu_);
    if (listening_.count({t, port})) return true;
    std::string err;
    Fd fd = t == Transport::tcp ? tcp_listen(listen_ip_, port, &err) : udp_bind(listen_ip_, port, &err);
    if (!fd) {
        log_.event("warning", fmt::format("host: cannot listen on {} for the forced offer ({}); offering it anyway",
                                          tp(t, port), err));
        return false;
    }
    return start_listener(t, port, std::move(fd), "forced " + timbuktu::service_name(service),
                          Deadline::after(o_.stream_linger));
}

std::vector<Offered> Host::realise(const std::vector<OfferPlan>& plans, bool allow_forced, const tb::IpAddress& local,
                                   bool v6_contact) {
    std::vector<Offered> out;
    for (const auto& p : plans) {
        Offered of;
        of.offer.service = p.service;
        of.offer.transport = p.transport;
        of.offer.address = offer_address_for(local, v6_contact);
        of.offer.lifetime = o_.lifetime;
        if (allow_forced && p.primary && o_.offer_port) {
            of.offer.port = *o_.offer_port;
            of.listening = o_.no_listen ? false : ensure_listening(p.transport, of.offer.port, p.service);
        } else if (p.fixed_port) {
            of.offer.port = p.fixed_port;
            std::lock_guard lock(ports_mu_);
            of.listening = listening_.count({p.transport, p.fixed_port}) > 0;
        } else {
            auto got = open_dynamic(p.transport, p.service);
            if (!got) {
                log_.event("error", fmt::format("host: no free dynamic {} port from {}; offer dropped",
                                                tb::transport_name(p.transport), o_.dynamic_base));
                continue;
            }
            of.offer.port = got->first;
            of.listening = got->second;
        }
        out.push_back(of);
    }
    return out;
}

timbuktu::HelloAck Host::make_ack(std::uint8_t service, std::uint32_t host_address, bool tcp_contact) const {
    timbuktu::HelloAck a;
    a.version_major = 5;
    a.version_minor = 2;
    a.service = service;
    bool accepts_tcp = tcp_contact;
    for (auto p : o_.tcp_ports)
        if (p) accepts_tcp = true;
    a.flags = accepts_tcp ? 0x01 : 0x00;
    a.host_address = host_address;
    a.host_name = o_.name;
    return a;
}

// One line per accepted HELLO, the same for TCP and legacy UDP contact: the
// NAT scenarios read the embedded guest address from it. Returns the service's name.
std::string Host::log_hello(const timbuktu::Hello& hello, const std::string& who, const std::string& where) {
    ++c_hellos_;
    const auto service = timbuktu::service_name(hello.service);
    // B3: a body of 164 bytes or more carries a second copy of the guest's
    // address at 160-163; it sits in the opaque bytes after the name.
    std::optional<std::uint32_t> second;
    if (hello.guest_name) {
        const std::size_t trailer_at = 17 + hello.guest_name->size();
        const std::size_t body_size = trailer_at + hello.trailer.size();
        if (body_size >= kSecondAddressMinBody && trailer_at <= kSecondAddressOffset) {
            const auto* p = hello.trailer.data() + (kSecondAddressOffset - trailer_at);
            second = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
        }
    }
    std::string second_text;
    if (second)
        second_text = fmt::format(" second-guest-address {} ({})", v4text(*second),
                                  *second == hello.guest_address ? "copies agree" : "copies differ");
    json fields = {{"guest", who},
                   {"contact", where},
                   {"service", service},
                   {"embedded_guest_address", v4text(hello.guest_address)},
                   {"guest_name", hello.guest_name.value_or("")},
                   {"version", fmt::format("{}.{}", hello.version_major, hello.version_minor)},
                   {"flags", hello.flags}};
    if (second) {
        fields["second_guest_address"] = v4text(*second);
        fields["guest_address_copies_agree"] = *second == hello.guest_address;
    }
    log_.event("hello",
               fmt::format("host: HELLO from {} service {} embedded-guest-address {}{}", who, service,
                           v4text(hello.guest_address), second_text),
               fields);
    return service;
}

void Host::log_offer(const Offered& of, const SockAddr& peer, const std::string& round) {
    ++c_offers_;
    const auto& po = of.offer;
    log_.event("offer",
               fmt::format("host: offer {} service {} address {} lifetime {} to {}{} ({})", tp(po.transport, po.port),
                           timbuktu::service_name(po.service), v4text(po.address), po.lifetime, peer.to_string(),
                           round.empty() ? "" : " " + round, of.listening ? "listening" : "not listening"),
               {{"transport", tb::transport_name(po.transport)},
                {"port", po.port},
                {"service", timbuktu::service_name(po.service)},
                {"address", v4text(po.address)},
                {"lifetime", po.lifetime},
                {"guest", peer.to_string()},
                {"round", round.empty() ? "first" : round},
                {"listening", of.listening}});
}

void Host::log_guest_frame(const timbuktu::FrameView& f, const SockAddr& peer, const std::string& where) {
    if (f.header.frame_class == timbuktu::kClassHost && f.opcode() == timbuktu::kOpPortOffer) {
        ++c_forged_;
        auto po = timbuktu::parse_port_offer(f.body);
        std::string what = "malformed";
        if (auto* v = timbuktu::parsed_value(po)) what = tp(v->transport, v->port);
        log_.event("forged",
                   fmt::format("host: PORT-OFFER frame ({}) sent by the guest {} on {} ignored: only the host offers ports",
                               what, peer.to_string(), where),
                   {{"guest", peer.to_string()}, {"contact", where}, {"offer", what}});
        return;
    }
    log_.debug("frame",
               fmt::format("host: frame class 0x{:04x} opcode 0x{:04x} ({} body bytes) from {} on {} ignored",
                           f.header.frame_class, f.opcode(), f.body.size(), peer.to_string(), where));
}

// ---- TCP contact ------------------------------------------------------------

void Host::contact_tcp_listener(Fd lfd, std::uint16_t port) {
    for (;;) {
        bool stopped = false;
        if (!wait_readable(lfd.get(), Deadline::never(), stop_.fd(), &stopped)) {
            if (stopped) return;
            continue;
        }
        SockAddr peer;
        peer.len = sizeof peer.ss;
        int c = ::accept4(lfd.get(), peer.sa(), &peer.len, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) continue;
            log_.event("error", fmt::format("host: accept on tcp/{}: {}", port, errno_text(errno)));
            // Out of descriptors or similar: back off instead of spinning.
            wait_readable(stop_.fd(), Deadline::after(0.2));
            continue;
        }
        touch();
        Fd conn(c);
        auto local = local_address(c).value_or(SockAddr{});
        if (!spawn([this, f = std::move(conn), peer, local, port]() mutable {
                contact_tcp(std::move(f), peer, local, port);
            }))
            log_.event("warning", fmt::format("host: too many concurrent connections; contact from {} on tcp/{} closed",
                                              peer.to_string(), port));
    }
}

void Host::contact_tcp(Fd fd, SockAddr peer, SockAddr local, std::uint16_t port) {
    ++c_contacts_;
    const std::string where = fmt::format("tcp/{}", port);
    const std::string who = peer.to_string();
    log_.event("contact", fmt::format("host: contact {} from {} to {}", where, who, local.ip().to_string()),
               {{"transport", "tcp"}, {"port", port}, {"guest", who}, {"local", local.ip().to_string()}});
    FrameReader rd;
    auto first = rd.next(fd.get(), Deadline::after(10), stop_.fd());
    auto closing = [&](const std::string& why) {
        log_.event("closed", fmt::format("host: contact from {} on {}: {}; closing contact", who, where, why),
                   {{"guest", who}, {"contact", where}, {"reason", why}});
    };
    switch (first.status) {
        case FrameReader::Status::frame: break;
        case FrameReader::Status::stopped: return;
        case FrameReader::Status::timeout: closing("no HELLO within 10 s"); return;
        case FrameReader::Status::closed: closing("closed by the guest before a HELLO"); return;
        case FrameReader::Status::error: closing(first.reason); return;
        case FrameReader::Status::malformed:
            ++c_malformed_;
            log_.event("malformed", fmt::format("host: malformed contact from {} on {}: {}; closing contact", who, where,
                                                first.reason),
                       {{"guest", who}, {"contact", where}, {"reason", first.reason}});
            return;
    }
    timbuktu::FrameView fv{first.header, first.body};
    if (first.header.frame_class != timbuktu::kClassGuest || fv.opcode() != timbuktu::kOpHello) {
        if (first.header.frame_class == timbuktu::kClassHost && fv.opcode() == timbuktu::kOpPortOffer) {
            log_guest_frame(fv, peer, where);
        } else {
            ++c_not_hello_;
            log_.event("not-hello",
                       fmt::format("host: first frame from {} on {} is not a HELLO (class 0x{:04x} opcode 0x{:04x})",
                                   who, where, first.header.frame_class, fv.opcode()));
        }
        closing("not Timbuktu contact");
        return;
    }
    auto parsed = timbuktu::parse_hello(first.body);
    if (auto* err = timbuktu::parsed_error(parsed)) {
        ++c_malformed_;
        log_.event("malformed",
                   fmt::format("host: malformed HELLO from {} on {}: {}; closing contact", who, where, timbuktu::wire_error_text(*err)),
                   {{"guest", who}, {"contact", where}, {"reason", timbuktu::wire_error_text(*err)}});
        return;
    }
    const auto& hello = std::get<timbuktu::Hello>(parsed);
    const auto service = log_hello(hello, who, where);

    const bool v6 = peer.is_real_v6();
    const auto local_ip = local.ip();
    const auto ack = make_ack(hello.service, v6 ? 0 : local_ip.v4_value(), true);
    auto ack_frame = timbuktu::hello_ack_frame(ack);
    auto log_ack = [&] {
        log_.event("hello-ack",
                   fmt::format("host: HELLO-ACK to {} service {} embedded-host-address {} name \"{}\"", who, service,
                               v4text(ack.host_address), ack.host_name),
                   {{"guest", who},
                    {"service", service},
                    {"embedded_host_address", v4text(ack.host_address)},
                    {"host_name", ack.host_name}});
    };

    if (timbuktu::service_stream_unframed(hello.service)) {
        auto data = make_service_data(hello.service);
        auto out = ack_frame;
        append(out, data);
        auto w = write_all(fd.get(), out, Deadline::after(10));
        if (w.status != IoStatus::ok) {
            closing(fmt::format("cannot send the HELLO-ACK: {}", io_text(w)));
            session_done();
            return;
        }
        log_ack();
        log_.event("service-data",
                   fmt::format("host: sent {} bytes of {} service data to {} (unframed from here, no offers)",
                               data.size(), service, who),
                   {{"guest", who}, {"service", service}, {"bytes", data.size()}});
        // Echo whatever the guest sends, starting with bytes already buffered.
        std::size_t echoed = 0;
        auto rest = rd.take_rest();
        if (!rest.empty() && write_all(fd.get(), rest, Deadline::after(10)).status == IoStatus::ok)
            echoed += rest.size();
        std::uint8_t buf[16384];
        for (;;) {
            auto r = read_some(fd.get(), buf, Deadline::after(o_.contact_idle), stop_.fd());
            if (r.status != IoStatus::ok) break;
            touch();
            if (write_all(fd.get(), std::span<const std::uint8_t>(buf, r.bytes), Deadline::after(10)).status !=
                IoStatus::ok)
                break;
            echoed += r.bytes;
        }
        log_.event("contact-closed",
                   fmt::format("host: contact from {} on {} closed (service {}, {} bytes of service data echoed)", who,
                               where, service, echoed),
                   {{"guest", who}, {"contact", where}, {"service", service}, {"echoed", echoed}});
        session_done();
        return;
    }

    const auto plans = plan_tcp(hello.service);
    auto offered = realise(plans, true, local_ip, v6);
    auto out = ack_frame;
    for (const auto& of : offered) append(out, timbuktu::port_offer_frame(of.offer));
    auto w = write_all(fd.get(), out, Deadline::after(10));
    if (w.status != IoStatus::ok) {
        closing(fmt::format("cannot send the HELLO-ACK: {}", io_text(w)));
        session_done();
        return;
    }
    log_ack();
    for (const auto& of : offered) log_offer(of, peer, "");

    std::optional<Deadline> second;
    if (o_.second_offer_after > 0 && !plans.empty()) second = Deadline::after(o_.second_offer_after);
    Deadline idle = Deadline::after(o_.contact_idle);
    std::string end = "closed by the guest";
    for (;;) {
        auto r = rd.next(fd.get(), second ? Deadline::earliest(*second, idle) : idle, stop_.fd());
        if (r.status == FrameReader::Status::frame) {
            touch();
            idle = Deadline::after(o_.contact_idle);
            log_guest_frame(timbuktu::FrameView{r.header, r.body}, peer, where);
            continue;
        }
        if (r.status == FrameReader::Status::timeout) {
            if (second && second->expired()) {
                auto more = realise(plans, false, local_ip, v6);
                std::vector<std::uint8_t> frames;
                for (const auto& of : more) append(frames, timbuktu::port_offer_frame(of.offer));
                if (write_all(fd.get(), frames, Deadline::after(10)).status != IoStatus::ok) {
                    end = "cannot send the second round of offers";
                    break;
                }
                log_.event("second-offers",
                           fmt::format("host: second round of {} offer(s) to {} after {} s", more.size(), who,
                                       o_.second_offer_after),
                           {{"guest", who}, {"count", more.size()}});
                for (const auto& of : more) log_offer(of, peer, "second round");
                second.reset();
                continue;
            }
            end = fmt::format("idle for {} s", o_.contact_idle);
            break;
        }
        if (r.status == FrameReader::Status::malformed) {
            ++c_malformed_;
            log_.event("malformed",
                       fmt::format("host: malformed frame from {} on {} after the HELLO: {}; closing contact", who,
                                   where, r.reason),
                       {{"guest", who}, {"contact", where}, {"reason", r.reason}});
            end = "malformed frame";
            break;
        }
        if (r.status == FrameReader::Status::stopped) return;
        if (r.status == FrameReader::Status::error) end = r.reason;
        break;
    }
    log_.event("contact-closed",
               fmt::format("host: contact from {} on {} closed (service {}: {})", who, where, service, end),
               {{"guest", who}, {"contact", where}, {"service", service}, {"reason", end}});
    session_done();
}

// ---- UDP contact ------------------------------------------------------------

void Host::contact_udp(Fd fd, std::uint16_t port) {
    for (;;) {
        bool stopped = false;
        if (!wait_readable(fd.get(), Deadline::never(), stop_.fd(), &stopped)) {
            if (stopped) return;
            continue;
        }
        int err = 0;
        while (auto d = udp_receive(fd.get(), &err)) handle_datagram(fd.get(), port, *d);
    }
}

void Host::handle_datagram(int fd, std::uint16_t port, const Datagram& d) {
    touch();
    ++c_contacts_;
    const std::string where = fmt::format("udp/{}", port);
    const std::string who = d.from.to_string();
    const tb::IpAddress local = d.to.value_or(tb::IpAddress::v4(0));
    log_.event("contact", fmt::format("host: contact {} from {} to {} ({} bytes)", where, who, local.to_string(), d.data.size()),
               {{"transport", "udp"}, {"port", port}, {"guest", who}, {"local", local.to_string()}, {"bytes", d.data.size()}});
    auto split = timbuktu::split_datagram(d.data);
    if (auto* err = timbuktu::parsed_error(split)) {
        ++c_malformed_;
        log_.event("malformed", fmt::format("host: malformed datagram from {} on {}: {}; ignored", who, where, timbuktu::wire_error_text(*err)),
                   {{"guest", who}, {"contact", where}, {"reason", timbuktu::wire_error_text(*err)}});
        return;
    }
    const auto& frames = std::get<std::vector<timbuktu::FrameView>>(split);
    const auto& first = frames.front();
    if (first.header.frame_class != timbuktu::kClassGuest || first.opcode() != timbuktu::kOpHello) {
        if (first.header.frame_class == timbuktu::kClassHost && first.opcode() == timbuktu::kOpPortOffer) {
            for (const auto& f : frames) log_guest_frame(f, d.from, where);
        } else {
            ++c_not_hello_;
            log_.event("not-hello",
                       fmt::format("host: datagram from {} on {} is not a HELLO (class 0x{:04x} opcode 0x{:04x}); ignored",
                                   who, where, first.header.frame_class, first.opcode()));
        }
        return;
    }
    auto parsed = timbuktu::parse_hello(first.body);
    if (auto* err = timbuktu::parsed_error(parsed)) {
        ++c_malformed_;
        log_.event("malformed", fmt::format("host: malformed HELLO from {} on {}: {}; ignored", who, where, timbuktu::wire_error_text(*err)),
                   {{"guest", who}, {"contact", where}, {"reason", timbuktu::wire_error_text(*err)}});
        return;
    }
    const auto& hello = std::get<timbuktu::Hello>(parsed);
    for (std::size_t i = 1; i < frames.size(); ++i) log_guest_frame(frames[i], d.from, where);

    const std::string key = who + " " + where;
    const std::vector<std::uint8_t> hello_bytes(first.body.begin(), first.body.end());
    {
        std::lock_guard lock(sessions_mu_);
        auto it = recent_.find(key);
        if (it != recent_.end() && it->second.hello == hello_bytes) {
            int e = 0;
            udp_send(fd, it->second.reply, d.from, d.to, &e);
            log_.event("repeat", fmt::format("host: repeated HELLO from {} on {}; same answer sent again", who, where));
            return;
        }
    }
    const auto service = log_hello(hello, who, where);
    const bool v6 = d.from.is_real_v6();
    const auto ack = make_ack(hello.service, v6 ? 0 : local.v4_value(), false);
    auto offered = realise(plan_udp(hello), true, local, v6);
    auto reply = timbuktu::hello_ack_frame(ack);
    for (const auto& of : offered) append(reply, timbuktu::port_offer_frame(of.offer));
    int e = 0;
    if (!udp_send(fd, reply, d.from, d.to, &e)) {
        log_.event("error", fmt::format("host: cannot answer {} on {}: {}", who, where, errno_text(e)));
        return;
    }
    log_.event("hello-ack",
               fmt::format("host: HELLO-ACK to {} service {} embedded-host-address {} name \"{}\" (one datagram, {} "
                           "offer(s))",
                           who, service, v4text(ack.host_address), ack.host_name, offered.size()),
               {{"guest", who},
                {"service", service},
                {"embedded_host_address", v4text(ack.host_address)},
                {"host_name", ack.host_name},
                {"offers", offered.size()}});
    for (const auto& of : offered) log_offer(of, d.from, "");
    UdpSession s;
    s.label = fmt::format("{} from {} service {}", where, who, service);
    for (const auto& of : offered)
        if (of.listening) s.pending.insert({of.offer.transport, of.offer.port});
    s.until = Deadline::after(o_.session_linger);
    {
        std::lock_guard lock(sessions_mu_);
        recent_[key] = Recent{hello_bytes, reply, Clock::now()};
        udp_sessions_.push_back(std::move(s));
    }
    wake_.signal();
}

// ---- streams ----------------------------------------------------------------

void Host::serve_tcp_listener(Fd lfd, std::uint16_t port, std::string role, Deadline until) {
    for (;;) {
        bool stopped = false;
        if (!wait_readable(lfd.get(), until, stop_.fd(), &stopped)) {
            if (stopped || until.expired()) break;
            continue;
        }
        SockAddr peer;
        peer.len = sizeof peer.ss;
        int c = ::accept4(lfd.get(), peer.sa(), &peer.len, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) continue;
            wait_readable(stop_.fd(), Deadline::after(0.2));
            continue;
        }
        touch();
        Fd conn(c);
        if (!spawn([this, f = std::move(conn), peer, port, role]() mutable { echo_tcp(std::move(f), peer, port, role); }))
            log_.event("warning", fmt::format("host: too many concurrent connections; stream from {} on tcp/{} closed",
                                              peer.to_string(), port));
    }
    {
        std::lock_guard lock(ports_mu_);
        listening_.erase({Transport::tcp, port});
    }
    log_.debug("listener-closed", fmt::format("host: stopped listening on tcp/{} ({})", port, role));
}

void Host::echo_tcp(Fd fd, SockAddr peer, std::uint16_t port, std::string role) {
    ++c_streams_;
    const auto who = peer.to_string();
    log_.event("stream", fmt::format("host: stream tcp/{} from {} connected ({})", port, who, role),
               {{"transport", "tcp"}, {"port", port}, {"guest", who}, {"role", role}});
    std::size_t total = 0;
    std::uint8_t buf[16384];
    for (;;) {
        auto r = read_some(fd.get(), buf, Deadline::after(o_.contact_idle), stop_.fd());
        if (r.status != IoStatus::ok) break;
        touch();
        if (write_all(fd.get(), std::span<const std::uint8_t>(buf, r.bytes), Deadline::after(10)).status !=
            IoStatus::ok)
            break;
        if (total == 0) stream_served(Transport::tcp, port);
        total += r.bytes;
    }
    log_.event("stream-closed", fmt::format("host: stream tcp/{} from {}: echoed {} bytes, closed", port, who, total),
               {{"transport", "tcp"}, {"port", port}, {"guest", who}, {"bytes", total}});
}

void Host::serve_udp_echo(Fd fd, std::uint16_t port, std::string role, Deadline until) {
    for (;;) {
        bool stopped = false;
        if (!wait_readable(fd.get(), until, stop_.fd(), &stopped)) {
            if (stopped || until.expired()) break;
            continue;
        }
        int err = 0;
        while (auto d = udp_receive(fd.get(), &err)) {
            touch();
            ++c_streams_;
            int e = 0;
            bool sent = udp_send(fd.get(), d->data, d->from, d->to, &e);
            log_.event("stream",
                       fmt::format("host: stream udp/{} from {}: {} {} bytes ({})", port, d->from.to_string(),
                                   sent ? "echoed" : "could not echo", d->data.size(), role),
                       {{"transport", "udp"}, {"port", port}, {"guest", d->from.to_string()}, {"bytes", d->data.size()},
                        {"role", role}});
            if (sent) stream_served(Transport::udp, port);
        }
    }
    {
        std::lock_guard lock(ports_mu_);
        listening_.erase({Transport::udp, port});
    }
    log_.debug("listener-closed", fmt::format("host: stopped listening on udp/{} ({})", port, role));
}

}  // namespace

int run_host(const HostOptions& options) {
    Host h(options);
    return h.run();
}

}  // namespace tbsim
