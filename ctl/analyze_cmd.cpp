// tbhelperctl analyze: lib/ctl/capture reads the file, lib/ctl/analyze runs the engine.
#include <cstdio>

#include "commands.hpp"
#include "common.hpp"
#include "ctl/analyze.hpp"
#include "ctl/capture.hpp"
#include "ctl/format.hpp"

namespace tb::ctl {

int cmd_analyze(const Globals& g, const std::string& file) {
    std::string origin;
    Config config = g.load_config(origin);
    CaptureAnalysis capture;
    try {
        capture = analyze_capture_file(file, config);
    } catch (const CaptureError& e) {
        throw CtlError(kExitUsage, e.what());
    }
    if (!capture.stopped.empty()) {
        // A damaged or truncated file: the report covers what was read.
        std::fflush(stdout);
        std::fprintf(stderr, "tbhelperctl: %s: reading stopped: %s\n", file.c_str(), capture.stopped.c_str());
    }
    if (g.json)
        std::printf("%s\n", dump_json(to_json(capture.report, file), 2).c_str());
    else
        std::fputs(format_report(capture.report, file).c_str(), stdout);
    return kExitOk;
}

}  // namespace tb::ctl
