// The part of the configuration the engine's decisions depend on.
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.hpp"

namespace tb::timbuktu {

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
    static Policy from_config(const Config& c) {
        return Policy{c.allowed_ports, c.max_expectations, c.expectation_timeout, c.nat_rewrite};
    }
};

}  // namespace tb::timbuktu
