// The reply-interface check (lib/helper/reply_path.cpp,
// docs/daemon.md#reply-interface) with fake interface facts, as the queue
// reports them at conntrack's confirm points.
#include <catch2/catch.hpp>

#include "helper/reply_path.hpp"

using namespace tb::helper;

namespace {
// guest side eth1 = 2, host side eth2 = 3, a bridge br0 = 10 with ports 11 (guest) and 12 (host)
PacketInterfaces ifs(std::uint32_t in, std::uint32_t out, std::uint32_t physin = 0, std::uint32_t physout = 0) {
    return PacketInterfaces{in, out, physin, physout};
}
OriginalPath learnt(const PacketInterfaces& p) {
    OriginalPath path;
    path.learn(p);
    return path;
}
}  // namespace

TEST_CASE("reply check: routed through the firewall", "[daemon][reply]") {
    const auto path = learnt(ifs(2, 3));  // guest packet in eth1, out eth2
    CHECK(check_reply(path, ifs(3, 2)) == ReplyVerdict::trusted);  // the host's reply
    // The guest forges the host's address from its own segment: in eth1.
    CHECK(check_reply(path, ifs(2, 2)) == ReplyVerdict::spoofed);
    // From a third segment (another guest VLAN, a DMZ).
    CHECK(check_reply(path, ifs(7, 2)) == ReplyVerdict::spoofed);
    // Sent by this machine although the host is elsewhere.
    CHECK(check_reply(path, ifs(0, 2)) == ReplyVerdict::spoofed);
}

TEST_CASE("reply check: no original packet seen yet (first packet after a restart)", "[daemon][reply]") {
    OriginalPath unknown;
    CHECK(check_reply(unknown, ifs(3, 2)) == ReplyVerdict::unknown_path);
    CHECK(check_reply(unknown, ifs(0, 2)) == ReplyVerdict::unknown_path);
}

TEST_CASE("reply check: the firewall itself is the host or the guest", "[daemon][reply]") {
    // Guest to the firewall: queued at LOCAL_IN (no out device); the replies
    // are sent locally (no in device).
    const auto to_fw = learnt(ifs(2, 0));
    CHECK(check_reply(to_fw, ifs(0, 2)) == ReplyVerdict::trusted);
    CHECK(check_reply(to_fw, ifs(2, 0)) == ReplyVerdict::spoofed);  // from outside, claiming to be us
    // The firewall is the guest: its packets leave through eth2 (no in device);
    // the host's replies come in on eth2 at LOCAL_IN.
    const auto from_fw = learnt(ifs(0, 3));
    CHECK(check_reply(from_fw, ifs(3, 0)) == ReplyVerdict::trusted);
    CHECK(check_reply(from_fw, ifs(2, 0)) == ReplyVerdict::spoofed);
}

TEST_CASE("reply check: bridge ports are compared when the queue names them", "[daemon][reply]") {
    const auto path = learnt(ifs(10, 10, 11, 12));  // in port 11, out port 12 of br0
    CHECK(check_reply(path, ifs(10, 10, 12, 11)) == ReplyVerdict::trusted);
    CHECK(check_reply(path, ifs(10, 10, 11, 11)) == ReplyVerdict::spoofed);  // from the guest's port
    // Queued at POSTROUTING a bridged packet has no in device: the in port
    // is unknown, so the reply cannot be verified (never trusted).
    CHECK(check_reply(path, ifs(0, 10, 0, 11)) == ReplyVerdict::unverifiable);
    // A bridge without port information: the logical devices are compared.
    const auto noport = learnt(ifs(10, 10));
    CHECK(check_reply(noport, ifs(10, 10)) == ReplyVerdict::trusted);
}

TEST_CASE("reply check: the original path follows the latest original packet", "[daemon][reply]") {
    OriginalPath path;
    path.learn(ifs(2, 3));
    path.learn(ifs(2, 4));  // the route to the host changed
    CHECK(check_reply(path, ifs(4, 2)) == ReplyVerdict::trusted);
    CHECK(check_reply(path, ifs(3, 2)) == ReplyVerdict::spoofed);
    // A physical out port without its logical device is not kept.
    path.learn(ifs(2, 0, 0, 9));
    CHECK(path.outdev == 0);
    CHECK(path.physoutdev == 0);
    CHECK(describe_interfaces(ifs(10, 3, 11, 0)) == "in 10 (port 11), out 3");
    CHECK(describe_interfaces(ifs(0, 3)) == "in local, out 3");
}
