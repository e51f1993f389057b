#include "timbuktu/services.hpp"

#include <array>
#include <charconv>

namespace tb::timbuktu {
namespace {
constexpr std::array<std::string_view, kLastKnownService + 1> kNames = {
    "none",   "control", "observe",  "send-files",         "exchange-files",     "chat",
    "notify", "intercom", "clipboard-exchange", "drag-and-drop", "ask-for-permission", "invite",
};

std::optional<std::uint8_t> parse_code(std::string_view digits) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() || value > 255)
        return std::nullopt;
    return static_cast<std::uint8_t>(value);
}
}  // namespace

std::string service_name(std::uint8_t code) {
    if (code <= kLastKnownService) return std::string(kNames[code]);
    return "service-" + std::to_string(code);
}

std::optional<std::uint8_t> service_from_name(std::string_view name) {
    for (std::size_t i = 0; i < kNames.size(); ++i)
        if (kNames[i] == name) return static_cast<std::uint8_t>(i);
    if (name.starts_with("service-")) return parse_code(name.substr(8));
    return parse_code(name);
}

std::uint16_t service_legacy_port(std::uint8_t code) {
    switch (code) {
        case kServiceControl: return 1417;
        case kServiceObserve: return 1418;
        case kServiceSendFiles: return 1419;
        case kServiceExchangeFiles: return 1420;
        default: return 0;
    }
}

}  // namespace tb::timbuktu
