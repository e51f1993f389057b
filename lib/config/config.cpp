#include "config/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "text/escape.hpp"

namespace tb {

ConfigError::ConfigError(std::string file, std::size_t line, std::string key, const std::string& what)
    : std::runtime_error(key.empty() ? fmt::format("{}:{}: {}", file, line, what)
                                     : fmt::format("{}:{}: key '{}': {}", file, line, key, what)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

// The one conversion from the file's keys to the engine's policy: the engine's
// section of Config is a Policy, so this copies exactly that section.
timbuktu::Policy timbuktu::Policy::from_config(const Config& c) { return static_cast<const Policy&>(c); }

bool parse_port_range(const std::string& text, PortRange& out) {
    auto parse_port = [](std::string_view s, std::uint16_t& v) {
        unsigned n = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || n < 1 || n > 65535) return false;
        v = static_cast<std::uint16_t>(n);
        return true;
    };
    std::string_view s(text);
    auto dash = s.find('-');
    if (dash == std::string_view::npos) {
        if (!parse_port(s, out.first)) return false;
        out.last = out.first;
        return true;
    }
    return parse_port(s.substr(0, dash), out.first) && parse_port(s.substr(dash + 1), out.last) &&
           out.first <= out.last;
}

std::string log_level_name(LogLevel level) {
    switch (level) {
        case LogLevel::error: return "error";
        case LogLevel::warning: return "warning";
        case LogLevel::info: return "info";
        case LogLevel::debug: return "debug";
    }
    return "info";
}

namespace {

const char* type_name(toml::node_type t) {
    switch (t) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        default: return "nothing";
    }
}

struct Reader {
    const std::string& origin;

    [[noreturn]] void fail(const toml::node& node, const std::string& key, const std::string& what) const {
        throw ConfigError(origin, node.source().begin.line, key, what);
    }

    std::int64_t integer(const toml::node& node, const std::string& key, std::int64_t lo, std::int64_t hi) const {
        auto v = node.value<std::int64_t>();
        if (!node.is_integer() || !v) fail(node, key, fmt::format("expected an integer, found {}", type_name(node.type())));
        if (*v < lo || *v > hi) fail(node, key, fmt::format("{} is out of range, expected {} to {}", *v, lo, hi));
        return *v;
    }

    bool boolean(const toml::node& node, const std::string& key) const {
        if (!node.is_boolean()) fail(node, key, fmt::format("expected true or false, found {}", type_name(node.type())));
        return *node.value<bool>();
    }
    std::vector<std::uint16_t> port_list(const toml::node& node, const std::string& key) const {
        const auto* arr = node.as_array();
        if (!arr) fail(node, key, fmt::format("expected an array of port numbers, found {}", type_name(node.type())));
        if (arr->size() > kMaxContactPorts)
            fail(node, key, fmt::format("{} ports listed, at most {} allowed", arr->size(), kMaxContactPorts));
        std::vector<std::uint16_t> ports;
        std::set<std::uint16_t> seen;
        for (const auto& el : *arr) {
            auto p = static_cast<std::uint16_t>(integer(el, key, 1, 65535));
            if (!seen.insert(p).second) fail(el, key, fmt::format("port {} is listed twice", p));
            ports.push_back(p);
        }
        return ports;
    }

    std::vector<PortRange> ranges(const toml::node& node, const std::string& key) const {
        const auto* arr = node.as_array();
        if (!arr)
            fail(node, key,
                 fmt::format("expected an array of strings like \"1024-65535\" or \"5000\", found {}",
                             type_name(node.type())));
        if (arr->size() > kMaxAllowedRanges)
            fail(node, key, fmt::format("{} ranges listed, at most {} allowed", arr->size(), kMaxAllowedRanges));
        std::vector<PortRange> out;
        for (const auto& el : *arr) {
            PortRange r;
            if (el.is_integer()) {
                r.first = r.last = static_cast<std::uint16_t>(integer(el, key, 1, 65535));
            } else if (auto s = el.value<std::string>(); s && el.is_string()) {
                if (!parse_port_range(*s, r))
                    fail(el, key,
                         fmt::format("\"{}\" is not a port (1-65535) or a range FIRST-LAST with FIRST <= LAST", *s));
            } else {
                fail(el, key, fmt::format("expected a string like \"1024-65535\", found {}", type_name(el.type())));
            }
            out.push_back(r);
        }
        return out;
    }
};

}  // namespace

Config parse_config(const std::string& text, const std::string& origin) {
    toml::table table;
    try {
        table = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        throw ConfigError(origin, e.source().begin.line, "", std::string(e.description()));
    }
    Config c;
    Reader r{origin};
    std::size_t ha_line = 0;  // where an ha_sync_* key was, for the "both or neither" error
    std::size_t segment_queue_line = 0;  // for "segment_queue must differ from queue"
    for (const auto& [k, node] : table) {
        const std::string key(k.str());
        if (key == "queue") {
            c.queue = static_cast<std::uint16_t>(r.integer(node, key, 0, 65535));
        } else if (key == "segment_queue") {
            c.segment_queue = static_cast<std::uint16_t>(r.integer(node, key, 0, 65535));
            segment_queue_line = node.source().begin.line;
        } else if (key == "gso") {
            c.gso = r.boolean(node, key);
        } else if (key == "tcp_contact_ports") {
            c.tcp_contact_ports = r.port_list(node, key);
        } else if (key == "udp_contact_ports") {
            c.udp_contact_ports = r.port_list(node, key);
        } else if (key == "allowed_ports") {
            c.allowed_ports = r.ranges(node, key);
        } else if (key == "max_expectations") {
            c.max_expectations = static_cast<std::uint32_t>(r.integer(node, key, 1, kMaxExpectationsLimit));
        } else if (key == "expectation_timeout") {
            c.expectation_timeout = static_cast<std::uint32_t>(r.integer(node, key, 1, kMaxExpectationTimeout));
        } else if (key == "nat_rewrite") {
            c.nat_rewrite = r.boolean(node, key);
        } else if (key == "reply_interface_check") {
            c.reply_interface_check = r.boolean(node, key);
        } else if (key == "session_capacity") {
            c.session_capacity =
                static_cast<std::uint32_t>(r.integer(node, key, kMinSessionCapacity, kMaxSessionCapacity));
        } else if (key == "log_level") {
            auto s = node.value<std::string>();
            if (!node.is_string() || !s)
                r.fail(node, key, fmt::format("expected a string, found {}", type_name(node.type())));
            if (*s == "error") c.log_level = LogLevel::error;
            else if (*s == "warning") c.log_level = LogLevel::warning;
            else if (*s == "info") c.log_level = LogLevel::info;
            else if (*s == "debug") c.log_level = LogLevel::debug;
            else r.fail(node, key, fmt::format("\"{}\" is not one of \"error\", \"warning\", \"info\", \"debug\"", *s));
        } else if (key == "ha_sync_interface") {
            auto s = node.value<std::string>();
            if (!node.is_string() || !s)
                r.fail(node, key, fmt::format("expected an interface name, found {}", type_name(node.type())));
            // IFNAMSIZ is 16 with its NUL; no '/', no space (the kernel's dev_valid_name).
            if (s->empty() || s->size() > 15 || *s == "." || *s == ".." ||
                s->find_first_of("/: \t\n") != std::string::npos)
                r.fail(node, key, fmt::format("\"{}\" is not a network interface name (1 to 15 characters, no '/', ':' or "
                                              "blank)", escape_untrusted(*s)));
            c.ha_sync_interface = *s;
            ha_line = node.source().begin.line;
        } else if (key == "ha_sync_peer") {
            auto s = node.value<std::string>();
            if (!node.is_string() || !s)
                r.fail(node, key, fmt::format("expected an IP address string, found {}", type_name(node.type())));
            auto a = IpAddress::parse(*s);
            if (!a) r.fail(node, key, fmt::format("\"{}\" is not an IPv4 or IPv6 address", escape_untrusted(*s)));
            c.ha_sync_peer = a;
            ha_line = node.source().begin.line;
        } else if (key == "ha_sync_port") {
            c.ha_sync_port = static_cast<std::uint16_t>(r.integer(node, key, 1, 65535));
        } else {
            r.fail(node, key,
                   "unknown key; known keys are queue, segment_queue, gso, tcp_contact_ports, udp_contact_ports, allowed_ports, "
                   "max_expectations, expectation_timeout, nat_rewrite, reply_interface_check, session_capacity, "
                   "log_level, ha_sync_interface, ha_sync_peer, ha_sync_port");
        }
    }
    if (c.segment_queue && *c.segment_queue == c.queue)
        throw ConfigError(origin, segment_queue_line, "segment_queue",
                          fmt::format("{} is the contact queue (queue); the segment queue must be another, unused "
                                      "queue (docs/daemon.md#gso)",
                                      c.queue));
    if (c.ha_sync_interface.empty() != !c.ha_sync_peer)
        throw ConfigError(origin, ha_line, c.ha_sync_interface.empty() ? "ha_sync_interface" : "ha_sync_peer",
                          "ha_sync_interface and ha_sync_peer go together (docs/ha.md#session-state): set both or "
                          "neither");
    return c;
}

Config load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path, 0, "", "cannot open the file for reading");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError(path, 0, "", "cannot read the file");
    return parse_config(text.str(), path);
}

}  // namespace tb
