// tbsim: the unframed service data that follows a HELLO-ACK on a TCP contact
// for services 1 to 4 (B7, docs/protocol-model.md#b7). Send files uses the opcodes of A8, docs/protocol-model.md#a8; the
// other three carry a fixed 64-byte block that only tbsim gives meaning to.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tbsim {

constexpr std::size_t kPlainServiceDataSize = 64;

// What the host sends after the HELLO-ACK for `service` (1 to 4).
std::vector<std::uint8_t> make_service_data(std::uint8_t service);

struct ServiceDataCheck {
    enum class State { incomplete, complete, invalid } state = State::incomplete;
    std::size_t consumed = 0;  // bytes that belong to the service data
    std::string description;   // "send files: file \"tbsim.txt\" TEXT/ttxt, 1 data block, 42 bytes, end"
};

// Checks the bytes received so far against what make_service_data sends.
ServiceDataCheck check_service_data(std::uint8_t service, std::span<const std::uint8_t> bytes);

}  // namespace tbsim
