// Userspace helpers registered through nfnetlink_cthelper (global to the kernel).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <vector>

#include <fmt/format.h>
extern "C" {  // the header has no C++ guard
#include <libnetfilter_cthelper/libnetfilter_cthelper.h>
}

#include "common.hpp"
#include "kernel.hpp"
#include "netlink.hpp"

namespace tb::ctl {

namespace {
struct HelperFree {
    void operator()(nfct_helper* h) const { nfct_helper_free(h); }
};
}  // namespace

HelperDump dump_helpers() {
    HelperDump out;
    auto nl = open_netfilter_socket();
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = nfct_helper_nlmsg_build_hdr(buf.data(), NFNL_MSG_CTHELPER_GET, NLM_F_DUMP | NLM_F_ACK, 1);
    int err = netlink_dump(nl.get(), nlh, [&](const nlmsghdr* m) {
        std::unique_ptr<nfct_helper, HelperFree> h(nfct_helper_alloc());
        if (!h || nfct_helper_nlmsg_parse_payload(m, h.get()) < 0) return;
        HelperEntry e;
        if (const char* name = nfct_helper_attr_get_str(h.get(), NFCTH_ATTR_NAME)) e.name = name;
        e.l3 = nfct_helper_attr_get_u16(h.get(), NFCTH_ATTR_PROTO_L3NUM);
        e.l4 = nfct_helper_attr_get_u8(h.get(), NFCTH_ATTR_PROTO_L4NUM);
        e.queue = nfct_helper_attr_get_u32(h.get(), NFCTH_ATTR_QUEUE_NUM);
        if (const void* st = nfct_helper_attr_get(h.get(), NFCTH_ATTR_STATUS))  // absent from old kernels
            e.enabled = *static_cast<const std::uint32_t*>(st) == NFCT_HELPER_STATUS_ENABLED;
        out.helpers.push_back(std::move(e));
    });
    if (err == EPERM || err == EACCES) kernel_failure("", err);
    out.ok = err == 0;
    out.error = err;
    return out;
}

std::string helper_text(const HelperEntry& h) {
    const char* l3 = h.l3 == AF_INET ? "ipv4" : h.l3 == AF_INET6 ? "ipv6" : "l3?";
    const char* l4 = h.l4 == IPPROTO_TCP ? "tcp" : h.l4 == IPPROTO_UDP ? "udp" : "l4?";
    return fmt::format("{} {}/{}", h.name, l3, l4);
}

}  // namespace tb::ctl
