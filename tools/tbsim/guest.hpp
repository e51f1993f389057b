// tbsim guest: contacts a Timbuktu host (TCP or legacy UDP), reads the
// HELLO-ACK and the PORT-OFFERs and moves data through every offered stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tbsim {

struct GuestOptions {
    std::string host;
    std::uint16_t port = 407;
    std::uint8_t service = 0;
    bool legacy_udp = false;
    std::string address_in_hello = "auto";  // auto | IPv4
    bool expect_blocked = false;
    unsigned wait_offers = 0;
    std::optional<std::uint16_t> forge_offer;
    std::string malformed;  // "" or a kind
    bool malformed_after_hello = false;
    unsigned flood = 0;
    double timeout = 10;
    double stream_timeout = 3;
    double linger = 0.5;  // quiet time that ends the wait for offers without --wait-offers
    std::size_t payload = 256;
    bool attended = false;
    std::string name = "tbsim-guest";
    // A11: a 176-byte HELLO body whose bytes 160-163 are a second copy of the
    // embedded guest address (B3).
    bool long_hello = false;
    bool json = false;
    bool verbose = false;
};

// 0 success, 1 failure, 2 usage error (bad host address).
int run_guest(const GuestOptions& options);

}  // namespace tbsim
