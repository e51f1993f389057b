#include "ctl/capture.hpp"

#include <pcap/pcap.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

namespace tb::ctl {

namespace {

struct PcapClose {
    void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapClose>;

CaptureAnalysis analyze_pcap(pcap_t* pcap, const Config& config, const std::string& name) {
    const int link_type = pcap_datalink(pcap);
    if (!link_type_supported(link_type)) {
        const char* pcap_name = pcap_datalink_val_to_name(link_type);
        throw CaptureError(fmt::format("{}: link type {} ({}) is not supported; supported: {}", name,
                                       link_type_name(link_type), pcap_name ? pcap_name : "?",
                                       supported_link_types()));
    }
    Analyzer analyzer(config, link_type);
    CaptureAnalysis out;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    for (;;) {
        const int rc = pcap_next_ex(pcap, &header, &data);
        if (rc == 1) {
            analyzer.add_frame(std::span<const std::uint8_t>(data, header->caplen), header->len);
            continue;
        }
        if (rc != PCAP_ERROR_BREAK) out.stopped = pcap_geterr(pcap);  // PCAP_ERROR_BREAK: end of file
        break;
    }
    out.report = analyzer.finish();
    return out;
}

}  // namespace

CaptureAnalysis analyze_capture_file(const std::string& path, const Config& config) {
    char err[PCAP_ERRBUF_SIZE] = {};
    PcapHandle pcap(pcap_open_offline(path.c_str(), err));
    if (!pcap) throw CaptureError(fmt::format("cannot read capture {}: {}", path, err));
    return analyze_pcap(pcap.get(), config, path);
}

CaptureAnalysis analyze_capture_bytes(std::span<const std::uint8_t> bytes, const Config& config,
                                      const std::string& name) {
    if (bytes.empty()) throw CaptureError(fmt::format("cannot read capture {}: empty", name));
    // fmemopen only reads the buffer; the cast drops a const it never uses.
    FILE* f = ::fmemopen(const_cast<std::uint8_t*>(bytes.data()), bytes.size(), "rb");
    if (!f) throw CaptureError(fmt::format("cannot read capture {}: fmemopen failed", name));
    char err[PCAP_ERRBUF_SIZE] = {};
    PcapHandle pcap(pcap_fopen_offline(f, err));  // owns f from here on (pcap_close closes it)
    if (!pcap) {
        std::fclose(f);
        throw CaptureError(fmt::format("cannot read capture {}: {}", name, err));
    }
    return analyze_pcap(pcap.get(), config, name);
}

}  // namespace tb::ctl
