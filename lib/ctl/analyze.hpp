// tbhelperctl analyze: the protocol engine over captured packets, without
// libpcap (ctl/ reads the file and hands every frame to an Analyzer), so that
// the unit tests can feed synthetic packets.
//
// Model of the firewall: no NAT (H = D, G' = G). A flow is a contact
// connection when its responder port is a configured contact port of its
// transport. The guest is who opened it: the sender of the SYN for TCP, else
// the side that sent to the contact port.
//
// Each contact flow goes through the helper runtime tbhelperd runs
// (helper/runtime.hpp), with a conntrack synthesized for it: original tuple =
// the side that opened, reply = its inverse, confirmed, the flow's number as
// conntrack id, no reply-interface check (a capture has no interfaces). What
// the runtime writes back is kept as the flow's private data; after a detach
// the flow is no longer examined, as no more of it would be queued.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/address.hpp"
#include "netfilter/expectation.hpp"
#include "config/config.hpp"
#include "timbuktu/counters.hpp"

namespace tb::ctl {

// libpcap link types (DLT_/LINKTYPE_ values) the decoder understands.
constexpr int kLinkNull = 0;         // BSD loopback, host-order AF_ value
constexpr int kLinkEthernet = 1;     // EN10MB (also Linux "lo"), 802.1Q/802.1ad tags skipped
constexpr int kLinkRaw = 101;        // LINKTYPE_RAW (DLT_RAW is 12 or 14 by platform)
constexpr int kLinkRawDlt12 = 12;
constexpr int kLinkRawDlt14 = 14;
constexpr int kLinkLoop = 108;       // OpenBSD loopback, network-order AF_ value
constexpr int kLinkLinuxSll = 113;   // Linux cooked (tcpdump -i any)
constexpr int kLinkIpv4 = 228;
constexpr int kLinkIpv6 = 229;
constexpr int kLinkLinuxSll2 = 276;  // Linux cooked v2

bool link_type_supported(int link_type);
std::string link_type_name(int link_type);  // "EN10MB", "LINUX_SLL", ... or "DLT N"
std::string supported_link_types();         // for the error message

// One TCP or UDP packet as the decoder found it.
struct DecodedPacket {
    Transport proto = Transport::tcp;
    IpAddress src;
    IpAddress dst;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    std::uint32_t seq = 0;
    bool syn = false, ack = false, fin = false, rst = false;
    std::span<const std::uint8_t> payload;
};

enum class DecodeStatus {
    ok,
    ignored,  // not IP, or IP but neither TCP nor UDP: other traffic, not an error
    error,    // could not be parsed; `why` says why
};
// `captured` is what the capture holds of the frame, `original_length` the
// frame's length on the wire (more when the capture's snap length cut it).
DecodeStatus decode_frame(int link_type, std::span<const std::uint8_t> captured, std::uint32_t original_length,
                          DecodedPacket& out, std::string& why);

struct AnalysisEvent {
    std::uint64_t frame = 0;
    std::string level;  // "info" / "warning"
    std::string text;
};

// An expectation the daemon would have created (netfilter/expectation.hpp:
// the stream it admits), with where analyze saw its offer and its use.
struct AnalysisExpectation : netfilter::ExpectedStream {
    std::uint64_t frame = 0;  // frame carrying the offer
    std::size_t session = 0;  // session id
    std::string service;
    std::optional<std::uint64_t> used_frame;  // first frame of a guest stream that matches it, if any
};

struct AnalysisRefusal {
    std::uint64_t frame = 0;
    std::size_t session = 0;
    std::string reason;  // refuse_reason_name(): forged, third-party-address, ...
    std::string detail;
};

struct AnalysisSession {
    std::size_t id = 0;  // 1, 2, ... in order of first frame
    Transport transport = Transport::tcp;
    IpAddress guest;
    std::uint16_t guest_port = 0;
    IpAddress host;
    std::uint16_t contact_port = 0;
    std::string service;  // B2 name once the HELLO was seen
    std::string phase;    // engine phase at the end of the capture
    std::uint64_t first_frame = 0, last_frame = 0, frames = 0;
    bool timbuktu = false;       // a valid HELLO was seen
    bool unmodelled = false;     // Timbuktu outside the model (B9; also A10: a foreign guest
                                 // datagram answered by Timbuktu): the engine's phase unmodelled
    std::string not_timbuktu;    // why, when the engine left it alone
    std::string stopped;         // StopWatching reason, if any
    std::size_t offers = 0;      // host PORT-OFFERs acted on (expectations + refusals other than forged)
    std::vector<AnalysisEvent> events;
};

struct Unparsed {
    std::uint64_t frame = 0;
    std::string layer;  // "packet" (link/IP/TCP/UDP) or "timbuktu" (engine: malformed frame, lost stream)
    std::optional<std::size_t> session;
    std::string reason;
};

struct AnalysisReport {
    int link_type = 0;
    std::uint64_t frames = 0;          // frames read
    std::uint64_t ignored_frames = 0;  // other traffic
    std::vector<AnalysisSession> sessions;  // every flow on a contact port (timbuktu or not)
    std::vector<AnalysisExpectation> expectations;
    std::vector<AnalysisRefusal> refusals;
    std::vector<Unparsed> unparsed;
    std::uint64_t unparsed_omitted = 0;  // beyond kMaxUnparsed
    timbuktu::Counters counters;
    std::vector<std::uint16_t> tcp_contact_ports, udp_contact_ports;

    std::size_t timbuktu_sessions() const;
    std::size_t unmodelled_flows() const;
};

class Analyzer {
public:
    static constexpr std::size_t kMaxFlows = 65536;
    static constexpr std::size_t kMaxUnparsed = 1000;
    static constexpr std::size_t kMaxEventsPerSession = 200;

    Analyzer(const Config& config, int link_type);
    ~Analyzer();
    Analyzer(const Analyzer&) = delete;
    Analyzer& operator=(const Analyzer&) = delete;

    // Frames are numbered from 1 in capture order, like Wireshark.
    void add_frame(std::span<const std::uint8_t> captured, std::uint32_t original_length);
    // Same, from an already decoded packet (the tests use it).
    void add_packet(const DecodedPacket& p);
    AnalysisReport finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Output. `file` names the capture.
nlohmann::json to_json(const AnalysisReport& r, const std::string& file);
std::string format_report(const AnalysisReport& r, const std::string& file);

}  // namespace tb::ctl
