// Who may speak for the host, by interface (docs/daemon.md#reply-interface):
// a reply-direction packet must arrive through the interface the original
// direction left through. A guest on another segment that forges the host's
// address (loose reverse-path filtering lets that through) matches the
// conntrack's reply direction but comes in on the wrong interface.
//
// Pure: the interface indexes come from the queue (NFQA_IFINDEX_*), the
// decision is a value; no sockets, so the unit tests give it fake facts.
#pragma once

#include <cstdint>
#include <string>

namespace tb::helper {

// NFQA_IFINDEX_INDEV / OUTDEV / PHYSINDEV / PHYSOUTDEV of one queued packet;
// 0 when the kernel did not send the attribute. The helper's packets are
// queued at conntrack's confirm points: POSTROUTING (forwarded and locally
// sent packets: an out device; an in device only when routed in from an
// interface) and LOCAL_IN (packets for this machine: an in device, no out
// device). The physical (bridge port) indexes come only together with their
// logical device (nfnetlink_queue reports a physical port only next to the
// bridge it belongs to).
struct PacketInterfaces {
    std::uint32_t indev = 0;
    std::uint32_t outdev = 0;
    std::uint32_t physindev = 0;
    std::uint32_t physoutdev = 0;
    friend bool operator==(const PacketInterfaces&, const PacketInterfaces&) = default;
};

// Where the original direction left, learnt from original-direction packets
// only (the guest cannot choose it: routing to the contact address does).
struct OriginalPath {
    bool known = false;
    std::uint32_t outdev = 0;      // 0: the original direction ended on this machine (LOCAL_IN)
    std::uint32_t physoutdev = 0;  // bridge port it left through, 0 when none was reported

    // Every original-direction packet updates it (a route may change).
    void learn(const PacketInterfaces& original_packet);
};

enum class ReplyVerdict : std::uint8_t {
    trusted,       // arrived where the original direction left: may be fed to the engine
    unknown_path,  // no original-direction packet seen yet (first packet after a restart): not fed
    spoofed,       // arrived through another interface: not from the host, never fed
    unverifiable,  // the queue did not say where it came in (bridged packet at POSTROUTING): not fed
};
std::string reply_verdict_name(ReplyVerdict v);

// The check of docs/daemon.md#reply-interface.
ReplyVerdict check_reply(const OriginalPath& path, const PacketInterfaces& reply_packet);

// "in 3 (port 7), out 5": for log lines.
std::string describe_interfaces(const PacketInterfaces& i);

}  // namespace tb::helper
