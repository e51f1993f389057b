// `tbhelperctl sessions`: the daemon's tracked connections (its `sessions`
// answer over the control socket), each with the expectations the kernel
// holds for it (matched on the master tuple), as JSON for scripts and as a
// table for people (docs/tbhelperctl.md#sessions). Pure: JSON and rows in.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/expectations.hpp"

namespace tb::ctl {

// The daemon's answer with "expectations" added to each session: the number
// of the kernel's expectations whose master is that connection, or null when
// the kernel could not be asked (`kernel` nullopt). Entries that do not
// parse are left out. nullopt for an answer without a "sessions" list.
std::optional<nlohmann::json> sessions_report(const nlohmann::json& daemon_answer,
                               const std::optional<std::vector<ExpectationRow>>& kernel);

// The table for people; names from the network are escaped. A last line says
// when the daemon listed fewer sessions than it tracks.
std::string format_sessions(const nlohmann::json& report, std::size_t total);

}  // namespace tb::ctl
