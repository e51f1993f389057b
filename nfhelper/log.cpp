#include "log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "text/escape.hpp"
#include "log_limiter.hpp"

namespace tb::daemon {

namespace {
LogLevel g_level = LogLevel::info;
bool g_journal = false;
bool g_limited = false;
LogLimiter g_limiter;

const char* prefix(LogLevel l, bool journal) {
    if (journal) {
        // syslog priorities: 3 err, 4 warning, 6 info, 7 debug
        switch (l) {
            case LogLevel::error: return "<3>";
            case LogLevel::warning: return "<4>";
            case LogLevel::info: return "<6>";
            case LogLevel::debug: return "<7>";
        }
    }
    switch (l) {
        case LogLevel::error: return "tbhelperd: error: ";
        case LogLevel::warning: return "tbhelperd: warning: ";
        case LogLevel::info: return "tbhelperd: info: ";
        case LogLevel::debug: return "tbhelperd: debug: ";
    }
    return "";
}

double monotonic_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void emit(const std::string& line) {
    // A single write(2) keeps lines whole; stderr may be a pipe to journald.
    std::size_t off = 0;
    while (off < line.size()) {
        ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
}

void emit_summary_if_any() {
    if (std::uint64_t n = g_limiter.take_suppressed())
        emit(format_log_line(LogLevel::warning, g_journal, suppressed_message(n)));
}
}  // namespace

std::string format_log_line(LogLevel level, bool journal, std::string_view text) {
    // The prefix is the daemon's; the text is escaped whole: a newline becomes
    // \x0a (one event, one line), NUL + "<0>" cannot become a priority, ESC
    // cannot reach a terminal, invalid UTF-8 is shown byte by byte.
    std::string line = prefix(level, journal);
    line += escape_untrusted(text);
    line.push_back('\n');
    return line;
}

std::string suppressed_message(std::uint64_t n) {
    return fmt::format("{} message{} suppressed (log rate limit: {:.0f} lines at once, then {:.0f} per second)", n,
                       n == 1 ? "" : "s", LogLimiter::kDefaultBurst, LogLimiter::kDefaultPerSecond);
}

void Log::init() { g_journal = std::getenv("JOURNAL_STREAM") != nullptr; }
void Log::set_level(LogLevel level) { g_level = level; }
LogLevel Log::level() { return g_level; }
bool Log::enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level); }
void Log::start_rate_limit() { g_limited = true; }
std::uint64_t Log::suppressed_total() { return g_limiter.suppressed_total(); }

void Log::flush_suppressed() {
    if (!g_limited || g_limiter.suppressed() == 0) return;
    if (g_limiter.admit(monotonic_seconds())) emit_summary_if_any();
}

void Log::write(LogLevel level, std::string_view text) {
    if (!enabled(level) && level != LogLevel::error) return;
    if (g_limited) {
        if (!g_limiter.admit(monotonic_seconds())) return;
        // Logging resumes: first say how much was left out.
        emit_summary_if_any();
    }
    emit(format_log_line(level, g_journal, text));
}

}  // namespace tb::daemon
