// tbhelperd's words for what the kernel adapters (lib/netfilter/) report as
// values: a queue that cannot be bound, what the queue reader met, a helper
// registration that failed, no route lookups. Pure (unit-tested in
// tests/unit/daemon_kernel_text_test.cpp); the kernel tests and
// docs/daemon.md quote some of these lines, so they change only on purpose.
#pragma once

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "netfilter/cthelper.hpp"
#include "helper/expectation_result.hpp"
#include "netfilter/queue_reader.hpp"

namespace tb::daemon {

// The one line a failed bind is reported with (startup, reload).
std::string queue_bind_text(const netfilter::QueueBindError& e);

// The text for a queue bind that failed with the NFQA_CFG_F_CONNTRACK flag.
std::string missing_glue_ct_message();

struct LogLine {
    LogLevel level;
    std::string text;
};
// A queue event as its log line. VerdictRejected is rate-limited by the
// caller (one a second); a HandlerFailed without a message is not logged
// (its counter is all there is): `text` is empty then.
LogLine queue_event_line(std::uint16_t queue, const netfilter::QueueEvent& e);

// One registration failure as its line ("cannot register helper timbuktu ipv4/tcp: ...").
std::string helper_failure_text(const netfilter::HelperFailure& f);

// Why an expectation could not be created (the end of "expect ... FAILED: ").
std::string expect_failure_text(helper::ExpectationResult::Kind kind, int error);

// The warning for an expectation created without the offer's shorter timeout.
std::string expect_timeout_note_text(int error);

// The warning for a daemon without rtnetlink route lookups.
std::string route_unavailable_text(const std::string& why);

}  // namespace tb::daemon
