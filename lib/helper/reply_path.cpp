#include "helper/reply_path.hpp"

#include <fmt/format.h>

namespace tb::helper {

void OriginalPath::learn(const PacketInterfaces& p) {
    known = true;
    outdev = p.outdev;
    physoutdev = p.outdev ? p.physoutdev : 0;
}

std::string reply_verdict_name(ReplyVerdict v) {
    switch (v) {
        case ReplyVerdict::trusted: return "trusted";
        case ReplyVerdict::unknown_path: return "original path unknown";
        case ReplyVerdict::spoofed: return "spoofed";
        case ReplyVerdict::unverifiable: return "in interface not reported";
    }
    return "unknown";
}

ReplyVerdict check_reply(const OriginalPath& path, const PacketInterfaces& reply) {
    if (!path.known) return ReplyVerdict::unknown_path;
    if (reply.indev != 0) {
        // Came in from an interface. When the original direction ended on
        // this machine, the host is this machine and its replies are sent
        // locally (no in device): one from outside is someone else's.
        if (path.outdev == 0 || reply.indev != path.outdev) return ReplyVerdict::spoofed;
        // Same bridge: the port must match too, when both are known.
        if (path.physoutdev != 0 && reply.physindev != 0 && reply.physindev != path.physoutdev)
            return ReplyVerdict::spoofed;
        return ReplyVerdict::trusted;
    }
    // No in device: sent by this machine, or a bridged packet queued at
    // POSTROUTING (br_netfilter and the bridge family pass no in device there,
    // so the queue cannot name its in port; it does name the out port).
    if (reply.physoutdev != 0) return ReplyVerdict::unverifiable;
    // Sent by this machine: the host is this machine only when the original
    // direction ended here.
    return path.outdev == 0 ? ReplyVerdict::trusted : ReplyVerdict::spoofed;
}

std::string describe_interfaces(const PacketInterfaces& i) {
    auto one = [](std::uint32_t dev, std::uint32_t phys) {
        if (dev == 0) return std::string("local");
        return phys ? fmt::format("{} (port {})", dev, phys) : fmt::format("{}", dev);
    };
    return fmt::format("in {}, out {}", one(i.indev, i.physindev), one(i.outdev, i.physoutdev));
}

}  // namespace tb::helper
