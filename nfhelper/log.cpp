#include "log.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace tb::daemon {

namespace {
LogLevel g_level = LogLevel::info;
bool g_journal = false;

const char* prefix(LogLevel l) {
    if (g_journal) {
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
}  // namespace

void Log::init() { g_journal = std::getenv("JOURNAL_STREAM") != nullptr; }
void Log::set_level(LogLevel level) { g_level = level; }
LogLevel Log::level() { return g_level; }
bool Log::enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level); }

void Log::write(LogLevel level, std::string_view text) {
    if (!enabled(level) && level != LogLevel::error) return;
    std::string line = prefix(level);
    // One event, one line: a newline inside the text (from a peer-controlled
    // string, say) must not forge a second log line.
    line.reserve(line.size() + text.size() + 1);
    for (char c : text) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    line.push_back('\n');
    // A single write(2) keeps lines whole; stderr may be a pipe to journald.
    std::size_t off = 0;
    while (off < line.size()) {
        ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
}

}  // namespace tb::daemon
