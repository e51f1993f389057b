#include "netlink.hpp"

#include <cerrno>
#include <vector>

#include "common.hpp"

namespace tb::ctl {

MnlSocket open_netfilter_socket(unsigned groups) {
    MnlSocket nl(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
    if (!nl) kernel_failure("cannot open a netfilter netlink socket", errno);
    if (mnl_socket_bind(nl.get(), groups, MNL_SOCKET_AUTOPID) < 0)
        kernel_failure("cannot bind the netfilter netlink socket", errno);
    return nl;
}

namespace {
int trampoline(const nlmsghdr* nlh, void* data) {
    (*static_cast<const std::function<void(const nlmsghdr*)>*>(data))(nlh);
    return MNL_CB_OK;
}
}  // namespace

int netlink_dump(mnl_socket* nl, nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& cb) {
    const unsigned portid = mnl_socket_get_portid(nl);
    const unsigned seq = nlh->nlmsg_seq;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return errno;
    std::vector<char> buf(kNetlinkRecvSize);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        int ret = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, trampoline,
                             const_cast<void*>(static_cast<const void*>(&cb)));
        if (ret < 0) return errno ? errno : EIO;
        if (ret == MNL_CB_STOP) return 0;
    }
}

}  // namespace tb::ctl
