#include "registration.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>

#include "kernel_text.hpp"
#include "log.hpp"
#include "timbuktu/persisted_state.hpp"

namespace tb::daemon {

namespace {

std::vector<std::string> lines(const std::vector<netfilter::HelperFailure>& failures) {
    std::vector<std::string> out;
    for (const auto& f : failures) out.push_back(helper_failure_text(f));
    return out;
}

}  // namespace

std::vector<netfilter::HelperEntry> wanted_helpers(const Config& config) {
    std::vector<netfilter::HelperEntry> out;
    for (std::uint16_t l3 : {std::uint16_t{AF_INET}, std::uint16_t{AF_INET6}})
        for (std::uint8_t l4 : {std::uint8_t{IPPROTO_TCP}, std::uint8_t{IPPROTO_UDP}}) {
            netfilter::HelperEntry e;
            e.name = kHelperName;
            e.l3 = l3;
            e.l4 = l4;
            e.queue = config.queue;
            e.priv_data_len = timbuktu::kPersistedStateSize;
            e.max_expected = config.max_expectations;
            e.expect_timeout = config.expectation_timeout;
            e.enabled = true;
            out.push_back(e);
        }
    return out;
}

netfilter::RegistrationResult register_helpers(netfilter::NetlinkSocket& nl, const Config& config) {
    auto result = netfilter::register_helpers(nl, wanted_helpers(config));
    // Not fatal: the registration itself says what is wrong.
    if (result.list_error)
        log_debug("{}", helper_failure_text({netfilter::HelperFailure::Step::list,
                                             netfilter::HelperFailure::Kind::kernel_error, {}, result.list_error}));
    if (result.failure) throw std::runtime_error(helper_failure_text(*result.failure));
    return result;
}

std::size_t registered_count(netfilter::NetlinkSocket& nl) {
    std::vector<netfilter::HelperEntry> all;
    if (int err = netfilter::list_helpers(nl, all))
        throw netfilter::KernelError("cannot list the kernel's conntrack helpers", err);
    std::size_t n = 0;
    for (const auto& e : all) n += e.name == kHelperName;
    return n;
}

std::vector<std::string> park_helpers(netfilter::NetlinkSocket& nl) {
    return lines(netfilter::set_helpers_enabled(nl, wanted_helpers(Config{}), false));
}

std::vector<std::string> unregister_helpers(netfilter::NetlinkSocket& nl) {
    return lines(netfilter::unregister_helpers(nl, wanted_helpers(Config{})));
}

}  // namespace tb::daemon
