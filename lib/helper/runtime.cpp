#include "helper/runtime.hpp"

#include <algorithm>

#include <netinet/in.h>

#include <cstring>
#include <type_traits>

#include "stream/stream_reader.hpp"

namespace tb::helper {

using timbuktu::saturating_inc;


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

HelperRuntime::HelperRuntime(HelperDescriptor helper, const timbuktu::Policy& policy, const RuntimeOptions& options,
                             KernelPort& kernel, EventSink& events)
    : helper_(helper),
      policy_(policy),
      reply_interface_check_(options.reply_interface_check),
      kernel_(kernel),
      events_(events),
      hold_budget_(options.hold_budget_bytes),
      table_(options.session_capacity),
      idle_(options.idle) {}

void HelperRuntime::set_policy(const timbuktu::Policy& policy, bool reply_interface_check) {
    policy_ = policy;
    reply_interface_check_ = reply_interface_check;
    table_.for_each([&](SessionEntry& e) {
        if (e.session) e.session->set_policy(policy_);
    });
}

void HelperRuntime::set_session_capacity(std::size_t capacity) {
    table_.set_capacity(capacity, [&](const SessionEntry& victim) { evicted(victim); });
}

void HelperRuntime::evicted(const SessionEntry& victim) {
    saturating_inc(kcounters_.evictions);
    if (victim.lane == Lane::junk) {
        events_.on_event(event::EvictedJunk{victim.key.orig});
        return;
    }
    saturating_inc(kcounters_.evictions_live);
    events_.on_event(event::EvictedLive{victim.key.orig, table_.capacity()});
}

void HelperRuntime::housekeeping(std::time_t now) {
    std::size_t n = table_.expire(now, idle_);
    if (n) events_.on_event(event::IdleExpired{n});
}

const timbuktu::Session* HelperRuntime::session_of(const ConntrackFacts& conn) const {
    const SessionEntry* e = table_.peek(SessionKey::of(conn));
    return e && e->session ? &*e->session : nullptr;
}

void HelperRuntime::unparsed(std::uint32_t packet_id, std::optional<net::ParseError> error) {
    saturating_inc(kcounters_.unparsed_packets);
    events_.on_event(event::Unparsed{packet_id, error});
}

void HelperRuntime::no_conntrack(bool nest_missing) {
    saturating_inc(kcounters_.no_conntrack);
    const bool first = nest_missing && !warned_no_ct_;
    if (nest_missing) warned_no_ct_ = true;
    events_.on_event(event::NoConntrack{nest_missing, first});
}

void HelperRuntime::place(SessionEntry& entry) {
    Lane lane = Lane::junk;
    if (entry.session && phase_is_live(entry.session->phase()))
        lane = entry.key.l4 == IPPROTO_UDP ? Lane::udp : Lane::tcp;
    table_.set_lane(entry, lane);
}

std::optional<timbuktu::Session> HelperRuntime::restore_or_start(const ConntrackFacts& conn,
                                                                 timbuktu::PersistedState& written, bool may_restore) {
    std::optional<timbuktu::Session> session;
    const auto& help = conn.help;
    // The private data is ours only when it has exactly our size; anything
    // else (another daemon's layout, foreign bytes) starts a fresh session.
    if (may_restore && help && help->has_info && help->info.size() == helper_.private_data_size &&
        help->info.size() == written.size()) {
        std::memcpy(written.data(), help->info.data(), written.size());
        session = timbuktu::Session::restore(conn.engine_facts(), policy_, counters_, help->info, &hold_budget_);
        if (session) {
            saturating_inc(kcounters_.restored_sessions);
            events_.on_event(event::Restored{&conn, session->phase()});
        }
    }
    // A connection taken over from the other node of a pair comes with a
    // helper but none of our state (conntrackd does not carry the private
    // data): the peer daemon's copy, received over the sync link, stands in.
    // `written` stays what the kernel holds, so the first verdict stores it.
    if (!session && may_restore && peer_) {
        if (auto copy = peer_->taken_over(SessionKey::of(conn), conn.reply)) {
            session = timbuktu::Session::restore(conn.engine_facts(), policy_, counters_, *copy, &hold_budget_);
            if (session) {
                saturating_inc(kcounters_.peer_restored_sessions);
                events_.on_event(event::Restored{&conn, session->phase(), true});
            }
        }
    }
    if (!session) session.emplace(conn.engine_facts(), policy_, counters_, &hold_budget_);
    return session;
}

void HelperRuntime::not_from_host(ReplyVerdict verdict, const ConntrackFacts& conn, const PacketIn& in,
                                  const SessionEntry* entry) {
    if (verdict == ReplyVerdict::spoofed) {
        saturating_inc(kcounters_.spoofed);
        events_.on_event(event::Spoofed{&conn, in.ifaces, entry ? entry->path.outdev : 0});
        return;
    }
    saturating_inc(kcounters_.replies_unverified);
    events_.on_event(event::ReplyUnverified{&conn, verdict, in.ifaces});
}

PacketOutcome HelperRuntime::on_packet(const PacketIn& in) {
    PacketOutcome out;  // default: accept unchanged
    const ConntrackFacts& conn = *in.conntrack;
    const net::ParsedPacket& parsed = *in.parsed;
    // A connection whose helper is not ours (or was detached) is none of our business.
    if (conn.help && conn.help->name != helper_.name) return out;
    // Everything on the segment queue was sent there by us, from a connection
    // with our helper: anything else (another rule queueing to that number)
    // passes unexamined and touches nothing (docs/daemon.md#gso).
    if (in.from_segment_queue && !conn.help) return out;

    const bool tcp = parsed.l4proto == IPPROTO_TCP;
    const bool syn = tcp && (parsed.tcp_flags & net::kTcpSyn);
    const bool closing =
        tcp && ((parsed.tcp_flags & net::kTcpRst) || (conn.tcp_state && tcp_state_closed(*conn.tcp_state)));
    const SessionKey key = SessionKey::of(conn);
    const timbuktu::PacketDirection direction = in.direction;
    const bool reply = direction == timbuktu::PacketDirection::reply;
    std::span<const std::uint8_t> payload(in.data.data() + parsed.payload_offset, parsed.payload_length);

    const std::time_t now = in.now;
    SessionEntry* entry = table_.find(key, now);
    if (entry && entry->ct_id != conn.id) {
        // Same tuple, other conntrack. Within the first moments of a flow that
        // was never seen confirmed, and on an unconfirmed conntrack: a packet
        // sent before the first was confirmed; the kernel merges the two on
        // confirmation, so it belongs to this session. Otherwise the old
        // connection is gone and a new one reuses the tuple.
        const bool racing_first = !entry->seen_confirmed && !conn.confirmed && now - entry->created <= 2;
        if (!racing_first) {
            table_.erase(key);
            entry = nullptr;
        }
    }

    // Who may speak for the host (docs/daemon.md#reply-interface): a reply
    // that did not come in where the original direction left is never fed
    // to the engine and changes nothing here, not even the table.
    std::optional<OriginalPath> routed_path;  // for an entry created by this reply
    if (reply && reply_interface_check_) {
        const OriginalPath* path = entry && entry->path.known ? &entry->path : nullptr;
        if (!path && (!payload.empty() || syn)) {
            // No original-direction packet seen (a session restored after a
            // restart whose host speaks first): the way the original
            // direction leaves is where routing sends packets to the host.
            routed_path = kernel_.route_to(conn.reply.src);
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
        const auto verdict = path ? check_reply(*path, in.ifaces) : ReplyVerdict::unknown_path;
        if (verdict != ReplyVerdict::trusted) {
            not_from_host(verdict, conn, in, entry);
            return out;
        }
    }

    // GSO (docs/daemon.md#gso): before the engine or the table look at the
    // bytes, so that a packet sent on is examined once, as segments, on the
    // segment queue; after the reply check, so that a forged reply moves no
    // segment mark either.
    if (in.can_requeue || in.from_segment_queue) {
        const std::size_t length = in.cut ? in.cut_payload_length : payload.size();
        const std::uint32_t end_seq = parsed.tcp_seq + (syn ? 1u : 0u) + static_cast<std::uint32_t>(length);
        if (send_to_segments(in, entry, end_seq)) {
            out.verdict = PacketVerdict::requeue_as_segments;
            return out;
        }
    }
    if (in.cut) return out;  // never read in part

    if (entry && conn.confirmed && !entry->seen_confirmed) {
        entry->seen_confirmed = true;
        entry->ct_id = conn.id;  // the conntrack that won confirmation
    }
    if (entry && !reply) entry->path.learn(in.ifaces);

    // Fast path: pure ACKs, FINs and the like teach the engine nothing.
    if (payload.empty() && !syn) {
        if (entry && entry->detach_pending && conn.confirmed) {
            detach(out, key, conn);
        } else if (entry && closing) {
            table_.erase(key);
        }
        return out;
    }

    auto new_entry = [&](std::optional<timbuktu::Session> session, const timbuktu::PersistedState& written) {
        SessionEntry fresh{};
        fresh.key = key;
        fresh.reply = conn.reply;
        fresh.session = std::move(session);
        fresh.written = written;
        fresh.last_seen = now;
        fresh.created = now;
        fresh.ct_id = conn.id;
        fresh.seen_confirmed = conn.confirmed;
        fresh.lane = Lane::junk;
        if (!reply) fresh.path.learn(in.ifaces);
        else if (routed_path) fresh.path = *routed_path;
        return &table_.insert(std::move(fresh), [&](const SessionEntry& victim) { evicted(victim); });
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
            out.session = SessionState{entry->session->phase(), entry->session->service()};
        } else {
            entry->syn_seq[reply ? 1 : 0] = parsed.tcp_seq;
        }
        if (closing) table_.erase(key);
        return out;
    }

    if (!entry) {
        timbuktu::PersistedState written{};
        const auto peer_restored_before = kcounters_.peer_restored_sessions;
        auto session = restore_or_start(conn, written, true);
        entry = new_entry(std::move(session), written);
        // Rebuilt from the peer's copy: the peer knows this session.
        entry->peer_has_copy = kcounters_.peer_restored_sessions != peer_restored_before;
    } else if (!entry->session) {
        // Only the handshake was seen: a new connection, nothing to restore.
        timbuktu::PersistedState written{};
        adopt_session(*entry, std::move(*restore_or_start(conn, written, false)));
    }

    timbuktu::Packet ep;
    ep.direction = direction;
    ep.tcp_seq = parsed.tcp_seq;
    ep.payload = payload;
    ep.tcp_syn = syn;
    timbuktu::Decisions ds = entry->session->on_packet(ep);

    const Carried carried = carry_out(ds, conn, in);
    out.session = SessionState{entry->session->phase(), entry->session->service()};
    place(*entry);
    if (carried.drop) {
        // A segment beyond a gap the engine could not hold: its sender sends
        // it again (docs/protocol-model.md#held-segments). Nothing else of this
        // packet is carried out; the next packet writes the state.
        out.verdict = PacketVerdict::drop_for_retransmit;
        return out;
    }

    if (carried.mangled) out.verdict = PacketVerdict::accept_mangled;
    if (carried.stop || entry->detach_pending) {
        // The other node of a pair learns the terminal phase too: were the
        // connection taken back there, its copy must not be the live session
        // from before the hostile frame. Only for a session it has a copy of
        // (a state was written): a flood of flows that are not Timbuktu sends
        // the peer nothing.
        if (peer_ && carried.stop && entry->peer_has_copy)
            peer_->publish(ReplicatedState{key, conn.reply, entry->session->persisted()});
        if (conn.confirmed) {
            detach(out, key, conn);
            return out;
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
    if (p != entry->written && conn.id == entry->ct_id) {
        // Written with the verdict, so the kernel's copy follows the stream. The
        // snapshot on later queued packets may lag (several in flight): the
        // in-memory session stays the authority; this copy is for restarts.
        // The peer gets live sessions, and the end of one it has a copy of;
        // not the first and last state of a flow that never was Timbuktu.
        out.ct_help = WriteState{p};
        entry->written = p;
        if (peer_ && (entry->peer_has_copy || phase_is_live(entry->session->phase()))) {
            peer_->publish(ReplicatedState{key, conn.reply, p});
            entry->peer_has_copy = true;
        }
    }
    if (closing) table_.erase(key);
    return out;
}

bool HelperRuntime::send_to_segments(const PacketIn& in, SessionEntry* entry, std::uint32_t end_seq) {
    const net::ParsedPacket& parsed = *in.parsed;
    // A cut copy is never read here (the engine must see every byte); its
    // mark below keeps the rest of its direction behind it.
    const bool cut = in.cut && in.can_requeue;
    if (parsed.l4proto != IPPROTO_TCP) {
        // A UDP super-packet holds several datagrams back to back; the engine
        // must see each on its own. A datagram without its checksum on a
        // connection the engine may rewrite: the rewrite goes back as
        // CHECKSUM_NONE, so it needs the checksum computed, as for TCP below.
        if (!in.can_requeue) return false;
        return cut || in.gso || (in.csum_not_ready && timbuktu::rewrites_possible(in.conntrack->engine_facts()));
    }
    if (parsed.payload_length == 0 && !cut) return false;  // nothing for the engine to read
    std::optional<std::uint32_t>* mark =
        entry ? &entry->segment_mark[in.direction == timbuktu::PacketDirection::reply ? 1 : 0] : nullptr;
    if (in.from_segment_queue) {
        // The segment that reaches the mark was the last one sent there: from
        // now on this direction is read on the contact queue again.
        if (mark && *mark && stream::seq_distance(**mark, end_seq) >= 0) mark->reset();
        return false;
    }
    // On the contact queue: while earlier bytes of this direction wait on the
    // segment queue, later ones follow them there, so the stream stays in order.
    bool send_on = mark && *mark;
    // A super-packet or a packet without its checksum on a connection the
    // engine may rewrite: a rewritten payload goes back as CHECKSUM_NONE, so
    // the rewrite needs a segment with its checksum computed.
    if (!send_on && (in.gso || in.csum_not_ready || cut))
        send_on = cut || timbuktu::rewrites_possible(in.conntrack->engine_facts());
    if (!send_on) return false;
    // Without an entry (the first packet after a restart) nothing is kept:
    // a later segment that needs no rewrite could overtake it, which the
    // engine's reader holds or has resent (docs/daemon.md#gso).
    if (mark && (!*mark || stream::seq_distance(**mark, end_seq) > 0)) *mark = end_seq;
    return true;
}

void HelperRuntime::detach(PacketOutcome& out, const SessionKey& key, const ConntrackFacts& conn) {
    // An empty helper name in the verdict's conntrack nest: no more packets of
    // this connection are queued; nothing left to remember.
    out.ct_help = DetachHelper{};
    saturating_inc(kcounters_.detached);
    events_.on_event(event::Detached{&conn});
    table_.erase(key);
}

// The one visitor over the engine's decisions: each kind is carried out here.
HelperRuntime::Carried HelperRuntime::carry_out(const timbuktu::Decisions& ds, const ConntrackFacts& conn,
                                                const PacketIn& in) {
    Carried c;
    for (const auto& d : ds) {
        std::visit(Overloaded{
                       [&](const timbuktu::Expect& x) {
                           ExpectationResult r = kernel_.create_expectation(conn, x);
                           if (r.kind == ExpectationResult::Kind::created) {
                               events_.on_event(event::ExpectationCreated{&conn, &x});
                           } else {
                               saturating_inc(kcounters_.kernel_errors);
                               if (r.kind == ExpectationResult::Kind::nat_follow_unavailable)
                                   saturating_inc(kcounters_.nat_follow_refused);
                               events_.on_event(event::ExpectationFailed{&conn, &x, r.kind, r.error});
                           }
                           if (r.timeout_error) events_.on_event(event::ExpectationNote{&conn, r.timeout_error});
                       },
                       [&](const timbuktu::Refuse& x) { events_.on_event(event::Refused{&conn, &x}); },
                       [&](const timbuktu::Rewrite& x) {
                           auto r = net::rewrite_payload4(in.data, *in.parsed, x.payload_offset, x.old_bytes,
                                                          x.new_bytes);
                           if (r == net::RewriteResult::done) {
                               c.mangled = true;
                               events_.on_event(event::Rewritten{&conn, &x});
                           } else {
                               saturating_inc(kcounters_.rewrite_failures);
                               events_.on_event(event::RewriteFailed{&conn, &x, r});
                           }
                       },
                       [&](const timbuktu::StopWatching& x) {
                           c.stop = true;
                           events_.on_event(event::StoppedWatching{&conn, &x});
                       },
                       [&](const timbuktu::Event& x) { events_.on_event(event::EngineEvent{&conn, &x}); },
                       [&](const timbuktu::DropForRetransmit&) {
                           c.drop = true;
                           saturating_inc(kcounters_.dropped_for_retransmit);
                           events_.on_event(event::DroppedForRetransmit{&conn});
                       },
                   },
                   d);
    }
    return c;
}

std::vector<ReplicatedState> HelperRuntime::live_states(std::size_t limit) const {
    std::vector<ReplicatedState> out;
    table_.for_each([&](const SessionEntry& e) {
        if (out.size() >= limit || !e.session || !phase_is_live(e.session->phase())) return;
        if (e.written == timbuktu::PersistedState{}) return;  // nothing written yet: nothing to take over
        out.push_back(ReplicatedState{e.key, e.reply, e.written});
    });
    return out;
}

std::vector<SessionView> HelperRuntime::sessions(std::size_t limit, std::size_t& total) const {
    std::vector<SessionView> out;
    out.reserve(std::min(limit, table_.size()));
    total = table_.size();
    table_.for_each([&](const SessionEntry& e) {
        SessionView v;
        v.transport = e.key.l4 == IPPROTO_UDP ? Transport::udp : Transport::tcp;
        v.guest = e.key.orig.src;
        v.guest_port = e.key.orig.sport;
        v.contact_address = e.key.orig.dst;
        v.host = e.key.orig.dst;
        v.contact_port = e.key.orig.dport;
        if (e.session) {
            v.phase = e.session->phase();
            v.service = e.session->service();
            v.offers = e.session->accepted_offers();
            v.host = e.session->facts().host;
        }
        v.created = e.created;
        v.last_seen = e.last_seen;
        out.push_back(v);
    });
    std::sort(out.begin(), out.end(), [](const SessionView& a, const SessionView& b) { return a.last_seen > b.last_seen; });
    if (out.size() > limit) out.resize(limit);
    return out;
}

}  // namespace tb::helper
