// The helper runtime: one queued packet and its conntrack's facts in, engine
// calls made, one typed outcome out (docs/daemon.md#per-packet). Pure: the
// kernel actions (create an expectation, look up a route) go through a
// KernelPort the program implements, and everything worth telling goes to an
// EventSink as typed events; text is rendered there, at the edge.
//
// As in conntrack-tools, a helper is a descriptor (its name and the size of
// its private data) plus the code that runs on each packet; the runtime loads
// the private data from the conntrack (restoring the engine session) and
// stores it back with the verdict when it changed. tbhelperd runs it over the
// queue; tbhelperctl analyze runs the same runtime over a capture, with
// conntrack facts it synthesizes per flow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "helper/conntrack.hpp"
#include "helper/counters.hpp"
#include "helper/expectation_result.hpp"
#include "helper/reply_path.hpp"
#include "helper/session_table.hpp"
#include "helper/state_sync.hpp"
#include "net/packet.hpp"
#include "stream/hold_budget.hpp"
#include "timbuktu/counters.hpp"
#include "timbuktu/decisions.hpp"
#include "timbuktu/policy.hpp"
#include "timbuktu/session.hpp"

namespace tb::helper {

// std::visit over an overload set: every alternative needs its lambda (or an
// explicit catch-all), so a new kind fails to compile where it is not handled.
template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// What the kernel knows the helper by, and the private data it keeps per
// connection for it (the engine's persisted state, restored after a restart).
struct HelperDescriptor {
    std::string_view name;
    std::size_t private_data_size = 0;
};
inline constexpr HelperDescriptor kTimbuktuHelper{"timbuktu", timbuktu::kPersistedStateSize};

// Whether a session in this phase can still lead to an action (an offer, a
// rewrite). The others are junk for the table: short idle limit, evicted
// first (docs/daemon.md#session-table).
bool phase_is_live(timbuktu::Phase p);

// ---------------------------------------------------------------------------
// In

// One queued packet, already decoded (net::parse_packet), with its
// conntrack's facts and the interfaces the queue reported.
struct PacketIn {
    std::span<std::uint8_t> data;        // the IP packet; a Rewrite changes it in place
    const net::ParsedPacket* parsed = nullptr;
    const ConntrackFacts* conntrack = nullptr;
    timbuktu::PacketDirection direction = timbuktu::PacketDirection::original;  // from NFQA_CT_INFO
    PacketInterfaces ifaces;
    std::time_t now = 0;
    // GSO (docs/daemon.md#gso): what the queue said of the packet, and where
    // it was read.
    bool gso = false;             // a super-packet (several segments' worth)
    bool csum_not_ready = false;  // its L4 checksum is still to be computed
    // A copy shorter than the packet (docs/daemon.md#gso): `data` and `parsed`
    // hold what was copied, and the packet really has this many payload bytes.
    bool cut = false;
    std::size_t cut_payload_length = 0;
    bool can_requeue = false;     // read on a contact queue that has a segment queue behind it
    bool from_segment_queue = false;
};

// ---------------------------------------------------------------------------
// Out

enum class PacketVerdict : std::uint8_t {
    accept,               // unchanged
    accept_mangled,       // the packet was rewritten: send it back with the verdict
    drop_for_retransmit,  // NF_DROP: beyond a gap the engine could not hold; the sender sends it again
    requeue_as_segments,  // unexamined, on to the segment queue, which reads it as segments (docs/daemon.md#gso)
};

// The NFQA_CT help nest to send with the verdict.
struct WriteState {       // CTA_HELP_INFO: the engine's persisted state changed
    timbuktu::PersistedState state{};
};
struct DetachHelper {};   // an empty helper name: no more packets of this connection are queued
using CtHelpWrite = std::variant<std::monostate, WriteState, DetachHelper>;

// The engine session as this packet left it (its entry may be gone already:
// detached, closed); for reports (analyze), the daemon does not need it.
struct SessionState {
    timbuktu::Phase phase;
    std::uint8_t service;
};

struct PacketOutcome {
    PacketVerdict verdict = PacketVerdict::accept;
    CtHelpWrite ct_help;
    std::optional<SessionState> session;  // set when the packet was fed to the engine
};

// ---------------------------------------------------------------------------
// Kernel actions

class KernelPort {
public:
    virtual ~KernelPort() = default;
    // Creates (or refreshes) the expectation an offer calls for, with the
    // connection as its master.
    virtual ExpectationResult create_expectation(const ConntrackFacts& master, const timbuktu::Expect& e) = 0;
    // Where the original direction leaves: the route to the host
    // (docs/daemon.md#reply-interface); nullopt when there is no usable route.
    virtual std::optional<OriginalPath> route_to(const IpAddress& host) = 0;
};

// The other daemon of a firewall pair (docs/ha.md#session-state): absent on
// a single firewall. The daemon's implementation is a UDP socket on the
// pair's dedicated sync link (nfhelper/state_peer.cpp).
class PeerPort {
public:
    virtual ~PeerPort() = default;
    // The state this node just wrote into a connection's private data.
    virtual void publish(const ReplicatedState& record) = 0;
    // The latest state the peer sent for this connection, for a connection
    // that arrives here with none of its own (taken over at a failover).
    virtual std::optional<timbuktu::PersistedState> taken_over(const SessionKey& key, const Tuple& reply) = 0;
};

// ---------------------------------------------------------------------------
// Events (pointers are valid during the call only)

namespace event {
struct Unparsed {            // not IPv4/IPv6 + TCP/UDP, or truncated: accepted unchanged
    std::uint32_t packet_id = 0;
    std::optional<net::ParseError> error;  // nullopt: the queue's copy was empty or cut
};
struct NoConntrack {         // queued without NFQA_CT (or one that does not parse)
    bool nest_missing = false;
    bool first = false;      // the first packet without its conntrack
};
struct Restored {
    const ConntrackFacts* conn;
    timbuktu::Phase phase;
    bool from_peer = false;  // from the other node's copy (docs/ha.md#session-state), not the conntrack
};
struct Spoofed {             // a reply from another interface than the original left by
    const ConntrackFacts* conn;
    PacketInterfaces ifaces;
    std::uint32_t original_outdev;  // 0: the original direction ended on this machine
};
struct ReplyUnverified {     // a reply not acted on: original path unknown or not reported
    const ConntrackFacts* conn;
    ReplyVerdict verdict;
    PacketInterfaces ifaces;
};
struct EvictedJunk {         // the table was full: an entry without a live session was forgotten
    Tuple orig;
};
struct EvictedLive {         // the table was full of live sessions: the least recently used one was forgotten
    Tuple orig;
    std::size_t capacity;
};
struct ExpectationCreated {
    const ConntrackFacts* conn;
    const timbuktu::Expect* expect;
};
struct ExpectationFailed {
    const ConntrackFacts* conn;
    const timbuktu::Expect* expect;
    ExpectationResult::Kind kind;
    int error;  // the kernel's errno
};
struct ExpectationNote {     // created, but its shorter timeout could not be set
    const ConntrackFacts* conn;
    int timeout_error;       // the kernel's errno
};
struct Rewritten {
    const ConntrackFacts* conn;
    const timbuktu::Rewrite* rewrite;
};
struct RewriteFailed {       // the bytes were not where the engine said
    const ConntrackFacts* conn;
    const timbuktu::Rewrite* rewrite;
    net::RewriteResult result;
};
struct Refused {             // the engine's Refuse, forwarded as it is
    const ConntrackFacts* conn;
    const timbuktu::Refuse* refuse;
};
struct StoppedWatching {     // the engine's StopWatching, forwarded as it is
    const ConntrackFacts* conn;
    const timbuktu::StopWatching* stop;
};
struct EngineEvent {         // the engine's typed event, forwarded as it is
    const ConntrackFacts* conn;
    const timbuktu::Event* event;
};
struct DroppedForRetransmit {
    const ConntrackFacts* conn;
};
struct Detached {
    const ConntrackFacts* conn;
};
struct IdleExpired {         // housekeeping forgot idle entries (their state stays in the kernel)
    std::size_t count;
};
}  // namespace event

using RuntimeEvent =
    std::variant<event::Unparsed, event::NoConntrack, event::Restored, event::Spoofed, event::ReplyUnverified,
                 event::EvictedJunk, event::EvictedLive, event::ExpectationCreated, event::ExpectationFailed,
                 event::ExpectationNote, event::Rewritten, event::RewriteFailed, event::Refused,
                 event::StoppedWatching, event::EngineEvent, event::DroppedForRetransmit, event::Detached,
                 event::IdleExpired>;

class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void on_event(const RuntimeEvent& e) = 0;
};

// ---------------------------------------------------------------------------

struct RuntimeOptions {
    std::size_t session_capacity = 16384;
    // Idle limits after which a session is dropped from memory (its state stays
    // in the conntrack and is restored if the connection speaks again).
    IdleLimits idle{};
    // The global out-of-order budget: the engine's default, 2 MiB (128
    // connections at their full per-direction bound at once).
    std::size_t hold_budget_bytes = stream::HoldBudget::kDefaultCapacity;
    // docs/daemon.md#reply-interface; off where there are no interfaces (a capture).
    bool reply_interface_check = true;
};

// One tracked connection as `tbhelperctl sessions` shows it (docs/tbhelperctl.md#sessions).
struct SessionView {
    Transport transport = Transport::tcp;
    IpAddress guest;
    std::uint16_t guest_port = 0;
    IpAddress contact_address;  // what the guest used (D)
    IpAddress host;             // the host (H: after DNAT, the real one); D until the engine knows the connection
    std::uint16_t contact_port = 0;
    std::optional<timbuktu::Phase> phase;  // nullopt: only the TCP handshake seen so far
    std::uint8_t service = 0;
    std::uint32_t offers = 0;   // distinct offered streams accepted (each gave an expectation)
    std::time_t created = 0;
    std::time_t last_seen = 0;
};

class HelperRuntime {
public:
    HelperRuntime(HelperDescriptor helper, const timbuktu::Policy& policy, const RuntimeOptions& options,
                  KernelPort& kernel, EventSink& events);
    HelperRuntime(const HelperRuntime&) = delete;
    HelperRuntime& operator=(const HelperRuntime&) = delete;

    // The per-packet work (docs/daemon.md#per-packet).
    PacketOutcome on_packet(const PacketIn& in);
    // Packets the runtime cannot look at: counted, told to the sink, accepted unchanged.
    void unparsed(std::uint32_t packet_id, std::optional<net::ParseError> error);
    void no_conntrack(bool nest_missing);

    void set_policy(const timbuktu::Policy& policy, bool reply_interface_check);  // SIGHUP
    // SIGHUP: a smaller table evicts at once (junk first), as a full one would.
    void set_session_capacity(std::size_t capacity);
    void set_peer(PeerPort* peer) { peer_ = peer; }  // a firewall pair (docs/ha.md#session-state)
    // The state of every live session whose state was written into its
    // conntrack, at most `limit`: what a peer that just started asks for.
    std::vector<ReplicatedState> live_states(std::size_t limit) const;
    void housekeeping(std::time_t now);  // idle expiry

    const HelperDescriptor& helper() const { return helper_; }
    const timbuktu::Counters& counters() const { return counters_; }
    const KernelCounters& kernel_counters() const { return kcounters_; }
    const stream::HoldBudget& hold_budget() const { return hold_budget_; }
    std::size_t sessions_tracked() const { return table_.size(); }
    std::size_t session_capacity() const { return table_.capacity(); }
    // At most `limit` tracked connections, most recently active first; `total`
    // is how many there are.
    std::vector<SessionView> sessions(std::size_t limit, std::size_t& total) const;
    // The engine session of a connection, if the table holds one (analyze reads its phase).
    const timbuktu::Session* session_of(const ConntrackFacts& conn) const;

private:
    // Whether the engine must see this packet as segments, read on the
    // segment queue, rather than whole here (docs/daemon.md#gso); keeps the
    // direction's segment mark.
    bool send_to_segments(const PacketIn& in, SessionEntry* entry, std::uint32_t end_seq);
    void detach(PacketOutcome& out, const SessionKey& key, const ConntrackFacts& conn);
    void not_from_host(ReplyVerdict verdict, const ConntrackFacts& conn, const PacketIn& in, const SessionEntry* entry);
    std::optional<timbuktu::Session> restore_or_start(const ConntrackFacts& conn, timbuktu::PersistedState& written,
                                                      bool may_restore);
    void place(SessionEntry& entry);  // puts the entry in the lane its state calls for
    void evicted(const SessionEntry& victim);  // counts and tells an eviction

    // What carrying out one packet's decisions amounted to.
    struct Carried {
        bool mangled = false;
        bool stop = false;
        bool drop = false;
    };
    Carried carry_out(const timbuktu::Decisions& ds, const ConntrackFacts& conn, const PacketIn& in);

    HelperDescriptor helper_;
    timbuktu::Policy policy_;
    bool reply_interface_check_;
    KernelPort& kernel_;
    EventSink& events_;
    timbuktu::Counters counters_;  // sessions hold a pointer to it: never moved
    // One budget for the bytes every session's TCP readers hold out of order
    // (docs/daemon.md#budgets); sessions hold a pointer to it, and it is
    // declared before table_, so it outlives them.
    stream::HoldBudget hold_budget_;
    KernelCounters kcounters_;
    SessionTable table_;
    IdleLimits idle_;
    bool warned_no_ct_ = false;
    PeerPort* peer_ = nullptr;
};

}  // namespace tb::helper
