// The first-frame probe (docs/protocol-model.md#probe): is the start of a
// guest's stream Timbuktu contact traffic? Apart from the parser and the
// session, like a Suricata probing parser: it says timbuktu, not timbuktu (and
// why, typed) or that it needs more bytes. The session asks it about the first
// frame of every connection; the answer for each (class, opcode) comes from
// the dispatch table's opening verdicts (timbuktu/messages.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "timbuktu/decisions.hpp"
#include "timbuktu/wire.hpp"

namespace tb::timbuktu {

enum class ProbeVerdict : std::uint8_t { timbuktu, not_timbuktu, need_more };

struct ProbeResult {
    ProbeVerdict verdict = ProbeVerdict::need_more;
    NotTimbuktuReason reason{};            // not_timbuktu: why
    std::uint16_t frame_class = 0, opcode = 0;  // as far as they arrived
    std::optional<WireError> parser_error;  // first_bytes_not_header, first_hello_invalid
    std::optional<Hello> hello;             // timbuktu: the HELLO
};

// The first guest frame, its header decoded and `body` the body bytes that
// have arrived (at most retained_body_bytes of them are looked at). Needs the
// opcode to judge class and opcode, and a HELLO's retained prefix to judge the
// HELLO (the same verdict the whole body would get).
ProbeResult probe_first_frame(const FrameHeader& header, std::span<const std::uint8_t> body);

// The first bytes of a guest's stream (or its first datagram): the header
// first (first_bytes_not_header when it is not one), then probe_first_frame.
ProbeResult probe_stream_start(std::span<const std::uint8_t> bytes);

}  // namespace tb::timbuktu
