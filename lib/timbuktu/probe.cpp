// The first-frame probe (see probe.hpp).
#include "timbuktu/probe.hpp"

#include <algorithm>

#include "timbuktu/messages.hpp"

namespace tb::timbuktu {

ProbeResult probe_first_frame(const FrameHeader& header, std::span<const std::uint8_t> body) {
    ProbeResult r;
    r.frame_class = header.frame_class;
    if (body.size() < 2) return r;  // need_more: the opcode
    r.opcode = load_be16(body.data());
    const DispatchRow* row = dispatch(Side::guest, header.frame_class, r.opcode);
    if (!row) {  // a class decode_header rejects: not a frame at all
        r.verdict = ProbeVerdict::not_timbuktu;
        r.reason = NotTimbuktuReason::first_frame_class;
        return r;
    }
    if (row->opening.kind != Verdict::Kind::parse) {
        // The guest's opening rows end the flow only as not Timbuktu: it never was Timbuktu.
        r.verdict = ProbeVerdict::not_timbuktu;
        r.reason = row->opening.not_timbuktu;
        return r;
    }
    const std::size_t keep = retained_body_bytes(header, r.opcode);
    if (body.size() < keep) return r;  // need_more: the HELLO's retained prefix
    auto parsed = parse_hello(body.first(keep));
    if (const auto* err = parsed_error(parsed)) {
        r.verdict = ProbeVerdict::not_timbuktu;
        r.reason = NotTimbuktuReason::first_hello_invalid;
        r.parser_error = *err;
        return r;
    }
    r.verdict = ProbeVerdict::timbuktu;
    r.hello = std::move(std::get<Hello>(parsed));
    return r;
}

ProbeResult probe_stream_start(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < kHeaderSize) return {};
    auto header = decode_header(bytes);
    if (const auto* err = parsed_error(header)) {
        ProbeResult r;
        r.verdict = ProbeVerdict::not_timbuktu;
        r.reason = NotTimbuktuReason::first_bytes_not_header;
        r.frame_class = load_be16(bytes.data());
        r.parser_error = *err;
        return r;
    }
    const auto& h = std::get<FrameHeader>(header);
    const auto body = bytes.subspan(kHeaderSize);
    return probe_first_frame(h, body.first(std::min<std::size_t>(body.size(), h.length)));
}

}  // namespace tb::timbuktu
