#include "helper_core.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "netfilter/expect_outcome.hpp"
#include "netfilter/ct_attrs.hpp"
#include "log.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/services.hpp"

namespace tb::daemon {

using timbuktu::saturating_inc;

namespace {

// nf_conntrack_tcp's states after which the connection carries no more data.
constexpr std::uint8_t kTcpTimeWait = 7, kTcpClose = 8;

std::string endpoint(const IpAddress& a, std::uint16_t port) {
    return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), port) : fmt::format("{}:{}", a.to_string(), port);
}

}  // namespace

bool phase_is_live(timbuktu::Phase p) {
    switch (p) {
        case timbuktu::Phase::await_hello:
        case timbuktu::Phase::await_ack:
        case timbuktu::Phase::framed: return true;
        // Finished, not Timbuktu, lost, hostile, outside the model: nothing
        // on them is ever acted on again.
        case timbuktu::Phase::service_data:
        case timbuktu::Phase::not_timbuktu:
        case timbuktu::Phase::lost:
        case timbuktu::Phase::hostile:
        case timbuktu::Phase::unmodelled: return false;
    }
    return false;  // no switch case left out (-Wswitch): a new phase must be placed here
}

HelperCore::HelperCore(const Config& config)
    : config_(config), policy_(timbuktu::Policy::from_config(config)), table_(kSessionCapacity) {}

void HelperCore::apply_config(const Config& config) {
    config_ = config;
    policy_ = timbuktu::Policy::from_config(config);
    table_.for_each([&](helper::SessionEntry& e) {
        if (e.session) e.session->set_policy(policy_);
    });
}

void HelperCore::housekeeping(std::time_t now) {
    std::size_t n = table_.expire(now, kIdle);
    if (n) log_debug("forgot {} idle session(s); their state stays in the kernel", n);
}

void HelperCore::place(helper::SessionEntry& entry) {
    helper::Lane lane = helper::Lane::junk;
    if (entry.session && phase_is_live(entry.session->phase()))
        lane = entry.key.l4 == IPPROTO_UDP ? helper::Lane::udp : helper::Lane::tcp;
    table_.set_lane(entry, lane);
}

std::optional<timbuktu::Session> HelperCore::restore_or_start(const netfilter::ConntrackFacts& facts,
                                                           timbuktu::PersistedState& written, bool may_restore) {
    std::optional<timbuktu::Session> session;
    const auto& help = facts.help;
    if (may_restore && help && help->has_info && help->info.size() == timbuktu::kPersistedStateSize) {
        std::memcpy(written.data(), help->info.data(), written.size());
        session = timbuktu::Session::restore(facts.engine_facts(), policy_, counters_, help->info, &hold_budget_);
        if (session) {
            saturating_inc(kcounters_.restored_sessions);
            log_debug("{}: session restored from the conntrack ({} phase)", facts.describe(),
                      timbuktu::phase_name(session->phase()));
        }
    }
    if (!session) session.emplace(facts.engine_facts(), policy_, counters_, &hold_budget_);
    return session;
}

void HelperCore::not_from_host(helper::ReplyVerdict verdict, const netfilter::ConntrackFacts& facts, const QueuedPacket& pkt,
                               const helper::SessionEntry* entry) {
    if (verdict == helper::ReplyVerdict::spoofed) {
        saturating_inc(kcounters_.spoofed);
        log_warning("{}: reply packet not from the host, passed and ignored (spoofed): it arrived {}, the original "
                    "direction leaves through {}",
                    facts.describe(), helper::describe_interfaces(pkt.ifaces),
                    entry && entry->path.outdev ? fmt::format("interface {}", entry->path.outdev)
                                                : std::string("this machine (local)"));
        return;
    }
    saturating_inc(kcounters_.replies_unverified);
    log_debug("{}: reply packet passed and ignored: {} ({})", facts.describe(), helper::reply_verdict_name(verdict),
              helper::describe_interfaces(pkt.ifaces));
}

Verdict HelperCore::on_packet(QueuedPacket& pkt) {
    Verdict v;  // default: accept unchanged
    net::ParsedPacket parsed;
    if (pkt.data.empty() || pkt.truncated) {
        saturating_inc(kcounters_.unparsed_packets);
        return v;
    }
    if (auto err = net::parse_packet(pkt.data, parsed); err != net::ParseError::none) {
        saturating_inc(kcounters_.unparsed_packets);
        log_debug("packet {} passed unexamined: {}", pkt.id, net::parse_error_name(err));
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
    auto facts = netfilter::parse_conntrack(*pkt.ct, l3);
    if (!facts) {
        saturating_inc(kcounters_.no_conntrack);
        return v;
    }
    // A connection whose helper is not ours (or was detached) is none of our business.
    if (facts->help && facts->help->name != kHelperName) return v;

    const bool tcp = parsed.l4proto == IPPROTO_TCP;
    const bool syn = tcp && (parsed.tcp_flags & net::kTcpSyn);
    const bool closing = tcp && ((parsed.tcp_flags & net::kTcpRst) ||
                                 (facts->tcp_state && (*facts->tcp_state == kTcpTimeWait ||
                                                       *facts->tcp_state == kTcpClose)));
    const helper::SessionKey key = helper::SessionKey::of(*facts);
    const timbuktu::PacketDirection direction = netfilter::direction_from_ctinfo(*pkt.ctinfo);
    const bool reply = direction == timbuktu::PacketDirection::reply;
    std::span<const std::uint8_t> payload(pkt.data.data() + parsed.payload_offset, parsed.payload_length);

    const std::time_t now = std::time(nullptr);
    helper::SessionEntry* entry = table_.find(key, now);
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
    std::optional<helper::OriginalPath> routed_path;  // for an entry created by this reply
    if (reply && config_.reply_interface_check) {
        const helper::OriginalPath* path = entry && entry->path.known ? &entry->path : nullptr;
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
        const auto verdict = path ? helper::check_reply(*path, pkt.ifaces) : helper::ReplyVerdict::unknown_path;
        if (verdict != helper::ReplyVerdict::trusted) {
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

    auto new_entry = [&](std::optional<timbuktu::Session> session, const timbuktu::PersistedState& written) {
        helper::SessionEntry fresh{};
        fresh.key = key;
        fresh.session = std::move(session);
        fresh.written = written;
        fresh.last_seen = now;
        fresh.created = now;
        fresh.ct_id = facts->id;
        fresh.seen_confirmed = facts->confirmed;
        fresh.lane = helper::Lane::junk;
        if (!reply) fresh.path.learn(pkt.ifaces);
        else if (routed_path) fresh.path = *routed_path;
        return &table_.insert(std::move(fresh), [&](const helper::SessionEntry& victim) {
            saturating_inc(kcounters_.evictions);
            if (victim.lane == helper::Lane::junk) {
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
        if (!entry) entry = new_entry(std::nullopt, timbuktu::PersistedState{});
        if (entry->session) {
            // A session already exists (a SYN with payload came first, or a
            // retransmitted SYN): the engine takes the start itself.
            timbuktu::Packet ep;
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
        timbuktu::PersistedState written{};
        auto session = restore_or_start(*facts, written, true);
        entry = new_entry(std::move(session), written);
    } else if (!entry->session) {
        // Only the handshake was seen: a new connection, nothing to restore.
        timbuktu::PersistedState written{};
        helper::adopt_session(*entry, std::move(*restore_or_start(*facts, written, false)));
    }

    timbuktu::Packet ep;
    ep.direction = direction;
    ep.tcp_seq = parsed.tcp_seq;
    ep.payload = payload;
    ep.tcp_syn = syn;
    timbuktu::Decisions ds = entry->session->on_packet(ep);

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
    timbuktu::PersistedState p = entry->session->persisted();
    // Not into a racing duplicate conntrack (it loses confirmation and is
    // thrown away): the next packet of the surviving one carries the state.
    if (p != entry->written && facts->id == entry->ct_id) {
        // Written with the verdict, so the kernel's copy follows the stream. The
        // snapshot on later queued packets may lag (several in flight): the
        // in-memory session stays the authority; this copy is for restarts.
        v.ct_nest = netfilter::build_nfqa_ct_help(kHelperName, p);
        entry->written = p;
    }
    if (closing) table_.erase(key);
    return v;
}

void HelperCore::detach(Verdict& v, const helper::SessionKey& key) {
    // An empty helper name in the verdict's conntrack nest: no more packets of
    // this connection are queued; nothing left to remember.
    v.ct_nest = netfilter::build_nfqa_ct_help("", {});
    saturating_inc(kcounters_.detached);
    table_.erase(key);
}

void HelperCore::carry_out(const timbuktu::Decisions& ds, helper::SessionEntry& entry, const netfilter::ConntrackFacts& facts,
                           QueuedPacket& pkt, const net::ParsedPacket& parsed, bool& mangled, bool& stop,
                           bool& drop) {
    (void)entry;
    const std::string conn = facts.describe();
    for (const auto& d : ds) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, timbuktu::Expect>) {
                    std::string note;
                    int err = maker_.create(facts, x, config_.expectation_timeout, note);
                    const std::string what =
                        fmt::format("{} {} -> {} ({}, {} s{})", transport_name(x.transport), x.guest.to_string(),
                                    endpoint(x.address, x.port), timbuktu::service_name(x.service), x.timeout_seconds,
                                    x.follow_nat ? ", follows NAT" : "");
                    if (err) {
                        const netfilter::ExpectFailure f = netfilter::classify_expect_failure(x.follow_nat, err);
                        saturating_inc(kcounters_.kernel_errors);
                        if (f.kind == netfilter::ExpectFailureKind::nat_follow_unavailable)
                            saturating_inc(kcounters_.nat_follow_refused);
                        log_warning("{}: expect {} FAILED: {}", conn, what, f.why);
                    } else {
                        log_info("{}: expect {}", conn, what);
                    }
                    if (!note.empty()) log_warning("{}: {}", conn, note);
                } else if constexpr (std::is_same_v<T, timbuktu::Refuse>) {
                    log_info("{}: refuse ({}): {}", conn, timbuktu::refuse_reason_name(x.reason),
                             timbuktu::refuse_text(x));
                } else if constexpr (std::is_same_v<T, timbuktu::Rewrite>) {
                    auto r = net::rewrite_payload4(pkt.data, parsed, x.payload_offset, x.old_bytes, x.new_bytes);
                    if (r == net::RewriteResult::done) {
                        mangled = true;
                        log_info("{}: rewrite {} {}.{}.{}.{} -> {}.{}.{}.{}", conn, timbuktu::rewrite_field_text(x), x.old_bytes[0],
                                 x.old_bytes[1], x.old_bytes[2], x.old_bytes[3], x.new_bytes[0], x.new_bytes[1],
                                 x.new_bytes[2], x.new_bytes[3]);
                    } else {
                        saturating_inc(kcounters_.rewrite_failures);
                        log_warning("{}: rewrite {} at payload offset {} not done: {}", conn, timbuktu::rewrite_field_text(x),
                                    x.payload_offset,
                                    r == net::RewriteResult::mismatch ? "bytes differ" : "out of range");
                    }
                } else if constexpr (std::is_same_v<T, timbuktu::StopWatching>) {
                    stop = true;
                    log_info("{}: stop watching: {}", conn, timbuktu::stop_text(x));
                } else if constexpr (std::is_same_v<T, timbuktu::Event>) {
                    // The words are rendered only for a line that is written.
                    const LogLevel level = x.level() == timbuktu::EventLevel::warning ? LogLevel::warning
                                           : x.level() == timbuktu::EventLevel::info  ? LogLevel::info
                                                                                      : LogLevel::debug;
                    if (Log::enabled(level)) Log::write(level, fmt::format("{}: {}", conn, timbuktu::event_text(x)));
                } else if constexpr (std::is_same_v<T, timbuktu::DropForRetransmit>) {
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
