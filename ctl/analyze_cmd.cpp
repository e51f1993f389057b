// tbhelperctl analyze: libpcap reads the capture, lib/ctl/analyze runs the engine.
#include <pcap/pcap.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"
#include "ctl/analyze.hpp"
#include "ctl/format.hpp"

namespace tb::ctl {

namespace {
struct PcapClose {
    void operator()(pcap_t* p) const { pcap_close(p); }
};
}  // namespace

int cmd_analyze(const Globals& g, const std::string& file) {
    std::string origin;
    Config config = g.load_config(origin);

    char err[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, PcapClose> pcap(pcap_open_offline(file.c_str(), err));
    if (!pcap) throw CtlError(kExitUsage, fmt::format("cannot read capture {}: {}", file, err));
    const int link_type = pcap_datalink(pcap.get());
    if (!link_type_supported(link_type))
        throw CtlError(kExitUsage, fmt::format("{}: link type {} ({}) is not supported; supported: {}", file,
                                               link_type_name(link_type),
                                               pcap_datalink_val_to_name(link_type) ? pcap_datalink_val_to_name(link_type) : "?",
                                               supported_link_types()));

    Analyzer analyzer(config, link_type);
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    for (;;) {
        int rc = pcap_next_ex(pcap.get(), &header, &data);
        if (rc == 1) {
            analyzer.add_frame(std::span<const std::uint8_t>(data, header->caplen), header->len);
            continue;
        }
        if (rc == PCAP_ERROR_BREAK) break;  // end of file
        // A damaged or truncated file: report what was read, say where it stopped.
        std::fflush(stdout);
        std::fprintf(stderr, "tbhelperctl: %s: reading stopped: %s\n", file.c_str(), pcap_geterr(pcap.get()));
        break;
    }
    auto report = analyzer.finish();
    if (g.json)
        std::printf("%s\n", dump_json(to_json(report, file), 2).c_str());
    else
        std::fputs(format_report(report, file).c_str(), stdout);
    return kExitOk;
}

}  // namespace tb::ctl
