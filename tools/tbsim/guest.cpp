#include "guest.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <csignal>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

std::string tp(Transport t, std::uint16_t port) { return fmt::format("{}/{}", tb::transport_name(t), port); }
std::string v4text(std::uint32_t a) { return tb::IpAddress::v4(a).to_string(); }

struct StreamResult {
    Transport transport = Transport::tcp;
    std::uint8_t service = 0;
    std::string address;
    std::uint16_t port = 0;
    bool ok = false;
    std::size_t bytes = 0;
    std::string error;
    bool forged = false;
};

// Spec-breaking frames for --malformed and --flood.
std::vector<std::uint8_t> malformed_frame(const std::string& kind, const std::vector<std::uint8_t>& hello_body) {
    std::vector<std::uint8_t> out;
    auto header = [&](std::uint16_t cls, std::uint32_t len) {
        std::uint8_t h[timbuktu::kHeaderSize];
        tb::store_be16(h, cls);
        h[2] = 0;
        tb::store_be24(h + 3, len);
        out.insert(out.end(), h, h + timbuktu::kHeaderSize);
    };
    if (kind == "bad-class") {
        header(0x0202, static_cast<std::uint32_t>(hello_body.size()));
        out.insert(out.end(), hello_body.begin(), hello_body.end());
    } else if (kind == "huge-length") {
        header(timbuktu::kClassGuest, 0x100000);  // above the 65535 maximum of B1, docs/protocol-model.md#b1
        out.insert(out.end(), hello_body.begin(), hello_body.end());
    } else if (kind == "short-hello") {
        header(timbuktu::kClassGuest, 10);  // a HELLO needs at least 16 body bytes
        out.insert(out.end(), hello_body.begin(), hello_body.begin() + 10);
    } else if (kind == "truncated-datagram") {
        header(timbuktu::kClassGuest, 64);  // declares 64 body bytes, carries 16
        out.insert(out.end(), hello_body.begin(), hello_body.begin() + 16);
    } else {  // garbage
        out = random_bytes(48);
        out[0] = 0xde;
        out[1] = 0xad;
    }
    return out;
}

const std::vector<std::string> kMalformedKinds = {"bad-class", "huge-length", "short-hello", "truncated-datagram",
                                                  "garbage"};

class Guest {
public:
    explicit Guest(const GuestOptions& o)
        : o_(o), log_(o.json ? Logger::Mode::text_to_stderr : Logger::Mode::text, o.verbose),
          overall_(Deadline::after(o.timeout)) {}

    int run();

private:
    std::vector<std::uint8_t> hello_frame_bytes();
    std::vector<std::uint8_t> hello_body();
    bool contact();
    int flood();
    void malformed_instead();
    void malformed_after();
    bool receive_ack_tcp();
    bool receive_ack_udp();
    bool handle_host_frame(const timbuktu::FrameHeader& h, std::span<const std::uint8_t> body,
                           std::vector<timbuktu::PortOffer>& batch);
    void offers_tcp();
    void offers_udp();
    void service_data_tcp();
    void test_batch(std::vector<timbuktu::PortOffer>& batch);
    StreamResult test_stream(const timbuktu::PortOffer& of, bool forged);
    void problem(const std::string& what) {
        problems_.push_back(what);
        log_.event("problem", fmt::format("guest: {}", what));
    }
    int finish();

    const GuestOptions& o_;
    Logger log_;
    Deadline overall_;
    SockAddr contact_;
    SockAddr local_;
    Fd fd_;
    FrameReader rd_;
    std::uint32_t embedded_ = 0;
    bool v6_ = false;

    std::optional<timbuktu::HelloAck> ack_;
    std::vector<timbuktu::PortOffer> offers_;
    std::vector<StreamResult> streams_;
    std::vector<std::string> problems_;
    json service_data_;       // unframed services
    json malformed_;          // --malformed / --flood
    bool expect_ack_ = true;  // false in the --malformed (instead of HELLO) and --flood modes
};

std::vector<std::uint8_t> Guest::hello_body() {
    timbuktu::Hello h;
    h.version_major = 5;
    h.version_minor = o_.legacy_udp ? 0 : 2;
    h.service = o_.service;
    h.flags = 0x01 | (o_.attended ? 0x02 : 0x00);
    h.guest_address = embedded_;
    h.guest_name = o_.name;
    auto body = timbuktu::encode_hello_body(h);
    if (o_.long_hello) {
        // The exploit's first frame (A11): 176 body bytes, the guest's address
        // again at 160-163 (B3). main() keeps the name short enough to end
        // before offset 160.
        body.resize(kLongHelloBody, 0);
        for (int i = 0; i < 4; ++i)
            body[kSecondAddressOffset + i] = static_cast<std::uint8_t>(embedded_ >> (24 - 8 * i));
    }
    return body;
}

std::vector<std::uint8_t> Guest::hello_frame_bytes() {
    return timbuktu::encode_frame(timbuktu::kClassGuest, 0, hello_body());
}

bool Guest::contact() {
    std::string err;
    if (o_.legacy_udp) {
        fd_ = udp_connect(contact_, &err);
    } else {
        fd_ = tcp_connect(contact_, overall_, &err);
    }
    if (!fd_) {
        problem(fmt::format("contact {} {} failed: {}", o_.legacy_udp ? "udp" : "tcp", contact_.to_string(), err));
        return false;
    }
    local_ = local_address(fd_.get()).value_or(SockAddr{});
    if (o_.address_in_hello == "auto") {
        auto ip = local_.ip();
        embedded_ = ip.is_v4() ? ip.v4_value() : 0;
    } else {
        embedded_ = tb::IpAddress::parse(o_.address_in_hello)->v4_value();
    }
    log_.event("contact", fmt::format("guest: contact {} {} from {} service {}", o_.legacy_udp ? "udp" : "tcp",
                                      contact_.to_string(), local_.to_string(), timbuktu::service_name(o_.service)));
    return true;
}

int Guest::run() {
    std::signal(SIGPIPE, SIG_IGN);
    std::string err;
    auto addr = SockAddr::resolve(o_.host, o_.port, &err);
    if (!addr) {
        log_.event("error", fmt::format("guest: --host {}: {}", o_.host, err));
        return 2;
    }
    contact_ = *addr;
    v6_ = contact_.is_real_v6();
    if (o_.flood) return flood();
    if (!contact()) return finish();

    if (!o_.malformed.empty() && !o_.malformed_after_hello) {
        malformed_instead();
        return finish();
    }

    auto hello = hello_frame_bytes();
    std::vector<std::uint8_t> forged;
    if (o_.forge_offer) {
        timbuktu::PortOffer po;
        po.service = o_.service;
        po.transport = Transport::tcp;
        po.port = *o_.forge_offer;
        forged = timbuktu::port_offer_frame(po);
    }
    if (o_.legacy_udp) {
        if (::send(fd_.get(), hello.data(), hello.size(), 0) < 0) {
            problem(fmt::format("cannot send the HELLO: {}", errno_text(errno)));
            return finish();
        }
    } else {
        auto w = write_all(fd_.get(), hello, overall_);
        if (w.status != IoStatus::ok) {
            problem(fmt::format("cannot send the HELLO: {}", io_text(w)));
            return finish();
        }
    }
    log_.event("hello", fmt::format("guest: sent HELLO service {} embedded-guest-address {}{}",
                                    timbuktu::service_name(o_.service), v4text(embedded_),
                                    o_.long_hello ? fmt::format(" second-guest-address {} ({}-byte body)",
                                                                v4text(embedded_), kLongHelloBody)
                                                  : std::string()));
    if (!forged.empty()) {
        bool sent = o_.legacy_udp ? ::send(fd_.get(), forged.data(), forged.size(), 0) >= 0
                                  : write_all(fd_.get(), forged, overall_).status == IoStatus::ok;
        log_.event("forge", fmt::format("guest: {} forged PORT-OFFER tcp/{} from the guest side (must be ignored)",
                                        sent ? "sent" : "could not send", *o_.forge_offer));
    }

    if (!(o_.legacy_udp ? receive_ack_udp() : receive_ack_tcp())) return finish();

    if (!o_.malformed.empty()) {
        malformed_after();
        return finish();
    }
    if (!o_.legacy_udp && timbuktu::service_stream_unframed(o_.service)) {
        service_data_tcp();
    } else if (o_.legacy_udp) {
        offers_udp();
    } else {
        offers_tcp();
    }
    if (o_.forge_offer) {
        timbuktu::PortOffer po;
        po.service = o_.service;
        po.port = *o_.forge_offer;
        auto r = test_stream(po, true);
        log_.event("stream", fmt::format("guest: forged offer tcp/{} -> {}", po.port,
                                         r.ok ? fmt::format("stream ok ({} bytes echoed): NOT blocked", r.bytes)
                                              : fmt::format("FAILED: {} (blocked, as it must be)", r.error)));
        streams_.push_back(r);
    }
    return finish();
}

// ---- HELLO-ACK ----------------------------------------------------------------

bool Guest::handle_host_frame(const timbuktu::FrameHeader& h, std::span<const std::uint8_t> body,
                              std::vector<timbuktu::PortOffer>& batch) {
    const std::uint16_t op = tb::load_be16(body.data());
    if (h.frame_class == timbuktu::kClassHost && op == timbuktu::kOpPortOffer) {
        auto po = timbuktu::parse_port_offer(body, v6_);
        if (auto* e = timbuktu::parsed_error(po)) {
            problem(fmt::format("malformed PORT-OFFER from the host: {}", timbuktu::wire_error_text(*e)));
            return false;
        }
        const auto& v = std::get<timbuktu::PortOffer>(po);
        log_.event("offer", fmt::format("guest: PORT-OFFER {} service {} address {} lifetime {}",
                                        tp(v.transport, v.port), timbuktu::service_name(v.service), v4text(v.address),
                                        v.lifetime));
        offers_.push_back(v);
        batch.push_back(v);
        return true;
    }
    if (h.frame_class == timbuktu::kClassHost && op == timbuktu::kOpHello) {
        log_.event("frame", "guest: another HELLO-ACK from the host ignored");
        return true;
    }
    log_.event("frame", fmt::format("guest: frame class 0x{:04x} opcode 0x{:04x} ({} body bytes) ignored",
                                    h.frame_class, op, body.size()));
    return true;
}

namespace {
std::optional<timbuktu::HelloAck> parse_ack(const timbuktu::FrameHeader& h, std::span<const std::uint8_t> body,
                                         std::string& why) {
    if (h.frame_class != timbuktu::kClassHost || tb::load_be16(body.data()) != timbuktu::kOpHello) {
        why = fmt::format("first frame from the host is not a HELLO-ACK (class 0x{:04x} opcode 0x{:04x})",
                          h.frame_class, tb::load_be16(body.data()));
        return std::nullopt;
    }
    auto p = timbuktu::parse_hello_ack(body);
    if (auto* e = timbuktu::parsed_error(p)) {
        why = "malformed HELLO-ACK: " + timbuktu::wire_error_text(*e);
        return std::nullopt;
    }
    return std::get<timbuktu::HelloAck>(p);
}
}  // namespace

bool Guest::receive_ack_tcp() {
    auto r = rd_.next(fd_.get(), overall_);
    switch (r.status) {
        case FrameReader::Status::frame: break;
        case FrameReader::Status::timeout: problem("no HELLO-ACK before the timeout"); return false;
        case FrameReader::Status::closed: problem("the host closed the contact without a HELLO-ACK"); return false;
        case FrameReader::Status::malformed: problem("malformed frame from the host: " + r.reason); return false;
        default: problem("reading the HELLO-ACK: " + r.reason); return false;
    }
    std::string why;
    ack_ = parse_ack(r.header, r.body, why);
    if (!ack_) {
        problem(why);
        return false;
    }
    log_.event("hello-ack", fmt::format("guest: HELLO-ACK from host \"{}\" embedded-host-address {} service {}",
                                        ack_->host_name, v4text(ack_->host_address), timbuktu::service_name(ack_->service)));
    return true;
}

bool Guest::receive_ack_udp() {
    auto hello = hello_frame_bytes();
    Deadline resend = Deadline::after(1.0);
    std::vector<std::uint8_t> buf(65536);
    for (;;) {
        if (!wait_readable(fd_.get(), Deadline::earliest(overall_, resend))) {
            if (overall_.expired()) {
                problem("no HELLO-ACK datagram before the timeout");
                return false;
            }
            [[maybe_unused]] auto n = ::send(fd_.get(), hello.data(), hello.size(), 0);
            log_.debug("hello", "guest: no answer yet, HELLO sent again");
            resend = Deadline::after(1.0);
            continue;
        }
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            problem(fmt::format("contact udp {} failed: {}", contact_.to_string(),
                                errno == ECONNREFUSED ? "connection refused (port unreachable)" : errno_text(errno)));
            return false;
        }
        auto split = timbuktu::split_datagram(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
        if (auto* e = timbuktu::parsed_error(split)) {
            problem("malformed datagram from the host: " + timbuktu::wire_error_text(*e));
            return false;
        }
        const auto& frames = std::get<std::vector<timbuktu::FrameView>>(split);
        std::string why;
        ack_ = parse_ack(frames[0].header, frames[0].body, why);
        if (!ack_) {
            problem(why);
            return false;
        }
        log_.event("hello-ack", fmt::format("guest: HELLO-ACK from host \"{}\" embedded-host-address {} service {}",
                                            ack_->host_name, v4text(ack_->host_address),
                                            timbuktu::service_name(ack_->service)));
        std::vector<timbuktu::PortOffer> batch;
        for (std::size_t i = 1; i < frames.size(); ++i) handle_host_frame(frames[i].header, frames[i].body, batch);
        if (!o_.malformed.empty()) return true;
        test_batch(batch);
        return true;
    }
}

// ---- offers -------------------------------------------------------------------

void Guest::offers_tcp() {
    std::vector<timbuktu::PortOffer> batch;
    Deadline quiet = Deadline::after(o_.linger);
    for (;;) {
        if (!batch.empty() && !rd_.frame_buffered()) {
            test_batch(batch);
            quiet = Deadline::after(o_.linger);
        }
        if (o_.wait_offers && offers_.size() >= o_.wait_offers) break;
        const bool need_more = o_.wait_offers > 0;
        auto r = rd_.next(fd_.get(), need_more ? overall_ : Deadline::earliest(overall_, quiet));
        if (r.status == FrameReader::Status::frame) {
            if (!handle_host_frame(r.header, r.body, batch)) break;
            quiet = Deadline::after(o_.linger);
            continue;
        }
        if (r.status == FrameReader::Status::timeout) {
            if (need_more)
                problem(fmt::format("only {} of {} offer(s) arrived before the timeout", offers_.size(), o_.wait_offers));
            break;
        }
        if (r.status == FrameReader::Status::closed) {
            if (need_more)
                problem(fmt::format("the host closed the contact after {} of {} offer(s)", offers_.size(),
                                    o_.wait_offers));
            else
                log_.event("closed", "guest: the host closed the contact");
            break;
        }
        problem(r.status == FrameReader::Status::malformed ? "malformed frame from the host: " + r.reason
                                                           : "contact: " + r.reason);
        break;
    }
    test_batch(batch);
}

void Guest::offers_udp() {
    std::vector<std::uint8_t> buf(65536);
    Deadline quiet = Deadline::after(o_.linger);
    for (;;) {
        if (o_.wait_offers && offers_.size() >= o_.wait_offers) break;
        const bool need_more = o_.wait_offers > 0;
        if (!wait_readable(fd_.get(), need_more ? overall_ : Deadline::earliest(overall_, quiet))) {
            if (need_more)
                problem(fmt::format("only {} of {} offer(s) arrived before the timeout", offers_.size(), o_.wait_offers));
            break;
        }
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            problem(fmt::format("contact udp: {}", errno_text(errno)));
            break;
        }
        auto split = timbuktu::split_datagram(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
        if (auto* e = timbuktu::parsed_error(split)) {
            problem("malformed datagram from the host: " + timbuktu::wire_error_text(*e));
            break;
        }
        std::vector<timbuktu::PortOffer> batch;
        for (const auto& f : std::get<std::vector<timbuktu::FrameView>>(split)) handle_host_frame(f.header, f.body, batch);
        test_batch(batch);
        quiet = Deadline::after(o_.linger);
    }
}

void Guest::test_batch(std::vector<timbuktu::PortOffer>& batch) {
    // Streams of one batch are tested in parallel (at most 32 at a time), so
    // that many blocked streams do not add up their timeouts.
    for (std::size_t start = 0; start < batch.size(); start += 32) {
        const std::size_t end = std::min(batch.size(), start + 32);
        std::vector<StreamResult> results(end - start);
        std::vector<std::thread> threads;
        for (std::size_t i = start; i < end; ++i)
            threads.emplace_back([this, &results, &batch, i, start] { results[i - start] = test_stream(batch[i], false); });
        for (auto& t : threads) t.join();
        for (auto& r : results) {
            std::string outcome = r.ok ? fmt::format("stream ok ({} bytes echoed)", r.bytes)
                                       : fmt::format("FAILED: {}", r.error);
            if (o_.expect_blocked) outcome += r.ok ? " (NOT blocked)" : " (blocked, as expected)";
            log_.event("stream", fmt::format("guest: offer {} service {} -> {}", tp(r.transport, r.port),
                                             timbuktu::service_name(r.service), outcome));
            streams_.push_back(std::move(r));
        }
    }
    batch.clear();
}

StreamResult Guest::test_stream(const timbuktu::PortOffer& of, bool forged) {
    StreamResult r;
    r.transport = of.transport;
    r.service = of.service;
    r.port = of.port;
    r.forged = forged;
    SockAddr target = contact_;
    if (of.address != 0) target = *SockAddr::from_ip(tb::IpAddress::v4(of.address), of.port);
    target.set_port(of.port);
    r.address = target.ip().to_string();
    const Deadline dl = Deadline::earliest(overall_, Deadline::after(o_.stream_timeout));
    const auto payload = random_bytes(o_.payload);
    std::string err;
    if (of.transport == Transport::tcp) {
        Fd s = tcp_connect(target, dl, &err);
        if (!s) {
            r.error = err;
            return r;
        }
        auto w = write_all(s.get(), payload, dl);
        if (w.status != IoStatus::ok) {
            r.error = "send: " + io_text(w);
            return r;
        }
        std::vector<std::uint8_t> back(payload.size());
        auto rr = read_exact(s.get(), back, dl);
        if (rr.status != IoStatus::ok) {
            r.bytes = rr.bytes;
            r.error = rr.status == IoStatus::timeout
                          ? fmt::format("no echo: timed out after {} of {} bytes", rr.bytes, payload.size())
                          : fmt::format("no echo: {} after {} of {} bytes", io_text(rr), rr.bytes, payload.size());
            return r;
        }
        if (back != payload) {
            r.error = "echo differs from what was sent";
            return r;
        }
        ::shutdown(s.get(), SHUT_WR);
        r.ok = true;
        r.bytes = back.size();
        return r;
    }
    Fd s = udp_connect(target, &err);
    if (!s) {
        r.error = err;
        return r;
    }
    std::vector<std::uint8_t> back(65536);
    for (;;) {
        if (::send(s.get(), payload.data(), payload.size(), 0) < 0 && errno != ECONNREFUSED) {
            r.error = "send: " + errno_text(errno);
            return r;
        }
        Deadline resend = Deadline::earliest(dl, Deadline::after(1.0));
        while (wait_readable(s.get(), resend)) {
            ssize_t n = ::recv(s.get(), back.data(), back.size(), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                r.error = errno == ECONNREFUSED ? "connection refused (port unreachable)" : errno_text(errno);
                return r;
            }
            if (static_cast<std::size_t>(n) == payload.size() && std::equal(payload.begin(), payload.end(), back.begin())) {
                r.ok = true;
                r.bytes = payload.size();
                return r;
            }
            r.error = "echo differs from what was sent";
        }
        if (dl.expired()) {
            if (r.error.empty()) r.error = "no echo: timed out";
            return r;
        }
    }
}

// ---- unframed service data ----------------------------------------------------

void Guest::service_data_tcp() {
    std::vector<std::uint8_t> data = rd_.take_rest();
    const Deadline dl = Deadline::earliest(overall_, Deadline::after(o_.stream_timeout));
    ServiceDataCheck check = check_service_data(o_.service, data);
    std::uint8_t chunk[16384];
    while (check.state == ServiceDataCheck::State::incomplete) {
        auto r = read_some(fd_.get(), chunk, dl);
        if (r.status != IoStatus::ok) {
            problem(fmt::format("service data: {} after {} bytes", io_text(r), data.size()));
            service_data_ = {{"ok", false}, {"bytes", data.size()}, {"error", io_text(r)}};
            return;
        }
        data.insert(data.end(), chunk, chunk + r.bytes);
        check = check_service_data(o_.service, data);
    }
    if (check.state == ServiceDataCheck::State::invalid) {
        problem("service data: " + check.description);
        service_data_ = {{"ok", false}, {"bytes", data.size()}, {"error", check.description}};
        return;
    }
    log_.event("service-data", fmt::format("guest: service data {} bytes ({})", check.consumed, check.description));
    // The rest of the stream is ours: prove it carries data both ways.
    const auto payload = random_bytes(o_.payload);
    std::vector<std::uint8_t> back(data.begin() + static_cast<std::ptrdiff_t>(check.consumed), data.end());
    std::string error;
    if (write_all(fd_.get(), payload, dl).status != IoStatus::ok) error = "cannot send on the service stream";
    while (error.empty() && back.size() < payload.size()) {
        auto r = read_some(fd_.get(), chunk, dl);
        if (r.status != IoStatus::ok) {
            error = fmt::format("no echo on the service stream: {}", io_text(r));
            break;
        }
        back.insert(back.end(), chunk, chunk + r.bytes);
    }
    if (error.empty() && !std::equal(payload.begin(), payload.end(), back.begin())) error = "echo differs on the service stream";
    if (!error.empty()) {
        problem(error);
    } else {
        log_.event("service-data",
                   fmt::format("guest: service stream {} -> ok ({} bytes echoed)", timbuktu::service_name(o_.service),
                               payload.size()));
    }
    service_data_ = {{"ok", error.empty()},
                     {"bytes", check.consumed},
                     {"description", check.description},
                     {"echoed", error.empty() ? payload.size() : 0},
                     {"error", error}};
}

// ---- malformed input ------------------------------------------------------------

void Guest::malformed_instead() {
    expect_ack_ = false;
    auto frame = malformed_frame(o_.malformed, hello_body());
    std::string outcome;
    bool ok = true;
    if (o_.legacy_udp) {
        if (::send(fd_.get(), frame.data(), frame.size(), 0) < 0) {
            problem(fmt::format("cannot send: {}", errno_text(errno)));
            return;
        }
        log_.event("malformed", fmt::format("guest: sent malformed {} ({} bytes) instead of the HELLO", o_.malformed,
                                            frame.size()));
        std::vector<std::uint8_t> buf(65536);
        if (wait_readable(fd_.get(), Deadline::earliest(overall_, Deadline::after(1.0)))) {
            ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n > 0) {
                ok = false;
                outcome = "the host answered a malformed datagram";
            } else {
                outcome = "no answer (the host ignored it)";
            }
        } else {
            outcome = "no answer (the host ignored it)";
        }
    } else {
        auto w = write_all(fd_.get(), frame, overall_);
        if (w.status != IoStatus::ok) {
            problem(fmt::format("cannot send: {}", io_text(w)));
            return;
        }
        if (o_.malformed == "truncated-datagram") ::shutdown(fd_.get(), SHUT_WR);
        log_.event("malformed", fmt::format("guest: sent malformed {} ({} bytes) instead of the HELLO", o_.malformed,
                                            frame.size()));
        auto r = rd_.next(fd_.get(), Deadline::earliest(overall_, Deadline::after(std::max(3.0, o_.stream_timeout))));
        if (r.status == FrameReader::Status::closed || r.status == FrameReader::Status::error) {
            outcome = "the host closed the contact";
        } else if (r.status == FrameReader::Status::timeout) {
            outcome = "no answer, contact still open";
        } else {
            ok = false;
            outcome = "the host answered";
        }
    }
    log_.event("malformed", fmt::format("guest: malformed {}: {}", o_.malformed, outcome));
    if (!ok) problem(fmt::format("malformed {}: {}", o_.malformed, outcome));
    malformed_ = {{"kind", o_.malformed}, {"when", "instead of the HELLO"}, {"outcome", outcome}, {"ok", ok}};
}

void Guest::malformed_after() {
    auto frame = malformed_frame(o_.malformed, hello_body());
    std::string outcome;
    bool ok = true;
    if (o_.legacy_udp) {
        if (::send(fd_.get(), frame.data(), frame.size(), 0) < 0) {
            problem(fmt::format("cannot send: {}", errno_text(errno)));
            return;
        }
        outcome = "sent on the contact flow";
    } else {
        if (write_all(fd_.get(), frame, overall_).status != IoStatus::ok) {
            problem("cannot send the malformed frame");
            return;
        }
        if (o_.malformed == "truncated-datagram") ::shutdown(fd_.get(), SHUT_WR);
        if (timbuktu::service_stream_unframed(o_.service)) {
            outcome = "sent on an unframed service stream (service data, not a frame)";
        } else {
            // The host must close this contact; offers it sent before are skipped.
            Deadline dl = Deadline::earliest(overall_, Deadline::after(std::max(3.0, o_.stream_timeout)));
            for (;;) {
                auto r = rd_.next(fd_.get(), dl);
                if (r.status == FrameReader::Status::frame) continue;
                if (r.status == FrameReader::Status::closed || r.status == FrameReader::Status::error) {
                    outcome = "the host closed the contact";
                } else {
                    ok = false;
                    outcome = "the host kept the contact open";
                }
                break;
            }
        }
    }
    log_.event("malformed",
               fmt::format("guest: sent malformed {} ({} bytes) after the HELLO: {}", o_.malformed, frame.size(), outcome));
    if (!ok) problem(fmt::format("malformed {} after the HELLO: {}", o_.malformed, outcome));
    malformed_ = {{"kind", o_.malformed}, {"when", "after the HELLO"}, {"outcome", outcome}, {"ok", ok}};
}

int Guest::flood() {
    expect_ack_ = false;
    const std::string transport = o_.legacy_udp ? "udp" : "tcp";
    unsigned sent = 0;
    std::string last_error;
    std::vector<std::string> kinds;
    // A UDP socket closed after its datagram frees its source port, and the
    // kernel may hand the same port to a later socket of the flood: that
    // datagram then joins the earlier flow (whose helper has given up on it)
    // instead of starting a fresh one. Keeping the sockets open makes every
    // port of the flood distinct; bounded, the file descriptors too.
    constexpr std::size_t kOpenUdpSockets = 4096;
    std::deque<Fd> open_udp;
    for (unsigned i = 0; i < o_.flood && !overall_.expired(); ++i) {
        const std::string kind = o_.malformed.empty() ? kMalformedKinds[i % kMalformedKinds.size()] : o_.malformed;
        std::string err;
        // A fresh socket (so a fresh flow) for every frame: a firewall helper
        // gives up on a flow after its first bad frame.
        Fd s = o_.legacy_udp ? udp_connect(contact_, &err) : tcp_connect(contact_, overall_, &err);
        if (!s) {
            last_error = err;
            break;
        }
        if (embedded_ == 0 && o_.address_in_hello != "auto")
            embedded_ = tb::IpAddress::parse(o_.address_in_hello)->v4_value();
        auto frame = malformed_frame(kind, hello_body());
        bool ok = o_.legacy_udp ? ::send(s.get(), frame.data(), frame.size(), 0) >= 0
                                : write_all(s.get(), frame, overall_).status == IoStatus::ok;
        if (!ok) {
            last_error = "send failed";
            break;
        }
        ++sent;
        if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
        if (o_.legacy_udp) {
            open_udp.push_back(std::move(s));
            if (open_udp.size() > kOpenUdpSockets) open_udp.pop_front();
        }
    }
    std::string kind_list;
    for (const auto& k : kinds) kind_list += (kind_list.empty() ? "" : ",") + k;
    log_.event("flood", fmt::format("guest: flood: sent {} of {} malformed frame(s) ({}) to {} {}, one {} each", sent,
                                    o_.flood, kind_list.empty() ? "-" : kind_list, transport, contact_.to_string(),
                                    o_.legacy_udp ? "socket" : "connection"));
    if (sent < o_.flood)
        problem(fmt::format("flood stopped after {} of {} frames: {}", sent, o_.flood,
                            last_error.empty() ? "timeout" : last_error));
    malformed_ = {{"kind", kind_list}, {"when", "flood"}, {"sent", sent}, {"requested", o_.flood}, {"ok", sent == o_.flood}};
    return finish();
}

// ---- result -----------------------------------------------------------------------

int Guest::finish() {
    fd_.reset();
    std::size_t worked = 0, failed = 0, offered = 0;
    std::vector<std::string> bad_streams;
    for (const auto& s : streams_) {
        if (s.forged) {
            if (s.ok) problem(fmt::format("the forged offer tcp/{} was reachable", s.port));
            continue;
        }
        ++offered;
        if (s.ok) ++worked;
        else ++failed;
        const bool good = o_.expect_blocked ? !s.ok : s.ok;
        if (!good)
            bad_streams.push_back(s.ok ? tp(s.transport, s.port) + ": connected"
                                       : tp(s.transport, s.port) + ": " + s.error);
    }
    if (expect_ack_ && !ack_ && problems_.empty()) problem("no HELLO-ACK");
    if (o_.expect_blocked && expect_ack_ && ack_ && offered == 0)
        problem("--expect-blocked: the host offered no stream that could be blocked");
    const bool ok = problems_.empty() && bad_streams.empty();

    std::string summary;
    if (!expect_ack_) {
        summary = ok ? fmt::format("OK: {} handled as expected", o_.flood ? "flood" : "malformed frame")
                     : fmt::format("FAILED: {}", problems_.front());
    } else if (ok) {
        if (o_.expect_blocked)
            summary = fmt::format("OK: HELLO-ACK received, {} offer(s), all {} stream(s) blocked as expected",
                                  offers_.size(), offered);
        else
            summary = fmt::format("OK: HELLO-ACK received, {} offer(s), {} of {} stream(s) worked{}", offers_.size(),
                                  worked, offered, service_data_.is_null() ? "" : ", service data ok");
    } else {
        std::string why;
        if (!bad_streams.empty()) {
            why = o_.expect_blocked
                      ? fmt::format("{} of {} stream(s) connected although blocking was expected", worked, offered)
                      : fmt::format("{} of {} stream(s) failed", failed, offered);
            std::string list;
            for (const auto& b : bad_streams) list += (list.empty() ? "" : "; ") + b;
            why += " (" + list + ")";
        }
        for (const auto& p : problems_) why += (why.empty() ? "" : "; ") + p;
        summary = "FAILED: " + why;
    }
    log_.event("summary", "guest: " + summary);

    if (o_.json) {
        json j;
        j["contact"] = {{"transport", o_.legacy_udp ? "udp" : "tcp"},
                        {"host", contact_.ip().to_string()},
                        {"port", o_.port},
                        {"local", local_.len ? local_.to_string() : ""}};
        j["service"] = timbuktu::service_name(o_.service);
        j["embedded_guest_address"] = v4text(embedded_);
        if (ack_)
            j["hello_ack"] = {{"host_name", ack_->host_name},
                              {"embedded_host_address", v4text(ack_->host_address)},
                              {"service", timbuktu::service_name(ack_->service)},
                              {"flags", ack_->flags}};
        else
            j["hello_ack"] = nullptr;
        j["offers"] = json::array();
        for (const auto& of : offers_)
            j["offers"].push_back({{"transport", tb::transport_name(of.transport)},
                                   {"port", of.port},
                                   {"address", v4text(of.address)},
                                   {"service", timbuktu::service_name(of.service)},
                                   {"lifetime", of.lifetime}});
        j["streams"] = json::array();
        for (const auto& s : streams_) {
            json sj = {{"transport", tb::transport_name(s.transport)},
                       {"address", s.address},
                       {"port", s.port},
                       {"service", timbuktu::service_name(s.service)},
                       {"ok", s.ok},
                       {"bytes", s.bytes},
                       {"error", s.ok ? json(nullptr) : json(s.error)}};
            if (s.forged) sj["forged"] = true;
            j["streams"].push_back(sj);
        }
        if (!service_data_.is_null()) j["service_data"] = service_data_;
        if (!malformed_.is_null()) j["malformed"] = malformed_;
        j["expect_blocked"] = o_.expect_blocked;
        j["problems"] = problems_;
        j["summary"] = summary;
        j["ok"] = ok;
        log_.raw_stdout(j.dump(2, ' ', false, json::error_handler_t::replace));
    }
    return ok ? 0 : 1;
}

}  // namespace

int run_guest(const GuestOptions& options) {
    Guest g(options);
    return g.run();
}

}  // namespace tbsim
