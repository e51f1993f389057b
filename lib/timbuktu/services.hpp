// The Timbuktu service codes (docs/protocol-model.md#services).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tb::timbuktu {

enum ServiceCode : std::uint8_t {
    kServiceNone = 0,
    kServiceControl = 1,
    kServiceObserve = 2,
    kServiceSendFiles = 3,
    kServiceExchangeFiles = 4,
    kServiceChat = 5,
    kServiceNotify = 6,
    kServiceIntercom = 7,
    kServiceClipboard = 8,
    kServiceDragAndDrop = 9,
    kServiceAskPermission = 10,
    kServiceInvite = 11,
};
constexpr std::uint8_t kLastKnownService = kServiceInvite;

// Stable machine names used in logs, JSON and command lines:
// none, control, observe, send-files, exchange-files, chat, notify, intercom,
// clipboard-exchange, drag-and-drop, ask-for-permission, invite; codes above
// 11 are "service-N" (docs/protocol-model.md#services).
std::string service_name(std::uint8_t code);
// Accepts the machine names above, "service-N" and plain decimal codes.
std::optional<std::uint8_t> service_from_name(std::string_view name);
// docs/protocol-model.md#observation (A2): the fixed TCP port of the legacy services 1 to 4, else 0 (dynamic).
std::uint16_t service_legacy_port(std::uint8_t code);
// docs/protocol-model.md#phases: after HELLO-ACK, services 1 to 4 carry unframed service data.
inline bool service_stream_unframed(std::uint8_t code) {
    return code >= kServiceControl && code <= kServiceExchangeFiles;
}

}  // namespace tb::timbuktu
