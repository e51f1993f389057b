// /etc/tbhelper/tbhelper.conf (TOML): the keys of spec/interfaces.md.
// Shared by tbhelperd and tbhelperctl so both read one file the same way.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <optional>

#include "net/address.hpp"
#include "timbuktu/policy.hpp"

namespace tb {

constexpr const char* kDefaultConfigPath = "/etc/tbhelper/tbhelper.conf";
constexpr const char* kDefaultControlSocket = "/run/tbhelper/tbhelperd.sock";
constexpr const char* kHelperName = "timbuktu";
constexpr const char* kNftTable = "tbhelper";  // family inet

enum class LogLevel { error = 0, warning = 1, info = 2, debug = 3 };

// The engine's keys (allowed_ports, max_expectations, expectation_timeout,
// nat_rewrite) are its base, timbuktu::Policy, declared with the engine; the
// loader only fills them in.
struct Config : timbuktu::Policy {
    std::uint16_t queue = 407;
    // GSO (docs/daemon.md#gso): the contact queue takes super-packets whole;
    // what the engine must see as segments goes on to the segment queue,
    // which the kernel segments. false: the kernel segments everything on the
    // contact queue (version 0.1's way, one round trip per segment).
    bool gso = true;
    std::optional<std::uint16_t> segment_queue;  // unset: queue + 1 (queue - 1 for 65535)
    std::uint16_t segment_queue_number() const {
        if (segment_queue) return *segment_queue;
        return queue == 65535 ? 65534 : static_cast<std::uint16_t>(queue + 1);
    }
    std::vector<std::uint16_t> tcp_contact_ports{407};
    std::vector<std::uint16_t> udp_contact_ports{407, 1419};
    LogLevel log_level = LogLevel::info;
    // Act on a reply-direction packet only when it arrived through the
    // interface the original direction left through (docs/daemon.md#reply-interface).
    // false: for asymmetric routing or bridges, knowingly trusting every reply.
    bool reply_interface_check = true;
    // Connections the daemon tracks at once (docs/daemon.md#session-table):
    // about 1 KiB each at rest, so 100k fit in about 100 MiB; beyond it the
    // least recently used entry is forgotten (its state stays in the kernel).
    std::uint32_t session_capacity = 16384;
    // A firewall pair (docs/ha.md#session-state): the other node's daemon,
    // reached over the pair's dedicated sync link, receives the session
    // state this one writes and sends its own. Both keys or neither.
    std::string ha_sync_interface;          // e.g. "sync0"; empty: no peer
    std::optional<IpAddress> ha_sync_peer;  // the other node's address on that link
    std::uint16_t ha_sync_port = 3781;      // UDP, both nodes
    bool ha_enabled() const { return !ha_sync_interface.empty(); }
};

// Bounds that make a value "impossible" (spec: a startup error).
// kMaxExpectationsLimit (per contact connection): timbuktu/policy.hpp
constexpr std::uint32_t kMaxExpectationTimeout = 86400;  // one day
constexpr std::size_t kMaxContactPorts = 64;
constexpr std::size_t kMaxAllowedRanges = 256;
// session_capacity: below 64 a handful of guests evict each other; above 4 Mi
// entries the table alone would take gigabytes.
constexpr std::uint32_t kMinSessionCapacity = 64;
constexpr std::uint32_t kMaxSessionCapacity = 4 * 1024 * 1024;

// Names file, line and key: "FILE:LINE: key 'K': what is wrong".
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, std::size_t line, std::string key, const std::string& what);
    const std::string& file() const { return file_; }
    std::size_t line() const { return line_; }
    const std::string& key() const { return key_; }

private:
    std::string file_;
    std::size_t line_;
    std::string key_;
};

// Reads and validates a configuration file. A missing file is an error here;
// callers that accept a missing default file check for it first.
Config load_config_file(const std::string& path);
// Same, from text (for tests and `--check-config` of stdin); `origin` names it in errors.
Config parse_config(const std::string& text, const std::string& origin);
// The parse of "1024-65535" or "5000" (spec: ranges or single ports).
bool parse_port_range(const std::string& text, PortRange& out);

std::string log_level_name(LogLevel level);

}  // namespace tb
