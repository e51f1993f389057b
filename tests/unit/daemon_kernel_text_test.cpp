// tbhelperd's words for what lib/netfilter's kernel adapters report as values
// (nfhelper/kernel_text.cpp). The adapters moved out of nfhelper; these lines
// did not change: docs/daemon.md and the kernel tests quote some of them.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "../../nfhelper/kernel_text.hpp"

using namespace tb;
using namespace tb::daemon;
namespace nf = tb::netfilter;

namespace {

nf::HelperEntry entry(std::uint16_t l3, std::uint8_t l4) {
    nf::HelperEntry e;
    e.name = "timbuktu";
    e.l3 = l3;
    e.l4 = l4;
    return e;
}

}  // namespace

TEST_CASE("daemon words: a queue that cannot be bound, by kind", "[daemon][kernel-text]") {
    using Kind = nf::QueueBindError::Kind;
    CHECK(queue_bind_text(nf::QueueBindError(Kind::taken, 407, "bind", EBUSY)) ==
          "queue 407 already bound by another process");
    CHECK(queue_bind_text(nf::QueueBindError(Kind::no_nfqueue, 407, "bind", EINVAL)) ==
          "cannot bind queue 407: the kernel has no NFQUEUE netlink interface (module nfnetlink_queue, kernel option "
          "CONFIG_NETFILTER_NETLINK_QUEUE)");
    CHECK(queue_bind_text(nf::QueueBindError(Kind::no_glue_ct, 407, "flags", EOPNOTSUPP)) ==
          missing_glue_ct_message());
    CHECK(queue_bind_text(nf::QueueBindError(Kind::kernel_error, 9, "queue length", ENOMEM)) ==
          "cannot configure queue 9 (queue length): " + std::string(std::strerror(ENOMEM)));
}

TEST_CASE("daemon words: queue events, with their levels", "[daemon][kernel-text]") {
    namespace qe = nf::queue_event;
    auto overrun = queue_event_line(407, qe::Overrun{});
    CHECK(overrun.level == LogLevel::warning);
    CHECK(overrun.text ==
          "queue 407: the kernel could not deliver some packets (socket overrun); they passed unexamined (fail-open)");
    auto rejected = queue_event_line(407, qe::VerdictRejected{ENOENT});
    CHECK(rejected.level == LogLevel::warning);
    CHECK(rejected.text == "queue 407: the kernel rejected a verdict: " + std::string(std::strerror(ENOENT)));
    auto not_sent = queue_event_line(407, qe::VerdictNotSent{12, EAGAIN});
    CHECK(not_sent.level == LogLevel::error);
    CHECK(not_sent.text == "queue 407: cannot send verdict for packet 12: " + std::string(std::strerror(EAGAIN)));
    CHECK(queue_event_line(407, qe::ReceiveFailed{EIO}).text ==
          "queue 407: receive failed: " + std::string(std::strerror(EIO)));
    CHECK(queue_event_line(407, qe::HandlerFailed{5, "bad_alloc"}).text ==
          "packet 5: internal error, accepted unchanged: bad_alloc");
    // Not a std::exception: counted (internal_errors), not logged, as before.
    CHECK(queue_event_line(407, qe::HandlerFailed{5, ""}).text.empty());
}

TEST_CASE("daemon words: helper registration failures name the entry", "[daemon][kernel-text]") {
    using Step = nf::HelperFailure::Step;
    using Kind = nf::HelperFailure::Kind;
    const auto v4tcp = entry(AF_INET, IPPROTO_TCP);
    const auto v6udp = entry(AF_INET6, IPPROTO_UDP);
    CHECK(helper_failure_text({Step::remove, Kind::still_referenced, v4tcp, EBUSY}) ==
          "helper timbuktu ipv4/tcp is still referenced by ct helper objects; run tbhelperctl rules --remove first");
    CHECK(helper_failure_text({Step::create, Kind::other_parameters, v6udp, EBUSY}) ==
          "helper timbuktu ipv6/udp is registered with different parameters and still referenced by ct helper "
          "objects; run tbhelperctl rules --remove, then tbhelperd --unregister, then start again");
    CHECK(helper_failure_text({Step::create, Kind::no_cthelper_support, v4tcp, EINVAL}).starts_with(
        "the kernel rejected helper timbuktu ipv4/tcp (EINVAL): it lacks userspace helper support"));
    CHECK(helper_failure_text({Step::create, Kind::kernel_error, v4tcp, ENOMEM}) ==
          "cannot register helper timbuktu ipv4/tcp: " + std::string(std::strerror(ENOMEM)));
    CHECK(helper_failure_text({Step::disable, Kind::kernel_error, v6udp, EPERM}) ==
          "cannot disable helper timbuktu ipv6/udp: " + std::string(std::strerror(EPERM)));
    CHECK(helper_failure_text({Step::enable, Kind::kernel_error, v6udp, EPERM}).starts_with(
        "cannot enable helper timbuktu ipv6/udp: "));
    CHECK(helper_failure_text({Step::remove, Kind::kernel_error, v4tcp, EIO}) ==
          "cannot remove helper timbuktu ipv4/tcp: " + std::string(std::strerror(EIO)));
    CHECK(helper_failure_text({Step::list, Kind::kernel_error, {}, EINVAL}) ==
          "cannot list the kernel's conntrack helpers: " + std::string(std::strerror(EINVAL)));
}

TEST_CASE("daemon words: no route lookups", "[daemon][kernel-text]") {
    CHECK(route_unavailable_text("cannot open a netlink socket: Permission denied") ==
          "no route lookups (cannot open a netlink socket: Permission denied): replies of connections restored after "
          "a restart are not acted on before their guest sends again");
}
