#include "netfilter/route_lookup.hpp"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <vector>

#include "netfilter/netlink_socket.hpp"

namespace tb::netfilter {

RouteLookup::RouteLookup() {
    try {
        nl_ = std::make_unique<NetlinkSocket>(NETLINK_ROUTE);
        nl_->set_receive_timeout_ms(500);
    } catch (const std::exception& e) {
        unavailable_ = e.what();
        nl_.reset();
    }
}

RouteLookup::~RouteLookup() = default;

int RouteLookup::read_oif(const nlattr* attr, void* data) {
    if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_get_payload_len(attr) >= 4)
        *static_cast<std::uint32_t*>(data) = mnl_attr_get_u32(attr);
    return MNL_CB_OK;
}

std::optional<helper::OriginalPath> RouteLookup::path_to(const IpAddress& host) {
    if (!nl_ || (!host.is_v4() && !host.is_v6())) return std::nullopt;
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETROUTE;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = host.is_v4() ? AF_INET : AF_INET6;
    rtm->rtm_dst_len = host.is_v4() ? 32 : 128;
    mnl_attr_put(nlh, RTA_DST, host.is_v4() ? 4 : 16, host.bytes.data());

    std::optional<helper::OriginalPath> out;
    int err = nl_->request(nlh, [&](const nlmsghdr* answer) {
        if (answer->nlmsg_type != RTM_NEWROUTE || answer->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return;
        const auto* r = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(answer));
        std::uint32_t oif = 0;
        mnl_attr_parse(answer, sizeof(rtmsg), &RouteLookup::read_oif, &oif);
        helper::OriginalPath path;
        path.known = true;
        if (r->rtm_type == RTN_LOCAL) {
            path.outdev = 0;  // the host is this machine
        } else if (r->rtm_type == RTN_UNICAST && oif != 0) {
            path.outdev = oif;
        } else {
            return;
        }
        out = path;
    });
    if (err) return std::nullopt;
    return out;
}

}  // namespace tb::netfilter
