#include "kernel_text.hpp"

#include <cerrno>
#include <cstring>
#include <variant>

#include <fmt/format.h>

#include "helper/runtime.hpp"

namespace tb::daemon {

std::string missing_glue_ct_message() {
    return "the kernel cannot attach conntrack information to queued packets (kernel option "
           "CONFIG_NETFILTER_NETLINK_GLUE_CT, part of module nf_conntrack_netlink)";
}

std::string queue_bind_text(const netfilter::QueueBindError& e) {
    using Kind = netfilter::QueueBindError::Kind;
    switch (e.kind()) {
        case Kind::taken: return fmt::format("queue {} already bound by another process", e.queue());
        case Kind::no_nfqueue:
            return fmt::format("cannot bind queue {}: the kernel has no NFQUEUE netlink interface (module "
                               "nfnetlink_queue, kernel option CONFIG_NETFILTER_NETLINK_QUEUE)",
                               e.queue());
        case Kind::no_glue_ct: return missing_glue_ct_message();
        case Kind::kernel_error: break;
    }
    return e.what();  // "cannot configure queue N (STEP): strerror"
}

LogLine queue_event_line(std::uint16_t queue, const netfilter::QueueEvent& event) {
    namespace qe = netfilter::queue_event;
    return std::visit(
        helper::Overloaded{
            [&](const qe::Overrun&) {
                return LogLine{LogLevel::warning,
                               fmt::format("queue {}: the kernel could not deliver some packets (socket overrun); "
                                           "they passed unexamined (fail-open)",
                                           queue)};
            },
            [&](const qe::ReceiveFailed& e) {
                return LogLine{LogLevel::error, fmt::format("queue {}: receive failed: {}", queue, std::strerror(e.err))};
            },
            [&](const qe::VerdictRejected& e) {
                return LogLine{LogLevel::warning,
                               fmt::format("queue {}: the kernel rejected a verdict: {}", queue, std::strerror(e.err))};
            },
            [&](const qe::VerdictNotSent& e) {
                return LogLine{LogLevel::error, fmt::format("queue {}: cannot send verdict for packet {}: {}", queue,
                                                            e.packet_id, std::strerror(e.err))};
            },
            [&](const qe::HandlerFailed& e) {
                if (e.what.empty()) return LogLine{LogLevel::error, {}};
                return LogLine{LogLevel::error,
                               fmt::format("packet {}: internal error, accepted unchanged: {}", e.packet_id, e.what)};
            },
        },
        event);
}

std::string helper_failure_text(const netfilter::HelperFailure& f) {
    using Step = netfilter::HelperFailure::Step;
    using Kind = netfilter::HelperFailure::Kind;
    const std::string which = fmt::format("{} {}", f.entry.name, netfilter::entry_name(f.entry));
    switch (f.step) {
        case Step::list: return fmt::format("cannot list the kernel's conntrack helpers: {}", std::strerror(f.err));
        case Step::create:
            if (f.kind == Kind::other_parameters)
                return fmt::format("helper {} is registered with different parameters and still referenced by ct "
                                   "helper objects; run tbhelperctl rules --remove, then tbhelperd --unregister, then "
                                   "start again",
                                   which);
            if (f.kind == Kind::no_cthelper_support)
                return fmt::format("the kernel rejected helper {} (EINVAL): it lacks userspace helper support (module "
                                   "nfnetlink_cthelper, kernel option CONFIG_NF_CT_NETLINK_HELPER) or refuses the "
                                   "policy",
                                   which);
            return fmt::format("cannot register helper {}: {}", which, std::strerror(f.err));
        case Step::enable:
        case Step::disable:
            return fmt::format("cannot {} helper {}: {}", f.step == Step::enable ? "enable" : "disable", which,
                               std::strerror(f.err));
        case Step::remove:
            if (f.kind == Kind::still_referenced)
                return fmt::format("helper {} is still referenced by ct helper objects; run tbhelperctl rules --remove "
                                   "first",
                                   which);
            return fmt::format("cannot remove helper {}: {}", which, std::strerror(f.err));
    }
    return fmt::format("helper {}: {}", which, std::strerror(f.err));
}

std::string route_unavailable_text(const std::string& why) {
    return fmt::format("no route lookups ({}): replies of connections restored after a restart are not acted on "
                       "before their guest sends again",
                       why);
}

std::string expect_failure_text(helper::ExpectationResult::Kind kind, int error) {
    std::string why = std::strerror(error);
    if (kind == helper::ExpectationResult::Kind::nat_follow_unavailable) {
        // EINVAL is what ctnetlink answers for an unknown expectation function.
        if (error == EINVAL) why += " (is nf_nat loaded? the kernel needs its \"nat-follow-master\")";
        why += "; the contact connection is NATed, so no expectation without NAT following is tried "
               "(it would open the offered port towards the firewall itself)";
    }
    return why;
}

std::string expect_timeout_note_text(int error) {
    return std::string("the expectation was created but its timeout could not be set: ") + std::strerror(error);
}

}  // namespace tb::daemon
