#include "helper_core.hpp"

#include <sys/socket.h>

#include <variant>

#include <fmt/format.h>

#include "kernel_text.hpp"
#include "log.hpp"
#include "netfilter/conntrack_facts.hpp"
#include "netfilter/ct_attrs.hpp"
#include "netfilter/expect_outcome.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/services.hpp"

namespace tb::daemon {

namespace {

using helper::Overloaded;

static_assert(helper::kTimbuktuHelper.name == std::string_view(kHelperName), "one name for the helper");

helper::RuntimeOptions runtime_options(const Config& config) {
    helper::RuntimeOptions o;
    o.reply_interface_check = config.reply_interface_check;
    o.session_capacity = config.session_capacity;
    return o;
}

}  // namespace

NetfilterPort::NetfilterPort(const Config& config) : config_(&config) {
    if (const auto& why = routes_.unavailable()) log_warning("{}", route_unavailable_text(*why));
}

helper::ExpectationResult NetfilterPort::create_expectation(const helper::ConntrackFacts& master,
                                                            const timbuktu::Expect& e) {
    helper::ExpectationResult r;
    int err = maker_.create(master, e, config_->expectation_timeout, r.timeout_error);
    if (!err) return r;
    return netfilter::classify_expect_failure(e.follow_nat, err);
}

std::optional<helper::OriginalPath> NetfilterPort::route_to(const IpAddress& host) { return routes_.path_to(host); }

namespace {

// The journal fields of an event about a connection (docs/daemon.md#journald-fields):
// TBHELPER_EVENT, the guest and host addresses, the contact port; the caller adds
// the service and port an event is about.
std::vector<LogField> conn_fields(std::string_view what, const helper::ConntrackFacts& c) {
    return {{"TBHELPER_EVENT", std::string(what)},
            {"TBHELPER_GUEST", c.orig.src.to_string()},
            {"TBHELPER_HOST", c.reply.src.to_string()},
            {"TBHELPER_CONTACT_PORT", std::to_string(c.orig.dport)}};
}

template <typename... Args>
void log_event(LogLevel level, const std::vector<LogField>& fields, fmt::format_string<Args...> f, Args&&... args) {
    if (!Log::enabled(level)) return;  // nothing formatted for a line that is not written
    Log::write(level, fmt::format(f, std::forward<Args>(args)...), fields);
}

std::vector<LogField> expect_fields(std::string_view what, const helper::ConntrackFacts& c, const timbuktu::Expect& x) {
    auto f = conn_fields(what, c);
    f.push_back({"TBHELPER_SERVICE", timbuktu::service_name(x.service)});
    f.push_back({"TBHELPER_PROTO", std::string(transport_name(x.transport))});
    f.push_back({"TBHELPER_PORT", std::to_string(x.port)});
    return f;
}

}  // namespace

void LogSink::on_event(const helper::RuntimeEvent& ev) {
    namespace event = helper::event;
    auto expect_text = [](const timbuktu::Expect& x) {
        return fmt::format("{} {} -> {} ({}, {} s{})", transport_name(x.transport), x.guest.to_string(),
                           format_endpoint(x.address, x.port), timbuktu::service_name(x.service), x.timeout_seconds,
                           x.follow_nat ? ", follows NAT" : "");
    };
    std::visit(
        Overloaded{
            [](const event::Unparsed& e) {
                if (e.error) log_debug("packet {} passed unexamined: {}", e.packet_id, net::parse_error_name(*e.error));
            },
            [](const event::NoConntrack& e) {
                if (e.first)
                    log_warning("packets arrive without their conntrack; they pass unexamined (is the queue fed by "
                                "something other than the timbuktu helper?)");
            },
            [](const event::Restored& e) {
                if (!Log::enabled(LogLevel::debug)) return;  // describe() only for a line that is written
                log_debug("{}: session restored from {} ({} phase)", e.conn->describe(),
                          e.from_peer ? "the peer daemon's copy (taken over from the other node)" : "the conntrack",
                          timbuktu::phase_name(e.phase));
            },
            [](const event::Spoofed& e) {
                log_event(LogLevel::warning, conn_fields("spoofed", *e.conn),
                            "{}: reply packet not from the host, passed and ignored (spoofed): it arrived {}, the "
                            "original direction leaves through {}",
                            e.conn->describe(), helper::describe_interfaces(e.ifaces),
                            e.original_outdev ? fmt::format("interface {}", e.original_outdev)
                                              : std::string("this machine (local)"));
            },
            [](const event::ReplyUnverified& e) {
                if (!Log::enabled(LogLevel::debug)) return;
                log_debug("{}: reply packet passed and ignored: {} ({})", e.conn->describe(),
                          helper::reply_verdict_name(e.verdict), helper::describe_interfaces(e.ifaces));
            },
            [](const event::EvictedJunk& e) {
                if (!Log::enabled(LogLevel::debug)) return;
                log_debug("session table full: forgot {} (no live session); its state stays in the kernel",
                          format_endpoint(e.orig.src, e.orig.sport));
            },
            [](const event::EvictedLive& e) {
                log_warning("session table full ({} entries, none of them junk): forgot the least recently used "
                            "session ({}); its state stays in the kernel",
                            e.capacity, format_endpoint(e.orig.src, e.orig.sport));
            },
            [&](const event::ExpectationCreated& e) {
                log_event(LogLevel::info, expect_fields("expect", *e.conn, *e.expect), "{}: expect {}",
                          e.conn->describe(), expect_text(*e.expect));
            },
            [&](const event::ExpectationFailed& e) {
                log_event(LogLevel::warning, expect_fields("expect-failed", *e.conn, *e.expect),
                          "{}: expect {} FAILED: {}", e.conn->describe(), expect_text(*e.expect),
                          expect_failure_text(e.kind, e.error));
            },
            [](const event::ExpectationNote& e) {
                log_warning("{}: {}", e.conn->describe(), expect_timeout_note_text(e.timeout_error));
            },
            [](const event::Rewritten& e) {
                const auto& x = *e.rewrite;
                log_event(LogLevel::info, conn_fields("rewrite", *e.conn), "{}: rewrite {} {}.{}.{}.{} -> {}.{}.{}.{}", e.conn->describe(), timbuktu::rewrite_field_text(x), x.old_bytes[0],
                         x.old_bytes[1], x.old_bytes[2], x.old_bytes[3], x.new_bytes[0], x.new_bytes[1],
                         x.new_bytes[2], x.new_bytes[3]);
            },
            [](const event::RewriteFailed& e) {
                log_warning("{}: rewrite {} at payload offset {} not done: {}", e.conn->describe(), timbuktu::rewrite_field_text(*e.rewrite),
                            e.rewrite->payload_offset,
                            e.result == net::RewriteResult::mismatch ? "bytes differ" : "out of range");
            },
            [](const event::Refused& e) {
                if (!Log::enabled(LogLevel::info)) return;
                auto f = conn_fields("refuse", *e.conn);
                f.push_back({"TBHELPER_REASON", std::string(timbuktu::refuse_reason_name(e.refuse->reason))});
                if (e.refuse->offer) {
                    f.push_back({"TBHELPER_SERVICE", timbuktu::service_name(e.refuse->offer->service)});
                    f.push_back({"TBHELPER_PROTO", std::string(transport_name(e.refuse->offer->transport))});
                    f.push_back({"TBHELPER_PORT", std::to_string(e.refuse->offer->port)});
                }
                log_event(LogLevel::info, f, "{}: refuse ({}): {}", e.conn->describe(),
                          timbuktu::refuse_reason_name(e.refuse->reason), timbuktu::refuse_text(*e.refuse));
            },
            [](const event::StoppedWatching& e) { log_info("{}: stop watching: {}", e.conn->describe(), timbuktu::stop_text(*e.stop)); },
            [](const event::EngineEvent& e) {
                // The words are rendered only for a line that is written.
                const auto lvl = e.event->level();
                const LogLevel level = lvl == timbuktu::EventLevel::warning ? LogLevel::warning
                                       : lvl == timbuktu::EventLevel::info  ? LogLevel::info
                                                                            : LogLevel::debug;
                if (!Log::enabled(level)) return;
                Log::write(level, fmt::format("{}: {}", e.conn->describe(), timbuktu::event_text(*e.event)),
                           conn_fields(timbuktu::event_kind_name(e.event->kind()), *e.conn));
            },
            [](const event::DroppedForRetransmit&) {},  // counted; the engine's own note says why
            [](const event::Detached&) {},              // counted (status: detached)
            [](const event::IdleExpired& e) {
                log_debug("forgot {} idle session(s); their state stays in the kernel", e.count);
            },
        },
        ev);
}

HelperCore::HelperCore(const Config& config)
    : config_(config),
      port_(config_),
      runtime_(helper::kTimbuktuHelper, timbuktu::Policy::from_config(config_), runtime_options(config_), port_, log_) {}

void HelperCore::apply_config(const Config& config) {
    config_ = config;
    runtime_.set_policy(timbuktu::Policy::from_config(config_), config_.reply_interface_check);
    runtime_.set_session_capacity(config_.session_capacity);
}

netfilter::Verdict handle_queued_packet(helper::HelperRuntime& runtime, netfilter::QueuedPacket& pkt, std::time_t now,
                                        const QueueRole& role) {
    netfilter::Verdict v;  // default: accept unchanged
    net::ParsedPacket parsed;
    // A super-packet longer than the copy (docs/daemon.md#gso): read as
    // segments, whole, on the segment queue. Its headers are whole: read with
    // the length fields saying what was copied, they let the runtime keep the
    // direction's segment mark, so that later packets follow it there.
    std::vector<std::uint8_t> cut_copy;
    const bool cut = pkt.truncated && role.segment_queue && !pkt.data.empty();
    if (cut) {
        v.requeue_to = role.segment_queue;
        cut_copy.assign(pkt.data.begin(), pkt.data.end());
        if (!net::fit_length_to_copy(cut_copy) || net::parse_packet(cut_copy, parsed) != net::ParseError::none)
            return v;
    } else if (pkt.data.empty() || pkt.truncated) {
        runtime.unparsed(pkt.id, std::nullopt);
        return v;
    } else if (auto err = net::parse_packet(pkt.data, parsed); err != net::ParseError::none) {
        runtime.unparsed(pkt.id, err);
        return v;
    }
    if (!pkt.ct || !pkt.ctinfo) {
        if (!cut) runtime.no_conntrack(true);
        return v;
    }
    const std::uint8_t l3 = parsed.src.is_v4() ? AF_INET : AF_INET6;
    auto facts = netfilter::parse_conntrack(*pkt.ct, l3);
    if (!facts) {
        if (!cut) runtime.no_conntrack(false);
        return v;
    }
    helper::PacketIn in;
    in.data = cut ? std::span<std::uint8_t>(cut_copy) : pkt.data;
    in.cut = cut;
    if (cut) in.cut_payload_length = pkt.cap_len > parsed.payload_offset ? pkt.cap_len - parsed.payload_offset : 0;
    in.parsed = &parsed;
    in.conntrack = &*facts;
    in.direction = helper::direction_from_ctinfo(*pkt.ctinfo);
    in.ifaces = pkt.ifaces;
    in.now = now;
    in.gso = pkt.gso;
    in.csum_not_ready = pkt.csum_not_ready;
    in.can_requeue = role.segment_queue.has_value();
    in.from_segment_queue = role.is_segment_queue;
    const helper::PacketOutcome out = runtime.on_packet(in);

    if (cut) return v;  // sent on whatever the runtime said (a forged reply, say): never answered in part
    switch (out.verdict) {
        case helper::PacketVerdict::requeue_as_segments:
            v.requeue_to = role.segment_queue;  // set: the runtime asks only when there is one
            return v;
        case helper::PacketVerdict::accept: break;
        case helper::PacketVerdict::accept_mangled: v.send_packet = true; break;
        case helper::PacketVerdict::drop_for_retransmit: v.drop = true; break;
    }
    std::visit(Overloaded{
                   [](std::monostate) {},
                   [&](const helper::WriteState& w) {
                       v.ct_nest = netfilter::build_nfqa_ct_help(runtime.helper().name, w.state);
                   },
                   [&](const helper::DetachHelper&) { v.ct_nest = netfilter::build_nfqa_ct_help("", {}); },
               },
               out.ct_help);
    return v;
}

netfilter::Verdict HelperCore::on_packet(netfilter::QueuedPacket& pkt, const QueueRole& role) {
    return handle_queued_packet(runtime_, pkt, std::time(nullptr), role);
}

}  // namespace tb::daemon
