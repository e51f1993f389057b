#include "system_checks.hpp"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_cthelper.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "log.hpp"
#include "netfilter/netlink_socket.hpp"

namespace tb::daemon {

std::optional<std::string> check_privileges() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    // A seccomp filter may forbid capget; then the first netlink call tells.
    if (syscall(SYS_capget, &hdr, data) != 0) return std::nullopt;
    const unsigned word = CAP_NET_ADMIN / 32, bit = CAP_NET_ADMIN % 32;
    if (!(data[word].effective & (1u << bit)))
        return std::string(geteuid() == 0 ? "CAP_NET_ADMIN is missing: tbhelperd needs it to talk to netfilter"
                                          : "must run as root (or with CAP_NET_ADMIN)");
    return std::nullopt;
}

void load_kernel_modules() {
    static const char* const kModprobe = "/sbin/modprobe";
    if (access(kModprobe, X_OK) != 0) return;
    // nf_nat provides the "nat-follow-master" expectation function; the others
    // are the three netlink subsystems the daemon talks to.
    const char* argv[] = {kModprobe, "-q", "-a", "nfnetlink_cthelper", "nfnetlink_queue", "nf_conntrack_netlink",
                          "nf_nat", nullptr};
    pid_t pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execv(kModprobe, const_cast<char* const*>(argv));
        _exit(127);
    }
    // modprobe of four modules takes well under a second; do not wait forever.
    for (int i = 0; i < 100; ++i) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) return;
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    log_warning("modprobe did not finish within 5 s; continuing");
}

namespace {

// Sends a harmless GET (dump) to an nfnetlink subsystem. nfnetlink answers
// EINVAL for a subsystem that is not registered (after trying to autoload it);
// any other answer, even an error, means the subsystem is there.
int probe_subsystem(netfilter::NetlinkSocket& nl, std::uint16_t type) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    return nl.dump(nlh, [](const nlmsghdr*) {});
}

}  // namespace

std::optional<std::string> check_kernel_support() {
    try {
        netfilter::NetlinkSocket nl(NETLINK_NETFILTER);
        struct Probe {
            std::uint16_t type;
            const char* what;
            const char* module;
            const char* option;
        };
        const Probe probes[] = {
            {(NFNL_SUBSYS_CTHELPER << 8) | NFNL_MSG_CTHELPER_GET, "userspace conntrack helper support", "nfnetlink_cthelper", "CONFIG_NF_CT_NETLINK_HELPER"},
            // A conntrack statistics request: small, whatever the table size.
            {(NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS, "conntrack netlink interface",
             "nf_conntrack_netlink", "CONFIG_NF_CT_NETLINK"},
        };
        for (const auto& p : probes) {
            int e = probe_subsystem(nl, p.type);
            if (e == EINVAL || e == EPROTONOSUPPORT)
                return fmt::format(
                    "the kernel has no {} (module {}, kernel option {}): a userspace conntrack helper cannot work here",
                    p.what, p.module, p.option);
            if (e == EPERM) return std::string("the kernel refused netfilter netlink access (EPERM): run as root");
        }
        // nfnetlink_queue has no dump; /proc tells whether it is registered.
        if (access("/proc/net/netfilter/nfnetlink_queue", F_OK) != 0)
            return std::string(
                "the kernel has no NFQUEUE netlink interface (module nfnetlink_queue, kernel option "
                "CONFIG_NETFILTER_NETLINK_QUEUE)");
    } catch (const netfilter::KernelError& e) {
        return fmt::format("cannot talk to netfilter: {}", e.what());
    }
    return std::nullopt;
}

}  // namespace tb::daemon
