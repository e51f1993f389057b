// The words for the engine's typed output: the one place where events,
// refusals, rewrites and detach reasons become text, used by tbhelperd's log
// and tbhelperctl's reports alike. Rendering happens only when a line is
// printed. Peer-chosen bytes come out raw: the caller escapes the line
// (docs/daemon.md#untrusted-text).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "stream/stream_reader.hpp"
#include "timbuktu/decisions.hpp"

namespace tb::timbuktu {

struct RenderedEvent {
    EventLevel level = EventLevel::info;
    std::string text;
};

RenderedEvent render(const Event& e);
std::string event_text(const Event& e);
std::string refuse_text(const Refuse& r);         // the sentence after "refuse (<reason>): "
std::string stop_text(const StopWatching& s);     // the sentence after "stop watching: "
std::string rewrite_field_text(const Rewrite& r); // "HELLO guest address", "... (retransmit)"
std::string offer_text(const PortOffer& o);
// Why a flow is not Timbuktu: the words after "not Timbuktu, leaving the connection alone: ".
std::string not_timbuktu_why(const event::NotTimbuktu& n);       // "PORT-OFFER <service> udp/5000 address ... lifetime 0s"

// The wire parser's reason, in the words the log, analyze and tbsim print
// ("frame class 0x0202 is not Timbuktu contact traffic").
std::string wire_error_text(const WireError& e);
// Why a stream reader stopped: a malformed header's reason, the lost frame
// start at `stop_seq`, or the unframed rest of the stream.
std::string stream_stop_text(stream::StreamReader::StopReason reason, std::uint32_t stop_seq,
                             const std::optional<WireError>& header_error = std::nullopt);

// String tables for the enums' names (stable words for reports and tests).
std::string_view event_kind_name(EventKind k);
std::string_view event_level_name(EventLevel l);  // "info", "warning", "debug"
std::string_view side_name(Side s);               // "guest", "host"
std::string_view address_field_name(AddressField f);
std::string_view stop_reason_name(StopReason r);

}  // namespace tb::timbuktu
