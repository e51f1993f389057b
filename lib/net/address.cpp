#include "net/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tb {

std::string_view transport_name(Transport t) {
    return t == Transport::tcp ? "tcp" : "udp";
}

std::optional<Transport> transport_from_number(std::uint8_t ipproto) {
    switch (ipproto) {
        case 6: return Transport::tcp;
        case 17: return Transport::udp;
        default: return std::nullopt;
    }
}

IpAddress IpAddress::v4(std::uint32_t host_order) {
    IpAddress a;
    a.family = Family::v4;
    store_be32(a.bytes.data(), host_order);
    return a;
}

IpAddress IpAddress::v4_bytes(const std::uint8_t b[4]) {
    IpAddress a;
    a.family = Family::v4;
    std::memcpy(a.bytes.data(), b, 4);
    return a;
}

IpAddress IpAddress::v6_bytes(const std::uint8_t b[16]) {
    IpAddress a;
    a.family = Family::v6;
    std::memcpy(a.bytes.data(), b, 16);
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::v4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::v6;
        return a;
    }
    return std::nullopt;
}

std::uint32_t IpAddress::v4_value() const {
    return is_v4() ? load_be32(bytes.data()) : 0;
}

std::string format_endpoint(const IpAddress& address, std::uint16_t port) {
    std::string text = address.to_string();
    if (address.is_v6()) text = "[" + text + "]";
    return text + ":" + std::to_string(port);
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4()) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
    else if (is_v6()) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    else return "-";
    return buf;
}

}  // namespace tb
