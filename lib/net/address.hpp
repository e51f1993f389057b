// Small value types for addresses and transports, shared by the engine, the
// daemon, the control command and the simulator. No socket calls here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tb {

enum class Transport : std::uint8_t { tcp = 6, udp = 17 };

// "tcp" / "udp"
std::string_view transport_name(Transport t);
std::optional<Transport> transport_from_number(std::uint8_t ipproto);

// An IPv4 or IPv6 address in network byte order. IPv4 occupies bytes[0..3].
struct IpAddress {
    enum class Family : std::uint8_t { none = 0, v4 = 4, v6 = 6 };
    Family family = Family::none;
    std::array<std::uint8_t, 16> bytes{};

    static IpAddress v4(std::uint32_t host_order);
    static IpAddress v4_bytes(const std::uint8_t b[4]);
    static IpAddress v6_bytes(const std::uint8_t b[16]);
    static std::optional<IpAddress> parse(std::string_view text);

    bool is_v4() const { return family == Family::v4; }
    bool is_v6() const { return family == Family::v6; }
    // Host-order IPv4 value; 0 for anything that is not IPv4.
    std::uint32_t v4_value() const;
    std::string to_string() const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// An address and port as people read them: "198.51.100.2:407",
// "[2001:db8::2]:407" (brackets keep an IPv6 address's colons apart from the port).
std::string format_endpoint(const IpAddress& address, std::uint16_t port);

// Big-endian helpers for bounds-checked wire code.
inline std::uint16_t load_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be24(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
           (std::uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void store_be24(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 16);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    p[2] = static_cast<std::uint8_t>(v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace tb
