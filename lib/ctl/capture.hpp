// tbhelperctl analyze: reading a capture file (libpcap: pcap or pcapng) and
// handing every frame to an Analyzer. From a path, or from bytes in memory
// (fmemopen + pcap_fopen_offline) so that the fuzzers and the unit tests run
// the very loop `tbhelperctl analyze` runs.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "ctl/analyze.hpp"

namespace tb::ctl {

// The capture cannot be analysed at all: it does not open, is not a capture,
// or its link type is not supported. `what()` is one line naming the file.
class CaptureError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CaptureAnalysis {
    AnalysisReport report;
    // Empty when the file was read to its end; else libpcap's words for where
    // and why reading stopped (a damaged or truncated file is analysed up to
    // the damage).
    std::string stopped;
};

// `name` is what error messages call the capture.
CaptureAnalysis analyze_capture_file(const std::string& path, const Config& config);
CaptureAnalysis analyze_capture_bytes(std::span<const std::uint8_t> bytes, const Config& config,
                                      const std::string& name = "capture");

}  // namespace tb::ctl
