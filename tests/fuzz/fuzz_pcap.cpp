// libFuzzer target: a capture file as `tbhelperctl analyze` reads it. The
// input bytes are the file (pcap or pcapng, whatever libpcap makes of them):
// lib/ctl/capture reads it from memory, the Analyzer decodes every frame and
// runs the engine, then both renderings are made. Invariants: the JSON
// rendering never throws and parses back; the text report carries no control
// byte but the newline (network text is escaped, issue 8).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include <nlohmann/json.hpp>

#include "invariant.hpp"
#include "config/config.hpp"
#include "ctl/analyze.hpp"
#include "ctl/capture.hpp"
#include "ctl/format.hpp"

using namespace tb;
using namespace tb::ctl;

namespace {

using tbfuzz::violated;

const Config& config() {
    // The defaults plus the test ports of tests/integration/ctl_analyze.sh,
    // whose capture is a seed.
    static const Config c = [] {
        Config x;
        x.tcp_contact_ports = {407, 14300, 14301};
        x.udp_contact_ports = {407, 1419, 14302};
        return x;
    }();
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    CaptureAnalysis capture;
    try {
        capture = analyze_capture_bytes(std::span<const std::uint8_t>(data, size), config(), "fuzz.pcap");
    } catch (const CaptureError&) {
        return 0;  // not a capture, or an unsupported link type: a clean error
    }
    const auto text = format_report(capture.report, "fuzz.pcap");
    for (unsigned char ch : text)
        if ((ch < 0x20 && ch != '\n') || ch == 0x7f) violated("control byte in the text report");
    const auto json_text = dump_json(to_json(capture.report, "fuzz.pcap"));
    if (nlohmann::json::parse(json_text, nullptr, false).is_discarded()) violated("JSON report does not parse");
    return 0;
}
