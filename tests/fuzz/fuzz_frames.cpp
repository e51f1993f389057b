// libFuzzer target: the codec. Whatever the parsers accept, the encoders give
// back byte for byte; whatever they reject comes with a reason.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "invariant.hpp"
#include "timbuktu/services.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/messages.hpp"
#include "timbuktu/probe.hpp"
#include "timbuktu/wire.hpp"

using namespace tb;
using namespace tb::timbuktu;

namespace {

template <class T>
const T* check(const Parsed<T>& p) {
    if (const auto* e = parsed_error(p)) INVARIANT(!wire_error_text(*e).empty());
    return parsed_value(p);
}

void bodies(std::span<const std::uint8_t> body) {
    const std::vector<std::uint8_t> original(body.begin(), body.end());
    // Results live in locals: check() returns a pointer into them.
    const auto hello = parse_hello(body);
    const auto ack = parse_hello_ack(body);
    const auto offer = parse_port_offer(body, false);
    if (const auto* h = check(hello)) {
        INVARIANT(body.size() >= kHelloMinBody);
        INVARIANT(encode_hello_body(*h) == original);
        INVARIANT(h->guest_name.has_value() == (body.size() > kHelloMinBody));
    }
    if (const auto* a = check(ack)) {
        INVARIANT(encode_hello_ack_body(*a) == original);
        INVARIANT(a->host_name.size() == body[kHelloAckNameOffset]);
    }
    if (const auto* o = check(offer)) {
        INVARIANT(body.size() == kPortOfferBody);
        INVARIANT(o->port != 0);
        INVARIANT(encode_port_offer_body(*o) == original);
        const auto offer6 = parse_port_offer(body, true);
        const auto* o6 = check(offer6);
        INVARIANT((o6 != nullptr) == (o->address == 0));
    }
}
// docs/protocol-model.md#streaming: the stream reader keeps only the body
// prefix retained_body_bytes() names; the parsers must give the same verdict
// on it as on the whole body.
void retained_prefix_judges_alike(const FrameHeader& header, std::span<const std::uint8_t> body) {
    const std::size_t keep = retained_body_bytes(header, load_be16(body.data()));
    INVARIANT(keep >= 2 && keep <= body.size() && keep <= kMaxRetainedBody);
    const auto prefix = body.first(keep);
    if (load_be16(body.data()) != kOpHello) return;
    if (header.frame_class == kClassGuest) {
        const auto whole = parse_hello(body);
        const auto part = parse_hello(prefix);
        INVARIANT((parsed_value(whole) != nullptr) == (parsed_value(part) != nullptr));
        if (const auto* h = parsed_value(whole)) INVARIANT(h->guest_name == parsed_value(part)->guest_name);
        if (body.size() >= kHelloSecondAddressMinBody) INVARIANT(keep >= kHelloSecondAddressMinBody);
    } else {
        const auto whole = parse_hello_ack(body);
        const auto part = parse_hello_ack(prefix);
        INVARIANT((parsed_value(whole) != nullptr) == (parsed_value(part) != nullptr));
        if (const auto* a = parsed_value(whole)) INVARIANT(a->host_name == parsed_value(part)->host_name);
    }
}
// docs/protocol-model.md#probe: the probe's verdict on every prefix of the
// input is need_more until it decides, and once decided it never changes.
void probe_agrees(std::span<const std::uint8_t> input) {
    const auto whole = probe_stream_start(input);
    if (input.size() >= kHeaderSize && parsed_error(decode_header(input)))
        INVARIANT(whole.verdict == ProbeVerdict::not_timbuktu &&
                  whole.reason == NotTimbuktuReason::first_bytes_not_header && whole.parser_error);
    if (whole.verdict == ProbeVerdict::timbuktu) INVARIANT(whole.hello && whole.opcode == kOpHello);
    if (whole.parser_error) INVARIANT(!wire_error_text(*whole.parser_error).empty());
    bool decided = false;
    std::array<std::size_t, 6> lengths{0, 6, 7, 8, input.size() / 2, input.size()};
    std::sort(lengths.begin(), lengths.end());
    for (std::size_t n : lengths) {
        if (n > input.size()) continue;
        const auto part = probe_stream_start(input.first(n));
        if (part.verdict == ProbeVerdict::need_more) {
            INVARIANT(!decided);
            continue;
        }
        decided = true;
        INVARIANT(part.verdict == whole.verdict && part.reason == whole.reason);
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> input(data, size);
    if (size >= kHeaderSize) {
        const auto header = decode_header(input);
        if (const auto* h = check(header)) {
            INVARIANT(h->frame_class == kClassGuest || h->frame_class == kClassHost);
            INVARIANT(h->length >= kMinBodyLength && h->length <= kMaxBodyLength);
        }
    } else {
        INVARIANT(parsed_error(decode_header(input)) != nullptr);
    }
    const auto split = split_datagram(input);
    if (const auto* frames = check(split)) {
        INVARIANT(!frames->empty());
        std::vector<std::uint8_t> again;
        for (const auto& f : *frames) {
            INVARIANT(f.body.size() == f.header.length);
            retained_prefix_judges_alike(f.header, f.body);
            auto encoded = encode_frame(f.header.frame_class, f.header.flags, f.body);
            again.insert(again.end(), encoded.begin(), encoded.end());
            bodies(f.body);
        }
        INVARIANT(again == std::vector<std::uint8_t>(input.begin(), input.end()));
    }
    bodies(input);
    probe_agrees(input);
    if (size >= 2 && size <= kMaxBodyLength) {  // the input as a body under either class
        retained_prefix_judges_alike(FrameHeader{kClassGuest, 0, static_cast<std::uint32_t>(size)}, input);
        retained_prefix_judges_alike(FrameHeader{kClassHost, 0, static_cast<std::uint32_t>(size)}, input);
    }
    if (size >= 1) {
        const auto name = service_name(data[0]);
        const auto back = service_from_name(name);
        INVARIANT(back && *back == data[0]);
        INVARIANT(service_stream_unframed(data[0]) == (data[0] >= 1 && data[0] <= 4));
    }
    return 0;
}
