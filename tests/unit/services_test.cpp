// docs/protocol-model.md#services: service codes and names.
#include <catch2/catch.hpp>

#include "timbuktu/services.hpp"

using namespace tb::timbuktu;

TEST_CASE("B2: service names round-trip", "[services][B2]") {
    CHECK(service_name(0) == "none");
    CHECK(service_name(3) == "send-files");
    CHECK(service_name(7) == "intercom");
    CHECK(service_name(11) == "invite");
    CHECK(service_name(12) == "service-12");
    CHECK(service_name(255) == "service-255");
    for (int code = 0; code <= 255; ++code) {
        auto back = service_from_name(service_name(static_cast<std::uint8_t>(code)));
        REQUIRE(back);
        CHECK(*back == code);
    }
    CHECK(service_from_name("9") == std::optional<std::uint8_t>(9));
    CHECK_FALSE(service_from_name("256"));
    CHECK_FALSE(service_from_name("service-"));
    CHECK_FALSE(service_from_name("service-1x"));
    CHECK_FALSE(service_from_name(""));
    CHECK_FALSE(service_from_name("Control"));
}

TEST_CASE("A2/B7: legacy ports and unframed services", "[services][A2][B7]") {
    CHECK(service_legacy_port(1) == 1417);
    CHECK(service_legacy_port(2) == 1418);
    CHECK(service_legacy_port(3) == 1419);
    CHECK(service_legacy_port(4) == 1420);
    CHECK(service_legacy_port(0) == 0);
    CHECK(service_legacy_port(5) == 0);
    for (int code = 0; code <= 255; ++code)
        CHECK(service_stream_unframed(static_cast<std::uint8_t>(code)) == (code >= 1 && code <= 4));
}
