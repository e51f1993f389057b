// tbsim host: a Timbuktu host speaking the model of spec B over real sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tbsim {

struct HostOptions {
    std::string listen = "0.0.0.0";
    std::vector<std::uint16_t> tcp_ports{407};
    std::vector<std::uint16_t> udp_ports{407, 1419};
    bool legacy_ports = false;
    std::uint16_t dynamic_base = 40000;
    std::string offer_address = "zero";  // zero | self | IPv4 address
    std::optional<std::uint16_t> offer_port;
    bool no_listen = false;
    unsigned extra_offers = 0;
    double second_offer_after = 0;  // 0 = never
    std::uint16_t lifetime = 0;
    unsigned sessions = 0;  // 0 = forever
    double timeout = 0;     // idle timeout, 0 = none
    double stream_linger = 120;
    double session_linger = 10;
    double contact_idle = 120;
    std::string name = "tbsim-host";
    unsigned max_threads = 256;
    bool json = false;
    bool verbose = false;
};

// Runs until --sessions are served (0), idle --timeout (1), a signal (0), or a
// startup error (1).
int run_host(const HostOptions& options);

}  // namespace tbsim
