// The libnetfilter_conntrack side of a queued packet's conntrack: parses the
// NFQA_CT nest (CTA_HELP by hand, see netfilter/ct_attrs.hpp) into the pure
// helper::ConntrackFacts (helper/conntrack.hpp) that the helper runtime reads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "helper/conntrack.hpp"

namespace tb::netfilter {

using helper::ConntrackFacts;
using helper::Tuple;
using helper::direction_from_ctinfo;

// Parses an NFQA_CT payload of a packet of family `l3` (AF_INET/AF_INET6).
// nullopt when the nest lacks the tuples or names a transport we do not handle.
std::optional<ConntrackFacts> parse_conntrack(std::span<const std::uint8_t> nfqa_ct_payload, std::uint8_t l3);

}  // namespace tb::netfilter
