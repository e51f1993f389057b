#include "helper_core.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "expect_outcome.hpp"
#include "kernel_pure/ct_attrs.hpp"
#include "log.hpp"
#include "protocol/services.hpp"

namespace tb::daemon {

using engine::saturating_inc;

namespace {

// nf_conntrack_tcp's states after which the connection carries no more data.
constexpr std::uint8_t kTcpTimeWait = 7, kTcpClose = 8;

std::string endpoint(const IpAddress& a, std::uint16_t port) {
    return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), port) : fmt::format("{}:{}", a.to_string(), port);
}

}  // namespace

bool phase_is_live(engine::Phase p) {
    switch (p) {
        case engine::Phase::await_hello:
        case engine::Phase::await_ack:
        case engine::Phase::framed: return true;
        // Finished, not Timbuktu, lost, hostile, outside the model: nothing
        // on them is ever acted on again.
        case engine::Phase::service_data:
        case engine::Phase::not_timbuktu:
        case engine::Phase::lost:
        case engine::Phase::hostile:
        case engine::Phase::unmodelled: return false;
    }
    return false;  // no switch case left out (-Wswitch): a new phase must be placed here
}

HelperCore::HelperCore(const Config& config)
    : config_(config), policy_(engine::Policy::from_config(config)), table_(kSessionCapacity) {}

void HelperCore::apply_config(const Config& config) {
    config_ = config;
    policy_ = engine::Policy::from_config(config);
    table_.for_each([&](SessionEntry& e) {
        if (e.session) e.session->set_policy(policy_);
    });
}

void HelperCore::housekeeping(std::time_t now) {
    std::size_t n = table_.expire(now, kIdle);
    if (n) log_debug("forgot {} idle session(s); their state stays in the kernel", n);
}

void HelperCore::place(SessionEntry& entry) {
    Lane lane = Lane::junk;
    if (entry.session && phase_is_live(entry.session->phase()))
        lane = entry.key.l4 == IPPROTO_UDP ? Lane::udp : Lane::tcp;
    table_.set_lane(entry, lane);
}

std::optional<engine::Session> HelperCore::restore_or_start(const ConntrackFacts& facts,
                                                           engine::PersistedState& written, bool may_restore) {
    std::optional<engine::Session> session;
    const auto& help = facts.help;
    if (may_restore && help && help->has_info && help->info.size() == engine::kPersistedStateSize) {
        std::memcpy(written.data(), help->info.data(), written.size());
        session = engine::Session::restore(facts.engine_facts(), policy_, counters_, help->info, &hold_budget_);
        if (session) {
            saturating_inc(kcounters_.restored_sessions);
            log_debug("{}: session restored from the conntrack ({} phase)", facts.describe(),
                      engine::phase_name(session->phase()));
        }
    }
    if (!session) session.emplace(facts.engine_facts(), policy_, counters_, &hold_budget_);
    return session;
}

void HelperCore::not_from_host(kpure::ReplyVerdict verdict, const ConntrackFacts& facts, const QueuedPacket& pkt,
                               const SessionEntry* entry) {
    if (verdict == kpure::ReplyVerdict::spoofed) {
        saturating_inc(kcounters_.spoofed);
        log_warning("{}: reply packet not from the host, passed and ignored (spoofed): it arrived {}, the original "
                    "direction leaves through {}",
                    facts.describe(), kpure::describe_interfaces(pkt.ifaces),
                    entry && entry->path.outdev ? fmt::format("interface {}", entry->path.outdev)
                                                : std::string("this machine (local)"));
        return;
    }
    saturating_inc(kcounters_.replies_unverified);
    log_debug("{}: reply packet passed and ignored: {} ({})", facts.describe(), kpure::reply_verdict_name(verdict),
              kpure::describe_interfaces(pkt.ifaces));
}

Verdict HelperCore::on_packet(QueuedPacket& pkt) {
    Verdict v;  // default: accept unchanged
    kpure::ParsedPacket parsed;
    if (pkt.data.empty() || pkt.truncated) {
        saturating_inc(kcounters_.unparsed_packets);
        return v;
    }
    if (auto err = kpure::parse_packet(pkt.data, parsed); err != kpure::ParseError::none) {
        saturating_inc(kcounters_.unparsed_packets);
        log_debug("packet {} passed unexamined: {}", pkt.id, kpure::parse_error_name(err));
        return v;
    }
    if (!pkt.ct || !pkt.ctinfo) {
        saturating_inc(kcounters_.no_conntrack);
        if (!warned_no_ct_) {
            warned_no_ct_ = true;
            log_warning("packets arrive without their conntrack; they pass unexamined (is the queue fed by "
                        "something other than the timbuktu helper?)");
        }
        return v;
    }
    const std::uint8_t l3 = parsed.src.is_v4() ? AF_INET : AF_INET6;
    auto facts = parse_conntrack(*pkt.ct, l3);
    if (!facts) {
        saturating_inc(kcounters_.no_conntrack);
        return v;
    }
    // A connection whose helper is not ours (or was detached) is none of our business.
    if (facts->help && facts->help->name != kHelperName) return v;

    const bool tcp = parsed.l4proto == IPPROTO_TCP;
    const bool syn = tcp && (parsed.tcp_flags & kpure::kTcpSyn);
    const bool closing = tcp && ((parsed.tcp_flags & kpure::kTcpRst) ||
                                 (facts->tcp_state && (*facts->tcp_state == kTcpTimeWait ||
                                                       *facts->tcp_state == kTcpClose)));
    const SessionKey key = SessionKey::of(*facts);
    const engine::PacketDirection direction = direction_from_ctinfo(*pkt.ctinfo);
    const bool reply = direction == engine::PacketDirection::reply;
    std::span<const std::uint8_t> payload(pkt.data.data() + parsed.payload_offset, parsed.payload_length);

    const std::time_t now = std::time(nullptr);
    SessionEntry* entry = table_.find(key, now);
    if (entry && entry->ct_id != facts->id) {
        // Same tuple, other conntrack. Within the first moments of a flow that
        // was never seen confirmed, and on an unconfirmed conntrack: a packet
        // sent before the first was confirmed; the kernel merges the two on
        // confirmation, so it belongs to this session. Otherwise the old
        // connection is gone and a new one reuses the tuple.
        const bool racing_first = !entry->seen_confirmed && !facts->confirmed && now - entry->created <= 2;
        if (!racing_first) {
            table_.erase(key);
            entry = nullptr;
        }
    }

    // Who may speak for the host (docs/daemon.md#reply-interface): a reply
    // that did not come in where the original direction left is never fed
    // to the engine and changes nothing here, not even the table.
    std::optional<kpure::OriginalPath> routed_path;  // for an entry created by this reply
    if (reply && config_.reply_interface_check) {
        const kpure::OriginalPath* path = entry && entry->path.known ? &entry->path : nullptr;
        if (!path && (!payload.empty() || syn)) {
            // No original-direction packet seen (a session restored after a
            // restart whose host speaks first): the way the original
            // direction leaves is where routing sends packets to the host.
            routed_path = routes_.path_to(facts->reply.src);
            if (routed_path) {
                saturating_inc(kcounters_.paths_from_routes);
                if (entry) {
                    entry->path = *routed_path;
                    path = &entry->path;
                } else {
                    path = &*routed_path;
                }
            }
        }
        const auto verdict = path ? kpure::check_reply(*path, pkt.ifaces) : kpure::ReplyVerdict::unknown_path;
        if (verdict != kpure::ReplyVerdict::trusted) {
            not_from_host(verdict, *facts, pkt, entry);
            return v;
        }
    }

    if (entry && facts->confirmed && !entry->seen_confirmed) {
        entry->seen_confirmed = true;
        entry->ct_id = facts->id;  // the conntrack that won confirmation
    }
    if (entry && !reply) entry->path.learn(pkt.ifaces);

    // Fast path: pure ACKs, FINs and the like teach the engine nothing.
    if (payload.empty() && !syn) {
        if (entry && entry->detach_pending && facts->confirmed) {
            detach(v, key);
        } else if (entry && closing) {
            table_.erase(key);
        }
        return v;
    }

    auto new_entry = [&](std::optional<engine::Session> session, const engine::PersistedState& written) {
        SessionEntry fresh{};
        fresh.key = key;
        fresh.session = std::move(session);
        fresh.written = written;
        fresh.last_seen = now;
        fresh.created = now;
        fresh.ct_id = facts->id;
        fresh.seen_confirmed = facts->confirmed;
        fresh.lane = Lane::junk;
        if (!reply) fresh.path.learn(pkt.ifaces);
        else if (routed_path) fresh.path = *routed_path;
        return &table_.insert(std::move(fresh), [&](const SessionEntry& victim) {
            saturating_inc(kcounters_.evictions);
            if (victim.lane == Lane::junk) {
                log_debug("session table full: forgot {} (no live session); its state stays in the kernel",
                          endpoint(victim.key.orig.src, victim.key.orig.sport));
                return;
            }
            saturating_inc(kcounters_.evictions_live);
            log_warning("session table full ({} entries, none of them junk): forgot the least recently used "
                        "session ({}); its state stays in the kernel",
                        table_.capacity(), endpoint(victim.key.orig.src, victim.key.orig.sport));
        });
    };

    // A payload-less SYN or SYN-ACK creates no engine session
    // (docs/daemon.md#session-table): a small entry on the junk lane keeps
    // its sequence number (where that direction's stream starts) and where
    // the original direction leaves, until the first payload arrives.
    if (payload.empty()) {  // SYN without payload
        if (!entry) entry = new_entry(std::nullopt, engine::PersistedState{});
        if (entry->session) {
            // A session already exists (a SYN with payload came first, or a
            // retransmitted SYN): the engine takes the start itself.
            engine::Packet ep;
            ep.direction = direction;
            ep.tcp_seq = parsed.tcp_seq;
            ep.tcp_syn = true;
            entry->session->on_packet(ep);
        } else {
            entry->syn_seq[reply ? 1 : 0] = parsed.tcp_seq;
        }
        if (closing) table_.erase(key);
        return v;
    }

    if (!entry) {
        engine::PersistedState written{};
        auto session = restore_or_start(*facts, written, true);
        entry = new_entry(std::move(session), written);
    } else if (!entry->session) {
        // Only the handshake was seen: a new connection, nothing to restore.
        engine::PersistedState written{};
        adopt_session(*entry, std::move(*restore_or_start(*facts, written, false)));
    }

    engine::Packet ep;
    ep.direction = direction;
    ep.tcp_seq = parsed.tcp_seq;
    ep.payload = payload;
    ep.tcp_syn = syn;
    engine::Decisions ds = entry->session->on_packet(ep);

    bool mangled = false, stop = false, drop = false;
    carry_out(ds, *entry, *facts, pkt, parsed, mangled, stop, drop);
    place(*entry);
    if (drop) {
        // A segment beyond a gap the engine could not hold: its sender sends
        // it again (docs/protocol-model.md#held-segments). Nothing else of this
        // packet is carried out; the next packet writes the state.
        v.drop = true;
        return v;
    }

    v.send_packet = mangled;
    if (stop || entry->detach_pending) {
        if (facts->confirmed) {
            detach(v, key);
            return v;
        }
        // Not on an unconfirmed conntrack (a connection's first packet, e.g. the
        // one UDP datagram that showed the flow is not Timbuktu): the kernel
        // confirms a queued connection only when its helper is still attached
        // on reinjection (nf_confirm_cthelper), so detaching now would leave it
        // unconfirmed and its replies would find no connection (verified: the
        // echo of a plain UDP datagram was dropped). Detach on the next packet.
        entry->detach_pending = true;
    }
    engine::PersistedState p = entry->session->persisted();
    // Not into a racing duplicate conntrack (it loses confirmation and is
    // thrown away): the next packet of the surviving one carries the state.
    if (p != entry->written && facts->id == entry->ct_id) {
        // Written with the verdict, so the kernel's copy follows the stream. The
        // snapshot on later queued packets may lag (several in flight): the
        // in-memory session stays the authority; this copy is for restarts.
        v.ct_nest = kpure::build_nfqa_ct_help(kHelperName, p);
        entry->written = p;
    }
    if (closing) table_.erase(key);
    return v;
}

void HelperCore::detach(Verdict& v, const SessionKey& key) {
    // An empty helper name in the verdict's conntrack nest: no more packets of
    // this connection are queued; nothing left to remember.
    v.ct_nest = kpure::build_nfqa_ct_help("", {});
    saturating_inc(kcounters_.detached);
    table_.erase(key);
}

void HelperCore::carry_out(const engine::Decisions& ds, SessionEntry& entry, const ConntrackFacts& facts,
                           QueuedPacket& pkt, const kpure::ParsedPacket& parsed, bool& mangled, bool& stop,
                           bool& drop) {
    (void)entry;
    const std::string conn = facts.describe();
    for (const auto& d : ds) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, engine::Expect>) {
                    std::string note;
                    int err = maker_.create(facts, x, config_.expectation_timeout, note);
                    const std::string what =
                        fmt::format("{} {} -> {} ({}, {} s{})", transport_name(x.transport), x.guest.to_string(),
                                    endpoint(x.address, x.port), proto::service_name(x.service), x.timeout_seconds,
                                    x.follow_nat ? ", follows NAT" : "");
                    if (err) {
                        const ExpectFailure f = classify_expect_failure(x.follow_nat, err);
                        saturating_inc(kcounters_.kernel_errors);
                        if (f.kind == ExpectFailureKind::nat_follow_unavailable)
                            saturating_inc(kcounters_.nat_follow_refused);
                        log_warning("{}: expect {} FAILED: {}", conn, what, f.why);
                    } else {
                        log_info("{}: expect {}", conn, what);
                    }
                    if (!note.empty()) log_warning("{}: {}", conn, note);
                } else if constexpr (std::is_same_v<T, engine::Refuse>) {
                    log_info("{}: refuse ({}): {}", conn, engine::refuse_reason_name(x.reason), x.detail);
                } else if constexpr (std::is_same_v<T, engine::Rewrite>) {
                    auto r = kpure::rewrite_payload4(pkt.data, parsed, x.payload_offset, x.old_bytes, x.new_bytes);
                    if (r == kpure::RewriteResult::done) {
                        mangled = true;
                        log_info("{}: rewrite {} {}.{}.{}.{} -> {}.{}.{}.{}", conn, x.what, x.old_bytes[0],
                                 x.old_bytes[1], x.old_bytes[2], x.old_bytes[3], x.new_bytes[0], x.new_bytes[1],
                                 x.new_bytes[2], x.new_bytes[3]);
                    } else {
                        saturating_inc(kcounters_.rewrite_failures);
                        log_warning("{}: rewrite {} at payload offset {} not done: {}", conn, x.what,
                                    x.payload_offset,
                                    r == kpure::RewriteResult::mismatch ? "bytes differ" : "out of range");
                    }
                } else if constexpr (std::is_same_v<T, engine::StopWatching>) {
                    stop = true;
                    log_info("{}: stop watching: {}", conn, x.why);
                } else if constexpr (std::is_same_v<T, engine::Note>) {
                    switch (x.level) {
                        case engine::Note::Level::warning: log_warning("{}: {}", conn, x.text); break;
                        case engine::Note::Level::info: log_info("{}: {}", conn, x.text); break;
                        case engine::Note::Level::debug: log_debug("{}: {}", conn, x.text); break;
                    }
                } else if constexpr (std::is_same_v<T, engine::DropForRetransmit>) {
                    drop = true;
                    saturating_inc(kcounters_.dropped_for_retransmit);
                } else {
                    static_assert(sizeof(T) == 0, "a decision kind the daemon does not carry out");
                }
            },
            d);
    }
}

}  // namespace tb::daemon
