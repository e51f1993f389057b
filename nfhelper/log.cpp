#include "log.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "text/escape.hpp"
#include "log_limiter.hpp"

namespace tb::daemon {

namespace {
LogLevel g_level = LogLevel::info;
bool g_journal = false;   // stderr is journald's stream (JOURNAL_STREAM matches it)
bool g_native = false;    // and journald's native socket takes our entries
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

int syslog_priority(LogLevel l) {
    switch (l) {
        case LogLevel::error: return 3;
        case LogLevel::warning: return 4;
        case LogLevel::info: return 6;
        case LogLevel::debug: return 7;
    }
    return 6;
}

// To the journal with fields when we can; the stream otherwise.
void emit_entry(LogLevel level, std::string_view text, std::span<const LogField> fields) {
    if (g_native) {
        const auto entry = journal_entry(level, text, fields);
        std::vector<iovec> iov;
        iov.reserve(entry.size());
        for (const auto& f : entry) iov.push_back({const_cast<char*>(f.data()), f.size()});
        if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
    }
    emit(format_log_line(level, g_journal, text));
}

void emit_summary_if_any() {
    if (std::uint64_t n = g_limiter.take_suppressed()) emit_entry(LogLevel::warning, suppressed_message(n), {});
}

// systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected; a
// child whose stderr was redirected elsewhere inherits the variable, so it
// only counts when it names our stderr.
bool stderr_is_journal_stream() {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (!js) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return st.st_dev == dev && st.st_ino == ino;
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

bool valid_field_name(std::string_view key) {
    constexpr std::string_view kPrefix = "TBHELPER_";
    if (key.size() <= kPrefix.size() || key.size() > 64 || key.substr(0, kPrefix.size()) != kPrefix) return false;
    for (char c : key)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

std::vector<std::string> journal_entry(LogLevel level, std::string_view text, std::span<const LogField> fields) {
    std::vector<std::string> out;
    out.reserve(3 + fields.size());
    out.push_back("MESSAGE=" + escape_untrusted(text));
    out.push_back(fmt::format("PRIORITY={}", syslog_priority(level)));
    out.push_back("SYSLOG_IDENTIFIER=tbhelperd");
    for (const auto& f : fields) {
        // A bad name is the daemon's own mistake: leave the field out rather
        // than let journald drop the whole entry.
        if (!valid_field_name(f.key)) continue;
        out.push_back(fmt::format("{}={}", f.key, escape_untrusted(f.value)));
    }
    return out;
}

std::string suppressed_message(std::uint64_t n) {
    return fmt::format("{} message{} suppressed (log rate limit: {:.0f} lines at once, then {:.0f} per second)", n,
                       n == 1 ? "" : "s", LogLimiter::kDefaultBurst, LogLimiter::kDefaultPerSecond);
}

void Log::init() {
    g_journal = stderr_is_journal_stream();
    // The native socket exists wherever journald runs; sd_journal_sendv
    // failing later still falls back to the stream line by line.
    g_native = g_journal && ::access("/run/systemd/journal/socket", W_OK) == 0;
}
bool Log::journal() { return g_native; }
void Log::set_level(LogLevel level) { g_level = level; }
LogLevel Log::level() { return g_level; }
bool Log::enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level); }
void Log::start_rate_limit() { g_limited = true; }
std::uint64_t Log::suppressed_total() { return g_limiter.suppressed_total(); }

void Log::flush_suppressed() {
    if (!g_limited || g_limiter.suppressed() == 0) return;
    if (g_limiter.admit(monotonic_seconds())) emit_summary_if_any();
}

void Log::write(LogLevel level, std::string_view text) { write(level, text, {}); }

void Log::write(LogLevel level, std::string_view text, std::span<const LogField> fields) {
    if (!enabled(level) && level != LogLevel::error) return;
    if (g_limited) {
        if (!g_limiter.admit(monotonic_seconds())) return;
        // Logging resumes: first say how much was left out.
        emit_summary_if_any();
    }
    emit_entry(level, text, fields);
}

}  // namespace tb::daemon
