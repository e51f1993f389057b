// tbhelperd's log (nfhelper/log.cpp, log_limiter.cpp): every line escaped
// whole, so nothing a peer sent can forge a line, a journald priority or a
// terminal escape; one token-bucket rate limit, tested with a fake clock;
// and the no-fallback rule for NATed expectations (expect_outcome.hpp).
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <string>

#include "netfilter/expect_outcome.hpp"
#include "../../nfhelper/kernel_text.hpp"
#include "../../nfhelper/log.hpp"
#include "../../nfhelper/log_limiter.hpp"

using namespace tb;
using namespace tb::daemon;

TEST_CASE("log lines: a HELLO name with NUL and <0> cannot forge a journald priority", "[daemon][log]") {
    const std::string name("evil\0<0>emergency", 17);
    const std::string line = format_log_line(LogLevel::info, true, "HELLO from guest name '" + name + "'");
    CHECK(line == "<6>HELLO from guest name 'evil\\x00<0>emergency'\n");
    CHECK(line.find('\0') == std::string::npos);
    // Exactly one line, and the only priority prefix is the daemon's.
    CHECK(line.find('\n') == line.size() - 1);
    CHECK(line.rfind("<6>", 0) == 0);
}

TEST_CASE("log lines: control bytes, DEL, newlines and invalid UTF-8 are escaped", "[daemon][log]") {
    const std::string text = std::string("a\x1b[31mred\x07\x7f") + "\nsecond line\r" + "\xff\xc0\x80" + "ok é";
    const std::string line = format_log_line(LogLevel::warning, false, text);
    CHECK(line == "tbhelperd: warning: a\\x1b[31mred\\x07\\x7f\\x0asecond line\\x0d\\xff\\xc0\\x80ok é\n");
    for (char c : line.substr(0, line.size() - 1)) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
    CHECK(format_log_line(LogLevel::error, true, "plain") == "<3>plain\n");
    CHECK(format_log_line(LogLevel::debug, false, "x") == "tbhelperd: debug: x\n");
}

TEST_CASE("log rate limit: a burst, then N lines per second, suppressed lines counted", "[daemon][log]") {
    LogLimiter lim(10, 2);  // burst 10, then 2 per second
    double now = 100.0;
    int admitted = 0;
    for (int i = 0; i < 1000; ++i)
        if (lim.admit(now)) ++admitted;
    CHECK(admitted == 10);
    CHECK(lim.suppressed() == 990);
    // Half a second later: one more line; the caller writes the summary.
    now += 0.5;
    CHECK(lim.admit(now));
    CHECK_FALSE(lim.admit(now));
    CHECK(lim.take_suppressed() == 991);
    CHECK(lim.suppressed() == 0);
    CHECK(lim.suppressed_total() == 991);
    // A flood lasting 60 s gets about 2 lines a second through, not more.
    admitted = 0;
    for (int s = 0; s < 60; ++s) {
        now += 1.0;
        for (int i = 0; i < 1000; ++i)
            if (lim.admit(now)) ++admitted;
    }
    CHECK(admitted == 120);
    // After a quiet minute the burst is back, but never more than the burst.
    now += 60;
    admitted = 0;
    for (int i = 0; i < 100; ++i)
        if (lim.admit(now)) ++admitted;
    CHECK(admitted == 10);
    // A clock going backwards gives nothing.
    CHECK_FALSE(lim.admit(now - 30));
}

TEST_CASE("log rate limit: the summary line says how many were left out", "[daemon][log]") {
    CHECK(suppressed_message(1).rfind("1 message suppressed", 0) == 0);
    CHECK(suppressed_message(8125).rfind("8125 messages suppressed", 0) == 0);
}

TEST_CASE("a NATed master's refused expectation is never retried without NAT", "[daemon][nat]") {
    // Whatever the kernel answered, a NATed master's failure is the NAT kind:
    // the daemon counts it apart and tries nothing else.
    for (int err : {EINVAL, ENOENT, EBUSY, ENOMEM})
        CHECK(netfilter::classify_expect_failure(true, err).kind == helper::ExpectationResult::Kind::nat_follow_unavailable);
    auto f = netfilter::classify_expect_failure(true, EINVAL);
    CHECK(f.kind == helper::ExpectationResult::Kind::nat_follow_unavailable);
    CHECK(f.error == EINVAL);
    // The daemon's words for it (nfhelper/kernel_text).
    const std::string why = daemon::expect_failure_text(f.kind, f.error);
    CHECK(why.find("nat-follow-master") != std::string::npos);
    CHECK(why.find("firewall itself") != std::string::npos);
    CHECK(why.rfind(std::strerror(EINVAL), 0) == 0);
    const std::string enoent = daemon::expect_failure_text(f.kind, ENOENT);
    CHECK(enoent.find("nat-follow-master") == std::string::npos);  // the nf_nat hint is for EINVAL only
    CHECK(enoent.find("firewall itself") != std::string::npos);
    CHECK(daemon::expect_failure_text(helper::ExpectationResult::Kind::kernel_error, ENOENT) == std::strerror(ENOENT));
    CHECK(daemon::expect_timeout_note_text(EPERM) ==
          std::string("the expectation was created but its timeout could not be set: ") + std::strerror(EPERM));
    CHECK(netfilter::classify_expect_failure(true, ENOENT).kind == helper::ExpectationResult::Kind::nat_follow_unavailable);
    auto plain = netfilter::classify_expect_failure(false, ENOENT);
    CHECK(plain.kind == helper::ExpectationResult::Kind::kernel_error);
}
