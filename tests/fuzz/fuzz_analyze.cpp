// libFuzzer target: link-layer frames straight into the Analyzer, without
// libpcap's file format in the way. Byte 0 chooses the link type (one of
// the supported ones); then records [len:u16 big-endian][snap:u8][len bytes]:
// a frame of `len` captured bytes whose length on the wire is len + snap (a
// capture cut by its snap length). Same invariants as fuzz_pcap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include <nlohmann/json.hpp>

#include "invariant.hpp"
#include "config/config.hpp"
#include "ctl/analyze.hpp"
#include "ctl/format.hpp"

using namespace tb;
using namespace tb::ctl;

namespace {

using tbfuzz::violated;

constexpr int kLinkTypes[] = {kLinkNull,   kLinkEthernet, kLinkRaw,  kLinkRawDlt12,   kLinkRawDlt14,
                              kLinkLoop,   kLinkLinuxSll, kLinkIpv4, kLinkIpv6,       kLinkLinuxSll2};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const int link = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
    Config config;
    config.max_expectations = 4;  // reach the refusal path too
    Analyzer analyzer(config, link);
    std::size_t at = 1;
    while (at + 3 <= size) {
        std::size_t len = (static_cast<std::size_t>(data[at]) << 8) | data[at + 1];
        const std::uint32_t snap = data[at + 2];
        at += 3;
        if (len > size - at) len = size - at;
        analyzer.add_frame(std::span<const std::uint8_t>(data + at, len), static_cast<std::uint32_t>(len) + snap);
        at += len;
    }
    const auto report = analyzer.finish();
    if (report.unparsed.size() > Analyzer::kMaxUnparsed) violated("unparsed list beyond its bound");
    for (const auto& s : report.sessions)
        if (s.events.size() > Analyzer::kMaxEventsPerSession) violated("events beyond their bound");
    const auto text = format_report(report, "frames");
    for (unsigned char ch : text)
        if ((ch < 0x20 && ch != '\n') || ch == 0x7f) violated("control byte in the text report");
    const auto json_text = dump_json(to_json(report, "frames"));
    if (nlohmann::json::parse(json_text, nullptr, false).is_discarded()) violated("JSON report does not parse");
    return 0;
}
