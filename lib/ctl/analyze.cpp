#include "ctl/analyze.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <tuple>
#include <variant>

#include <fmt/format.h>

#include "helper/runtime.hpp"
#include "net/packet.hpp"
#include "text/escape.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/policy.hpp"
#include "ctl/format.hpp"
#include "helper/counter_table.hpp"
#include "timbuktu/decisions.hpp"
#include "timbuktu/session.hpp"
#include "timbuktu/services.hpp"

namespace tb::ctl {

// ---------------------------------------------------------------------------
// Link types

bool link_type_supported(int t) {
    switch (t) {
        case kLinkNull: case kLinkEthernet: case kLinkRaw: case kLinkRawDlt12: case kLinkRawDlt14: case kLinkLoop:
        case kLinkLinuxSll: case kLinkIpv4: case kLinkIpv6: case kLinkLinuxSll2:
            return true;
        default:
            return false;
    }
}

std::string link_type_name(int t) {
    switch (t) {
        case kLinkNull: return "NULL";
        case kLinkEthernet: return "EN10MB";
        case kLinkRaw: case kLinkRawDlt12: case kLinkRawDlt14: return "RAW";
        case kLinkLoop: return "LOOP";
        case kLinkLinuxSll: return "LINUX_SLL";
        case kLinkIpv4: return "IPV4";
        case kLinkIpv6: return "IPV6";
        case kLinkLinuxSll2: return "LINUX_SLL2";
        default: return fmt::format("DLT {}", t);
    }
}

std::string supported_link_types() {
    return "EN10MB (Ethernet, Linux lo), LINUX_SLL and LINUX_SLL2 (tcpdump -i any), RAW, IPV4, IPV6, NULL, LOOP";
}

// ---------------------------------------------------------------------------
// Decoding

namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86DD, kEtherVlan = 0x8100, kEtherQinQ = 0x88A8;

using Bytes = std::span<const std::uint8_t>;

// Explains a short buffer: cut by the capture's snap length, or short on the wire.
std::string short_reason(const char* what, std::size_t need, std::size_t have, bool snapped) {
    return fmt::format("{} needs {} bytes, {} captured{}", what, need, have,
                       snapped ? " (the capture's snap length cut the frame)" : "");
}

// The IP packet, decoded by the decoder tbhelperd uses (lib/net/packet), so
// that a capture is seen as the daemon sees the queue: the same extension
// headers walked (AH included), the same packets refused. Only the words for
// a refusal are analyze's, with the snap-length remark a capture needs.
DecodeStatus decode_ip(Bytes ip, bool snapped, DecodedPacket& out, std::string& why) {
    net::ParsedPacket p;
    net::ParseDetail d;
    switch (net::parse_packet(ip, p, &d)) {
        case net::ParseError::none: break;
        case net::ParseError::not_tcp_udp: return DecodeStatus::ignored;
        case net::ParseError::fragment:
            why = fmt::format("{} fragment (analyze does not reassemble IP fragments)", (ip[0] >> 4) == 4 ? "IPv4" : "IPv6");
            return DecodeStatus::error;
        case net::ParseError::bad_version:
            why = fmt::format("IP version {} is neither 4 nor 6", d.have);
            return DecodeStatus::error;
        case net::ParseError::truncated:
            why = d.bad_field ? fmt::format("{} {} is out of range (the packet needs {} {})", d.what, d.have,
                                            d.have < d.need ? "at least" : "at most", d.need)
                              : short_reason(d.what, d.need, d.have, snapped);
            return DecodeStatus::error;
    }
    out.proto = p.l4proto == IPPROTO_TCP ? Transport::tcp : Transport::udp;
    out.src = p.src;
    out.dst = p.dst;
    out.sport = p.sport;
    out.dport = p.dport;
    if (out.proto == Transport::tcp) {
        out.seq = p.tcp_seq;
        out.fin = p.tcp_flags & TH_FIN;
        out.syn = p.tcp_flags & TH_SYN;
        out.rst = p.tcp_flags & TH_RST;
        out.ack = p.tcp_flags & TH_ACK;
    }
    out.payload = ip.subspan(p.payload_offset, p.payload_length);
    return DecodeStatus::ok;
}

DecodeStatus by_ethertype(std::uint16_t type, Bytes rest, bool snapped, DecodedPacket& out, std::string& why) {
    if (type == kEtherIpv4 || type == kEtherIpv6) return decode_ip(rest, snapped, out, why);
    return DecodeStatus::ignored;
}

}  // namespace

DecodeStatus decode_frame(int link_type, Bytes f, std::uint32_t original_length, DecodedPacket& out,
                          std::string& why) {
    const bool snapped = original_length > f.size();
    out = DecodedPacket{};
    switch (link_type) {
        case kLinkEthernet: {
            std::size_t off = 12;
            for (int tags = 0;; ++tags) {
                if (f.size() < off + 2)
                    return why = short_reason("Ethernet header", off + 2, f.size(), snapped), DecodeStatus::error;
                std::uint16_t type = load_be16(f.data() + off);
                if ((type == kEtherVlan || type == kEtherQinQ) && tags < 2) {
                    off += 4;
                    continue;
                }
                return by_ethertype(type, f.subspan(off + 2), snapped, out, why);
            }
        }
        case kLinkLinuxSll:
            if (f.size() < 16) return why = short_reason("Linux cooked header", 16, f.size(), snapped), DecodeStatus::error;
            return by_ethertype(load_be16(f.data() + 14), f.subspan(16), snapped, out, why);
        case kLinkLinuxSll2:
            if (f.size() < 20) return why = short_reason("Linux cooked v2 header", 20, f.size(), snapped), DecodeStatus::error;
            return by_ethertype(load_be16(f.data()), f.subspan(20), snapped, out, why);
        case kLinkRaw: case kLinkRawDlt12: case kLinkRawDlt14: case kLinkIpv4: case kLinkIpv6:
            return decode_ip(f, snapped, out, why);
        case kLinkNull: case kLinkLoop: {
            if (f.size() < 4) return why = short_reason("loopback header", 4, f.size(), snapped), DecodeStatus::error;
            // The family is 2 for IPv4 everywhere; IPv6 is 10, 24, 28 or 30 by OS. Byte order
            // differs (NULL: the writer's), so read the IP version instead.
            return decode_ip(f.subspan(4), snapped, out, why);
        }
        default:
            return why = fmt::format("link type {} is not supported", link_type_name(link_type)), DecodeStatus::error;
    }
}

// ---------------------------------------------------------------------------
// Analysis

std::size_t AnalysisReport::timbuktu_sessions() const {
    return static_cast<std::size_t>(
        std::count_if(sessions.begin(), sessions.end(), [](const AnalysisSession& s) { return s.timbuktu; }));
}

std::size_t AnalysisReport::unmodelled_flows() const {
    return static_cast<std::size_t>(
        std::count_if(sessions.begin(), sessions.end(), [](const AnalysisSession& s) { return s.unmodelled; }));
}

namespace {

using FlowKey = std::tuple<Transport, IpAddress, std::uint16_t, IpAddress, std::uint16_t>;

FlowKey flow_key(const DecodedPacket& p) {
    // Canonical: the smaller endpoint first.
    if (std::tie(p.src, p.sport) < std::tie(p.dst, p.dport)) return {p.proto, p.src, p.sport, p.dst, p.dport};
    return {p.proto, p.dst, p.dport, p.src, p.sport};
}

// Hash of the tuple types the indexes use (FNV-1a over the fields' bytes).
struct TupleHash {
    static void mix(std::size_t& h, const void* data, std::size_t n) {
        const auto* p = static_cast<const std::uint8_t*>(data);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    }
    static void mix(std::size_t& h, const IpAddress& a) {
        const auto family = static_cast<std::uint8_t>(a.family);
        mix(h, &family, 1);
        mix(h, a.bytes.data(), a.bytes.size());
    }
    static void mix(std::size_t& h, Transport t) {
        const auto v = static_cast<std::uint8_t>(t);
        mix(h, &v, 1);
    }
    static void mix(std::size_t& h, std::uint16_t v) { mix(h, &v, sizeof v); }
    static void mix(std::size_t& h, std::size_t v) { mix(h, &v, sizeof v); }
    template <class... T>
    std::size_t operator()(const std::tuple<T...>& t) const {
        std::size_t h = 14695981039346656037ull;
        std::apply([&](const auto&... f) { (mix(h, f), ...); }, t);
        return h;
    }
};

// The stream an expectation lets the guest open: proto, guest, address, port.
using StreamKey = std::tuple<Transport, IpAddress, IpAddress, std::uint16_t>;
// What a repeated offer replaces (B8): same session, transport and port.
using OfferKey = std::tuple<std::size_t, Transport, std::uint16_t>;

struct Flow {
    std::size_t report_index = 0;  // into report.sessions
    // The conntrack a firewall would hold for this flow, synthesized: original
    // tuple = the side that opened, reply = its inverse (no NAT), confirmed,
    // the flow's number as its id; the helper's private data is what the
    // runtime wrote back, and a detach empties the helper name.
    helper::ConntrackFacts ct;
    IpAddress guest;
    std::uint16_t guest_port = 0;
    bool closed = false;  // FIN or RST seen (TCP): a new SYN starts a new connection
};

}  // namespace

struct Analyzer::Impl : helper::KernelPort, helper::EventSink {
    Config config;
    timbuktu::Policy policy;
    AnalysisReport report;
    // The helper runtime tbhelperd runs, over the capture: no interfaces (no
    // reply check), expectations recorded by this port, events into the report.
    std::unique_ptr<helper::HelperRuntime> runtime;
    std::uint32_t flows_seen = 0;  // conntrack ids of the synthesized conntracks
    std::uint64_t current_frame = 0;        // the frame the runtime is working on
    AnalysisSession* current = nullptr;     // and its session
    std::vector<std::uint8_t> scratch;      // the packet handed to the runtime (a Rewrite changes it)
    // Hash maps, so that the analysis grows linearly with the capture (issue 8:
    // a scan of every expectation per offer and per new stream was quadratic).
    std::unordered_map<FlowKey, Flow, TupleHash> flows;
    std::unordered_set<FlowKey, TupleHash> other_flows;  // flows not on a contact port, seen (bounded like flows)
    // report.expectations holds every expectation in offer order; one that a
    // repeated offer replaced is marked here and dropped in finish().
    std::vector<bool> replaced;
    // The unused expectation of each (session, transport, port): what a repeated offer replaces.
    std::unordered_map<OfferKey, std::size_t, TupleHash> unused_by_offer;
    // Unused expectations by the stream they admit, oldest first (replaced and
    // used ones are skipped lazily: `next_unused` is the first to look at).
    struct Waiting {
        std::vector<std::size_t> indexes;
        std::size_t next_unused = 0;
    };
    std::unordered_map<StreamKey, Waiting, TupleHash> unused_by_stream;

    bool tcp_contact(std::uint16_t p) const {
        return std::find(config.tcp_contact_ports.begin(), config.tcp_contact_ports.end(), p) !=
               config.tcp_contact_ports.end();
    }
    bool udp_contact(std::uint16_t p) const {
        return std::find(config.udp_contact_ports.begin(), config.udp_contact_ports.end(), p) !=
               config.udp_contact_ports.end();
    }
    bool contact(Transport t, std::uint16_t p) const { return t == Transport::tcp ? tcp_contact(p) : udp_contact(p); }

    void unparsed(std::uint64_t frame, std::string layer, std::optional<std::size_t> sid, std::string reason) {
        if (report.unparsed.size() >= kMaxUnparsed) {
            ++report.unparsed_omitted;
            return;
        }
        report.unparsed.push_back({frame, std::move(layer), sid, std::move(reason)});
    }

    void event(AnalysisSession& s, std::uint64_t frame, const char* level, std::string text) {
        if (s.events.size() < kMaxEventsPerSession) s.events.push_back({frame, level, std::move(text)});
    }

    // Which side opened the flow; nullopt when this is not a contact connection.
    std::optional<std::pair<IpAddress, std::uint16_t>> guest_of(const DecodedPacket& p) const {
        if (p.proto == Transport::tcp && p.syn) {
            // SYN from the guest; SYN+ACK from the host (the SYN was not captured).
            if (!p.ack) {
                if (tcp_contact(p.dport)) return std::pair{p.src, p.sport};
                return std::nullopt;
            }
            if (tcp_contact(p.sport)) return std::pair{p.dst, p.dport};
            return std::nullopt;
        }
        if (contact(p.proto, p.dport)) return std::pair{p.src, p.sport};
        if (contact(p.proto, p.sport)) return std::pair{p.dst, p.dport};
        return std::nullopt;
    }

    // A packet outside any contact connection: counted as other traffic; when
    // it opens a stream an offer announced, the expectation is marked used.
    void other_traffic(std::uint64_t frame, const DecodedPacket& p) {
        ++report.ignored_frames;
        const FlowKey key = flow_key(p);
        const bool first_seen = other_flows.find(key) == other_flows.end();
        if (first_seen && other_flows.size() < kMaxFlows) other_flows.insert(key);
        const bool opening = p.proto == Transport::tcp ? (p.syn && !p.ack) : first_seen;
        if (!opening) return;
        auto w = unused_by_stream.find(StreamKey{p.proto, p.src, p.dst, p.dport});
        if (w == unused_by_stream.end()) return;
        auto& waiting = w->second;
        for (; waiting.next_unused < waiting.indexes.size(); ++waiting.next_unused) {
            const std::size_t i = waiting.indexes[waiting.next_unused];
            auto& e = report.expectations[i];
            if (replaced[i] || e.used_frame) continue;
            if (e.frame >= frame) return;  // offered later than this packet (same frame cannot happen)
            e.used_frame = frame;
            unused_by_offer.erase(OfferKey{e.session, e.proto, e.dport});
            ++waiting.next_unused;
            event(report.sessions[e.session - 1], frame, "info",
                  fmt::format("the guest opened the expected {} stream to {} (offer of frame {})",
                              transport_name(e.proto), format_endpoint(e.dst, e.dport), e.frame));
            return;
        }
    }

    void packet(std::uint64_t frame, const DecodedPacket& p) {
        const FlowKey key = flow_key(p);
        auto it = flows.find(key);
        const bool new_tcp_connection = p.proto == Transport::tcp && p.syn && !p.ack;
        if (it != flows.end() && new_tcp_connection && it->second.closed) {
            flows.erase(it);  // port reuse: a new connection on the same tuple
            it = flows.end();
        }
        if (it == flows.end()) {
            auto guest = guest_of(p);
            if (!guest) {
                other_traffic(frame, p);
                return;
            }
            if (flows.size() >= kMaxFlows) {
                unparsed(frame, "packet", std::nullopt,
                         fmt::format("more than {} contact connections in the capture; this one is not analyzed",
                                     kMaxFlows));
                return;
            }
            Flow f;
            f.guest = guest->first;
            f.guest_port = guest->second;
            const bool from_guest = p.src == f.guest && p.sport == f.guest_port;
            f.ct.id = ++flows_seen;
            f.ct.l3 = p.src.is_v4() ? AF_INET : AF_INET6;
            f.ct.l4 = p.proto == Transport::tcp ? IPPROTO_TCP : IPPROTO_UDP;
            f.ct.orig = {f.guest, from_guest ? p.dst : p.src, f.guest_port, from_guest ? p.dport : p.sport};
            // No NAT: H = D, G' = G.
            f.ct.reply = {f.ct.orig.dst, f.ct.orig.src, f.ct.orig.dport, f.ct.orig.sport};
            f.ct.confirmed = true;
            f.ct.help = helper::CtHelp{std::string(helper::kTimbuktuHelper.name), {}, false};
            AnalysisSession s;
            s.id = report.sessions.size() + 1;
            s.transport = p.proto;
            s.guest = f.ct.orig.src;
            s.guest_port = f.ct.orig.sport;
            s.host = f.ct.reply.src;
            s.contact_port = f.ct.orig.dport;
            s.first_frame = frame;
            f.report_index = report.sessions.size();
            report.sessions.push_back(std::move(s));
            it = flows.emplace(key, std::move(f)).first;
        }
        Flow& f = it->second;
        AnalysisSession& s = report.sessions[f.report_index];
        s.last_frame = frame;
        ++s.frames;
        if (p.fin || p.rst) f.closed = true;

        // The packet as the runtime sees it: the payload alone (the capture's
        // headers were decoded above), with the TCP facts it reads.
        net::ParsedPacket parsed;
        parsed.src = p.src;
        parsed.dst = p.dst;
        parsed.sport = p.sport;
        parsed.dport = p.dport;
        parsed.l4proto = f.ct.l4;
        parsed.tcp_seq = p.seq;
        if (p.proto == Transport::tcp)
            parsed.tcp_flags = static_cast<std::uint8_t>((p.fin ? net::kTcpFin : 0) | (p.syn ? net::kTcpSyn : 0) |
                                                         (p.rst ? net::kTcpRst : 0));
        scratch.assign(p.payload.begin(), p.payload.end());
        parsed.payload_offset = 0;
        parsed.payload_length = scratch.size();
        helper::PacketIn in;
        in.data = scratch;
        in.parsed = &parsed;
        in.conntrack = &f.ct;
        in.direction = (p.src == f.guest && p.sport == f.guest_port) ? timbuktu::PacketDirection::original
                                                                     : timbuktu::PacketDirection::reply;
        const auto sessions_before = runtime->counters().sessions;
        current_frame = frame;
        current = &s;
        const helper::PacketOutcome out = runtime->on_packet(in);
        current = nullptr;
        std::visit(helper::Overloaded{
                       [](std::monostate) {},
                       [&](const helper::WriteState& w) {
                           f.ct.help->info.assign(w.state.begin(), w.state.end());
                           f.ct.help->has_info = true;
                       },
                       [&](const helper::DetachHelper&) {
                           f.ct.help->name.clear();  // the kernel queues no more of it
                           f.ct.help->info.clear();
                           f.ct.help->has_info = false;
                       },
                   },
                   out.ct_help);
        if (runtime->counters().sessions != sessions_before) s.timbuktu = true;
        if (!out.session) return;  // not fed to the engine (a bare SYN, a pure ACK, a detached flow)
        const helper::SessionState session = *out.session;
        s.phase = timbuktu::phase_name(session.phase);
        // B9: Timbuktu outside the model. For an A10 flow the engine first said
        // "not Timbuktu" (the guest's datagram was foreign), then the host's
        // reply showed Timbuktu: that first verdict no longer stands.
        if (session.phase == timbuktu::Phase::unmodelled && !s.unmodelled) {
            s.unmodelled = true;
            s.not_timbuktu.clear();
        }
        if (s.timbuktu) s.service = timbuktu::service_name(session.service);
    }

    // KernelPort: an analysis creates nothing; it records what a helper would create.
    helper::ExpectationResult create_expectation(const helper::ConntrackFacts&, const timbuktu::Expect& e) override {
        if (current) expect(current_frame, *current, e);
        return {};
    }
    std::optional<helper::OriginalPath> route_to(const IpAddress&) override { return std::nullopt; }

    // EventSink: the runtime's events as the report's entries.
    void on_event(const helper::RuntimeEvent& ev) override {
        namespace hev = helper::event;
        if (!current) return;  // evictions and the like: nothing of a session
        AnalysisSession& s = *current;
        const std::uint64_t frame = current_frame;
        std::visit(
            helper::Overloaded{
                [&](const hev::Refused& e) {
                    const timbuktu::Refuse& r = *e.refuse;
                    const auto reason = timbuktu::refuse_reason_name(r.reason);
                    auto detail = timbuktu::refuse_text(r);
                    if (r.reason != timbuktu::RefuseReason::forged_guest_offer) ++s.offers;
                    event(s, frame, "warning", fmt::format("refused ({}): {}", reason, detail));
                    report.refusals.push_back({frame, s.id, reason, std::move(detail)});
                },
                [&](const hev::Rewritten& e) { would_rewrite(s, frame, *e.rewrite); },
                [&](const hev::RewriteFailed& e) { would_rewrite(s, frame, *e.rewrite); },
                [&](const hev::DroppedForRetransmit&) {
                    event(s, frame, "info",
                          "the daemon would drop this segment (beyond a gap it cannot hold) so that its sender "
                          "retransmits it");
                },
                [&](const hev::StoppedWatching& e) { s.stopped = timbuktu::stop_text(*e.stop); },
                [&](const hev::EngineEvent& e) {
                    const timbuktu::Event& n = *e.event;
                    if (n.level() == timbuktu::EventLevel::debug) return;  // never rendered
                    if (const auto* nt = std::get_if<timbuktu::event::NotTimbuktu>(&n.data))
                        s.not_timbuktu = timbuktu::not_timbuktu_why(*nt);
                    const bool warning = n.level() == timbuktu::EventLevel::warning;
                    auto text = timbuktu::event_text(n);
                    if (warning) unparsed(frame, "timbuktu", s.id, text);
                    event(s, frame, warning ? "warning" : "info", std::move(text));
                },
                // Recorded by create_expectation; the rest is the daemon's business (no kernel here).
                [](const auto&) {},
            },
            ev);
    }

    void would_rewrite(AnalysisSession& s, std::uint64_t frame, const timbuktu::Rewrite& w) {
        event(s, frame, "info", fmt::format("would rewrite {} at payload offset {}", timbuktu::rewrite_field_text(w), w.payload_offset));
    }

    void expect(std::uint64_t frame, AnalysisSession& s, const timbuktu::Expect& e) {
        const AnalysisExpectation x{netfilter::expected_stream(e), frame, s.id, timbuktu::service_name(e.service), {}};
        // A repeated offer replaces the earlier expectation (B8): keep the latest.
        const std::size_t index = report.expectations.size();
        auto [slot, fresh] = unused_by_offer.try_emplace(OfferKey{x.session, x.proto, x.dport}, index);
        if (!fresh) {
            replaced[slot->second] = true;
            slot->second = index;
        }
        report.expectations.push_back(x);
        replaced.push_back(false);
        unused_by_stream[StreamKey{x.proto, x.src, x.dst, x.dport}].indexes.push_back(index);
        ++s.offers;
        event(s, frame, "info",
              fmt::format("offer: would expect {} {} -> {} ({}) for {}s", transport_name(x.proto), x.src.to_string(),
                          format_endpoint(x.dst, x.dport), x.service, x.timeout));
    }
};

Analyzer::Analyzer(const Config& config, int link_type) : impl_(std::make_unique<Impl>()) {
    impl_->config = config;
    impl_->policy = timbuktu::Policy::from_config(config);
    impl_->report.link_type = link_type;
    impl_->report.tcp_contact_ports = config.tcp_contact_ports;
    impl_->report.udp_contact_ports = config.udp_contact_ports;
    helper::RuntimeOptions options;
    options.session_capacity = kMaxFlows;
    options.reply_interface_check = false;  // a capture has no interfaces
    impl_->runtime = std::make_unique<helper::HelperRuntime>(helper::kTimbuktuHelper, impl_->policy, options,
                                                             *impl_, *impl_);
}

Analyzer::~Analyzer() = default;

void Analyzer::add_frame(std::span<const std::uint8_t> captured, std::uint32_t original_length) {
    DecodedPacket p;
    std::string why;
    switch (decode_frame(impl_->report.link_type, captured, original_length, p, why)) {
        case DecodeStatus::ok:
            add_packet(p);
            return;
        case DecodeStatus::ignored:
            ++impl_->report.frames;
            ++impl_->report.ignored_frames;
            return;
        case DecodeStatus::error:
            ++impl_->report.frames;
            impl_->unparsed(impl_->report.frames, "packet", std::nullopt, why);
            return;
    }
}

void Analyzer::add_packet(const DecodedPacket& p) {
    const auto frame = ++impl_->report.frames;
    impl_->packet(frame, p);
}

AnalysisReport Analyzer::finish() {
    auto& exps = impl_->report.expectations;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < exps.size(); ++i)
        if (!impl_->replaced[i]) {
            if (kept != i) exps[kept] = std::move(exps[i]);
            ++kept;
        }
    exps.resize(kept);
    impl_->replaced.assign(kept, false);
    impl_->unused_by_offer.clear();  // indexes into the old order: finish() ends the analysis
    impl_->unused_by_stream.clear();
    impl_->report.counters = impl_->runtime->counters();
    for (auto& s : impl_->report.sessions)
        if (s.phase.empty()) s.phase = timbuktu::phase_name(timbuktu::Phase::await_hello);
    return impl_->report;
}

// ---------------------------------------------------------------------------
// Output

namespace {

// The engine's figures, named as analyze's report names them (helper/counter_table.hpp).
nlohmann::json counters_json(const timbuktu::Counters& c) {
    helper::CounterSources sources;
    sources.engine = &c;
    nlohmann::json j = nlohmann::json::object();
    for (const auto& info : helper::counter_table())
        if (!info.report_key.empty())
            if (auto value = info.read(sources)) j[std::string(info.report_key)] = *value;
    return j;
}

std::string plural(std::size_t n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

nlohmann::json to_json(const AnalysisReport& r, const std::string& file) {
    using nlohmann::json;
    json sessions = json::array();
    for (const auto& s : r.sessions) {
        json events = json::array();
        for (const auto& e : s.events) events.push_back({{"frame", e.frame}, {"level", e.level}, {"text", e.text}});
        json j = {{"id", s.id},
                  {"timbuktu", s.timbuktu},
                  {"unmodelled", s.unmodelled},
                  {"transport", std::string(transport_name(s.transport))},
                  {"guest", s.guest.to_string()},
                  {"guest_port", s.guest_port},
                  {"host", s.host.to_string()},
                  {"contact_port", s.contact_port},
                  {"phase", s.phase},
                  {"first_frame", s.first_frame},
                  {"last_frame", s.last_frame},
                  {"frames", s.frames},
                  {"offers", s.offers},
                  {"events", events}};
        if (s.timbuktu) j["service"] = s.service;
        if (!s.not_timbuktu.empty()) j["not_timbuktu"] = s.not_timbuktu;
        if (!s.stopped.empty()) j["stopped"] = s.stopped;
        sessions.push_back(std::move(j));
    }
    json exps = json::array();
    for (const auto& e : r.expectations) {
        json j = {{"frame", e.frame},        {"session", e.session},  {"proto", std::string(transport_name(e.proto))},
                  {"src", e.src.to_string()}, {"dst", e.dst.to_string()}, {"dport", e.dport},
                  {"service", e.service},    {"timeout", e.timeout},  {"used_frame", nullptr}};
        if (e.used_frame) j["used_frame"] = *e.used_frame;
        exps.push_back(std::move(j));
    }
    json refusals = json::array();
    for (const auto& x : r.refusals)
        refusals.push_back({{"frame", x.frame}, {"session", x.session}, {"reason", x.reason}, {"detail", x.detail}});
    json unparsed = json::array();
    for (const auto& u : r.unparsed) {
        json j = {{"frame", u.frame}, {"layer", u.layer}, {"reason", u.reason}};
        if (u.session) j["session"] = *u.session;
        unparsed.push_back(std::move(j));
    }
    return {{"file", file},
            {"link_type", link_type_name(r.link_type)},
            {"frames", r.frames},
            {"ignored_frames", r.ignored_frames},
            {"tcp_contact_ports", r.tcp_contact_ports},
            {"udp_contact_ports", r.udp_contact_ports},
            {"timbuktu_sessions", r.timbuktu_sessions()},
            {"sessions", sessions},
            {"expectations", exps},
            {"refusals", refusals},
            {"unparsed", unparsed},
            {"unparsed_omitted", r.unparsed_omitted},
            {"counters", counters_json(r.counters)}};
}

// Everything a capture carries (names in HELLO and HELLO-ACK, the engine's
// words about bytes a peer chose) is escaped here, at the edge, once; the JSON
// keeps the real strings (docs/tbhelperctl.md#untrusted-text).
std::string format_report(const AnalysisReport& r, const std::string& file_in) {
    const auto esc = [](const std::string& t) { return escape_untrusted(t); };
    const std::string file = escape_untrusted(file_in);
    const std::size_t foreign = r.sessions.size() - r.timbuktu_sessions() - r.unmodelled_flows();
    std::string out = fmt::format(
        "{}: {} ({}), {}, {} Timbuktu outside the model, {} on contact ports that {} not Timbuktu, {}, {}, {}\n",
        file, plural(r.frames, "frame", "frames"), link_type_name(r.link_type),
        plural(r.timbuktu_sessions(), "Timbuktu session", "Timbuktu sessions"),
        plural(r.unmodelled_flows(), "flow", "flows"), plural(foreign, "flow", "flows"), foreign == 1 ? "is" : "are",
        plural(r.expectations.size(), "expectation", "expectations"), plural(r.refusals.size(), "refusal", "refusals"),
        plural(r.unparsed.size() + r.unparsed_omitted, "unparsed frame", "unparsed frames"));
    for (const auto& s : r.sessions) {
        out += fmt::format("\nsession {}  {} {} -> {}  ", s.id, transport_name(s.transport),
                           format_endpoint(s.guest, s.guest_port), format_endpoint(s.host, s.contact_port));
        if (s.timbuktu)
            out += fmt::format("service {}, {}, ", esc(s.service), plural(s.offers, "offer", "offers"));
        else if (s.unmodelled)
            out += "Timbuktu, outside the model, ";
        else
            out += "not Timbuktu, ";
        out += fmt::format("frames {}-{} ({}), phase {}\n", s.first_frame, s.last_frame, s.frames, s.phase);
        if (!s.timbuktu && !s.not_timbuktu.empty()) out += fmt::format("  {}\n", esc(s.not_timbuktu));
        for (const auto& e : s.events) {
            if (!s.timbuktu && !s.unmodelled && e.text.rfind("not Timbuktu", 0) == 0) continue;
            out += fmt::format("  frame {:<6} {}{}\n", e.frame, e.level == "warning" ? "warning: " : "", esc(e.text));
        }
        if (s.timbuktu && !s.stopped.empty())
            out += fmt::format("  a helper would stop watching: {}\n", esc(s.stopped));
    }
    if (!r.expectations.empty()) {
        out += "\nexpectations a firewall helper would create:\n";
        Table t({"FRAME", "SESSION", "PROTO", "GUEST", "ADDRESS", "PORT", "SERVICE", "TIMEOUT", "USED"});
        for (const auto& e : r.expectations)
            t.add({std::to_string(e.frame), std::to_string(e.session), std::string(transport_name(e.proto)),
                   e.src.to_string(), e.dst.to_string(), std::to_string(e.dport), esc(e.service),
                   fmt::format("{}s", e.timeout), e.used_frame ? fmt::format("frame {}", *e.used_frame) : "-"});
        out += t.render();
    }
    if (!r.refusals.empty()) {
        out += "\nrefusals:\n";
        for (const auto& x : r.refusals)
            out += fmt::format("  frame {:<6} session {}: {}: {}\n", x.frame, x.session, x.reason, esc(x.detail));
    }
    if (!r.unparsed.empty()) {
        out += "\nframes that could not be parsed:\n";
        for (const auto& u : r.unparsed)
            out += fmt::format("  frame {:<6} {}{}: {}\n", u.frame, u.layer,
                               u.session ? fmt::format(" (session {})", *u.session) : "", esc(u.reason));
        if (r.unparsed_omitted) out += fmt::format("  ... and {} more\n", r.unparsed_omitted);
    }
    // The engine's counters, as in --json (and tbhelperd's status): unmodelled,
    // reflected, forged ... over the whole capture.
    out += "\nengine counters:";
    bool first = true;
    const auto counters = counters_json(r.counters);  // named: items() does not keep a temporary alive
    for (const auto& [name, value] : counters.items()) {
        out += fmt::format("{} {} {}", first ? "" : ",", name, value.dump());
        first = false;
    }
    out += "\n";
    return out;
}

}  // namespace tb::ctl
