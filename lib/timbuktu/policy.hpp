// The engine's policy: the part of the configuration its decisions depend on
// (docs/protocol-model.md#offers). The configuration file's loader
// (lib/config) embeds it as the engine's section of `Config`, so that the
// fields exist once; `Policy::from_config` is the one conversion.
#pragma once

#include <cstdint>
#include <vector>

namespace tb {

struct PortRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    bool contains(std::uint16_t port) const { return port >= first && port <= last; }
    friend bool operator==(const PortRange&, const PortRange&) = default;
};

// Hard bound on expectations per contact connection: the configuration refuses
// more, and the engine's offer table never holds more whatever the policy says.
constexpr std::uint32_t kMaxExpectationsLimit = 32;

struct Config;

namespace timbuktu {

struct Policy {
    std::vector<PortRange> allowed_ports{{1024, 65535}};
    std::uint32_t max_expectations = 8;
    std::uint32_t expectation_timeout = 120;
    bool nat_rewrite = true;

    bool port_allowed(std::uint16_t port) const {
        for (const auto& r : allowed_ports)
            if (r.contains(port)) return true;
        return false;
    }
    // The engine's section of a loaded configuration (lib/config/config.cpp).
    static Policy from_config(const Config& c);
};

}  // namespace timbuktu
}  // namespace tb
