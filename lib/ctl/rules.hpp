// tbhelperctl rules: the nftables (and iptables) rules that switch the helper on.
// Pure text generation from the configuration; loading is ctl/'s business.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace tb::ctl {

// Names inside table `inet tbhelper`.
constexpr const char* kHelperObjectTcp = "timbuktu-tcp";
constexpr const char* kHelperObjectUdp = "timbuktu-udp";
constexpr const char* kChainPrerouting = "prerouting";
constexpr const char* kChainOutput = "output";
constexpr const char* kChainAntispoof = "antispoof";

// Choices of `tbhelperctl rules` beyond the configuration's ports.
struct RulesOptions {
    // Chain antispoof (docs/tbhelperctl.md#anti-spoofing): drop contact
    // traffic whose source address the kernel would not route back out of the
    // interface it arrived on (strict reverse path, nft fib / iptables
    // rpfilter). `rules --no-antispoof` leaves it out for asymmetric routing.
    bool antispoof = true;
};

// The anti-spoofing condition and verdict, as nft writes it back:
// "fib saddr . mark . iif oif missing drop".
extern const char* const kNftAntispoofMatch;

// The table `inet tbhelper` as nft source, with a header comment naming the
// configuration `origin` and a commented example of the filter rules an
// administrator adds. Both transports, IPv4 and IPv6 (inet), hooks prerouting
// (forwarded and incoming connections) and output (local connections).
std::string nft_ruleset(const Config& config, const std::string& origin, const RulesOptions& options = {});

// One libnftables buffer = one transaction that creates the table, deletes it
// (whatever an earlier copy held) and loads the new one. Either the whole new
// table is in place afterwards or nothing changed.
std::string nft_apply_buffer(const Config& config, const std::string& origin, const RulesOptions& options = {});

// iptables-restore input (table raw) equivalent to nft_ruleset(); valid for
// both iptables-restore and ip6tables-restore.
std::string iptables_ruleset(const Config& config, const std::string& origin, const RulesOptions& options = {});

// "{ 407, 1419 }" / "407": an nft set expression of ports.
std::string nft_port_set(const std::vector<std::uint16_t>& ports);

}  // namespace tb::ctl
