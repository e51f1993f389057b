// tbsim: a Timbuktu Pro guest and host speaking the tbhelper wire model
// (docs: docs/tbsim.md; wire model: part B of docs/protocol-model.md) over real sockets.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "net/address.hpp"
#include "guest.hpp"
#include "host.hpp"
#include "timbuktu/services.hpp"

#ifndef TBHELPER_VERSION
#define TBHELPER_VERSION "0.0.0"
#endif

namespace {

std::string check_service(const std::string& s) {
    return tb::timbuktu::service_from_name(s) ? std::string()
                                           : fmt::format("unknown service {:?}: use none, control, observe, send-files, "
                                                         "exchange-files, chat, notify, intercom, clipboard-exchange, "
                                                         "drag-and-drop, ask-for-permission, invite, service-N or a "
                                                         "number 0-255",
                                                         s);
}

std::string check_ipv4_or(const std::string& s, std::initializer_list<const char*> words) {
    for (const char* w : words)
        if (s == w) return {};
    auto a = tb::IpAddress::parse(s);
    if (a && a->is_v4()) return {};
    std::string list;
    for (const char* w : words) list += fmt::format("{}, ", w);
    return fmt::format("{:?} is not {}or an IPv4 address", s, list);
}

std::string check_ip(const std::string& s) {
    return tb::IpAddress::parse(s) ? std::string() : fmt::format("{:?} is not an IPv4 or IPv6 address", s);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "tbsim: a Timbuktu Pro guest and host that speak the tbhelper wire model (part B of docs/protocol-model.md) over real\n"
        "sockets, IPv4 and IPv6. Used by the tests and the demonstration. See docs/tbsim.md."};
    app.set_version_flag("--version", std::string("tbsim ") + TBHELPER_VERSION);
    app.require_subcommand(1);
    app.footer("Exit status: 0 success, 1 failure (summary line says why), 2 usage error.");

    // ---- host ----
    tbsim::HostOptions h;
    int offer_port = 0;
    auto* host = app.add_subcommand("host", "Serve as a Timbuktu host: answer HELLOs, offer ports, echo streams.");
    host->add_option("--listen", h.listen, "Address to listen on; :: also accepts IPv4 (dual stack)")
        ->capture_default_str()
        ->check(check_ip);
    host->add_option("--tcp-port", h.tcp_ports,
                     "TCP contact port(s), repeatable or comma list (A5, docs/protocol-model.md#a5); 0 = no TCP contact")
        ->delimiter(',')
        ->capture_default_str();
    host->add_option("--udp-port", h.udp_ports,
                     "UDP legacy contact port(s), repeatable or comma list; 0 = no UDP contact")
        ->delimiter(',')
        ->capture_default_str();
    host->add_flag("--legacy-ports", h.legacy_ports,
                   "Also listen on TCP 1417-1420 (control, observe, send files, exchange files) and echo there");
    host->add_option("--dynamic-base", h.dynamic_base, "First dynamic port; offered ports are allocated upward from here")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));
    host->add_option("--offer-address", h.offer_address,
                     "Address placed in PORT-OFFERs: zero (0.0.0.0), self (the host's address of the contact "
                     "connection; 0.0.0.0 on IPv6) or an IPv4 address (third-party tests)")
        ->capture_default_str()
        ->check([](const std::string& s) { return check_ipv4_or(s, {"zero", "self"}); });
    host->add_option("--offer-port", offer_port,
                     "Force the port of every primary offer (e.g. 23); the host listens there when it can")
        ->check(CLI::Range(1, 65535));
    host->add_flag("--no-listen", h.no_listen,
                   "Offer ports but listen on none of them (nobody answers: the guest's blocked path)");
    host->add_option("--extra-offers", h.extra_offers,
                     "Send N additional TCP offers for distinct dynamic ports (max_expectations tests)")
        ->check(CLI::Range(0, 1000));
    host->add_option("--second-offer-after", h.second_offer_after,
                     "On framed TCP contacts, send a second round of offers for new dynamic ports after SECONDS")
        ->check(CLI::NonNegativeNumber);
    host->add_option("--lifetime", h.lifetime, "Lifetime hint in offers, seconds (0 = no hint)")
        ->capture_default_str();
    host->add_option("--sessions", h.sessions, "Exit 0 after serving N contact sessions (default: serve forever)");
    host->add_option("--timeout", h.timeout, "Exit 1 after SECONDS without any traffic")->check(CLI::NonNegativeNumber);
    host->add_option("--stream-linger", h.stream_linger, "Seconds a dynamic or forced listener stays open")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    host->add_option("--session-linger", h.session_linger,
                     "Legacy UDP session: seconds to wait for the offered streams before it counts as served")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    host->add_option("--contact-idle", h.contact_idle, "Close a contact or stream connection idle this long, seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    host->add_option("--name", h.name, "Host name sent in HELLO-ACKs")->capture_default_str();
    host->add_option("--max-threads", h.max_threads, "Upper bound on concurrent connections and listeners")
        ->capture_default_str()
        ->check(CLI::Range(8, 4096));
    host->add_flag("--json", h.json, "One JSON object per event on stdout (JSON Lines)");
    host->add_flag("--verbose,-v", h.verbose, "Also log ignored frames and closed listeners");

    // ---- guest ----
    tbsim::GuestOptions g;
    std::string service;
    int forge = 0;
    auto* guest = app.add_subcommand(
        "guest", "Act as a Timbuktu guest: HELLO, read HELLO-ACK and offers, open and test every offered stream.");
    guest->add_option("--host", g.host, "Host address (IPv4, IPv6 or name)")->required();
    guest->add_option("--port", g.port, "Contact port (TCP; with --legacy-udp the UDP port, 407 or 1419)")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));
    guest->add_option("--service", service,
                      "Service to ask for: none, control, observe, send-files, exchange-files, chat, notify, "
                      "intercom, clipboard-exchange, drag-and-drop, ask-for-permission, invite, or a number")
        ->required()
        ->check(check_service);
    guest->add_flag("--legacy-udp", g.legacy_udp, "Contact over UDP (before 5.2) instead of TCP");
    guest->add_option("--address-in-hello", g.address_in_hello,
                      "IPv4 address embedded in the HELLO; auto = local address of the contact socket "
                      "(0.0.0.0 on IPv6)")
        ->capture_default_str()
        ->check([](const std::string& s) { return check_ipv4_or(s, {"auto"}); });
    guest->add_flag("--attended", g.attended, "Set the attended-access flag in the HELLO (legacy: all ports dynamic)");
    guest->add_flag("--expect-blocked", g.expect_blocked,
                    "Success means every offered stream FAILED (test of a firewall without the helper)");
    guest->add_option("--wait-offers", g.wait_offers,
                      "Keep the contact open until N offers arrived (or --timeout); without it, stop after "
                      "--linger seconds without a frame");
    guest->add_option("--linger", g.linger, "Without --wait-offers: quiet seconds that end the wait for offers")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    guest->add_option("--forge-offer", forge,
                      "After the HELLO send a PORT-OFFER (0x0031) for PORT from the guest side; then check that "
                      "PORT is not reachable")
        ->check(CLI::Range(1, 65535));
    guest->add_option("--malformed", g.malformed, "Send a malformed frame instead of the HELLO (or after it, see "
                                                  "--malformed-after-hello)")
        ->check(CLI::IsMember({"bad-class", "huge-length", "short-hello", "truncated-datagram", "garbage"}));
    guest->add_flag("--malformed-after-hello", g.malformed_after_hello,
                    "Send the --malformed frame after a valid HELLO and its HELLO-ACK");
    guest->add_option("--flood", g.flood,
                      "Send N malformed frames quickly, one fresh connection or socket each (--malformed KIND, "
                      "default: every kind in turn)")
        ->check(CLI::Range(1, 1000000));
    guest->add_option("--timeout", g.timeout, "Overall time limit, seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    guest->add_option("--stream-timeout", g.stream_timeout, "Per offered stream connect and echo limit, seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    guest->add_option("--payload", g.payload, "Bytes of random data sent through each stream")
        ->capture_default_str()
        ->check(CLI::Range(1, 60000));
    guest->add_option("--name", g.name, "Guest name sent in the HELLO")->capture_default_str();
    guest->add_flag("--long-hello", g.long_hello,
                    "Send the 176-byte HELLO of the public exploit (docs/protocol-model.md#a11): the embedded guest address again at body offsets "
                    "160-163 (the name must end before offset 160)");
    guest->add_flag("--json", g.json, "Print one JSON object at the end on stdout (event lines go to stderr)");
    guest->add_flag("--verbose,-v", g.verbose, "More detail");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    if (*host) {
        if (offer_port) h.offer_port = static_cast<std::uint16_t>(offer_port);
        return tbsim::run_host(h);
    }
    g.service = *tb::timbuktu::service_from_name(service);
    if (forge) g.forge_offer = static_cast<std::uint16_t>(forge);
    if (g.malformed_after_hello && g.malformed.empty()) {
        fmt::print(stderr, "guest: --malformed-after-hello needs --malformed KIND\n");
        return 2;
    }
    // B3: the name (length byte at 16) must end before the second address.
    if (g.long_hello && 17 + g.name.size() > 160) {
        fmt::print(stderr, "guest: --long-hello needs a --name of at most 143 bytes (got {}): the name must end "
                           "before the second address at body offset 160\n",
                   g.name.size());
        return 2;
    }
    return tbsim::run_guest(g);
}
