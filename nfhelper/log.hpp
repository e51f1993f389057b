// tbhelperd's log: one line per event on stderr with a level prefix. Under
// systemd (JOURNAL_STREAM set) the prefix is the sd-daemon "<N>" form, which
// journald turns into the entry's priority; elsewhere it is a readable word.
//
// Every line is escaped as a whole (tb::escape_untrusted): the daemon's own
// text never holds control bytes, and whatever a peer chose (a HELLO name, a
// frame's bytes in a warning) cannot forge a second line, a journald priority
// ("<0>" after a NUL) or a terminal escape (docs/daemon.md#untrusted-text).
// Once the daemon runs, one rate limit covers the whole log
// (docs/daemon.md#log-rate-limit); startup messages are never suppressed.
//
// Under systemd the lines go to journald's native socket (sd_journal_sendv)
// rather than the stream, so that an event carries structured fields
// (TBHELPER_EVENT=expect, TBHELPER_GUEST, ...: docs/daemon.md#journald-fields)
// and `journalctl -u tbhelperd TBHELPER_EVENT=refuse` selects it. Should the
// socket refuse a message, the line goes to stderr as before.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"

namespace tb::daemon {

// One structured journal field of an event: KEY (upper case, digits and
// '_', starting with TBHELPER_) and its value; values are escaped like the
// message (they may hold what a peer chose).
struct LogField {
    std::string_view key;
    std::string value;
};

class Log {
public:
    static void init();                 // reads JOURNAL_STREAM once
    static void set_level(LogLevel level);
    static LogLevel level();
    static bool enabled(LogLevel level);
    static void write(LogLevel level, std::string_view text);
    // An event's line with its journal fields (off the journal: the line alone).
    static void write(LogLevel level, std::string_view text, std::span<const LogField> fields);
    // True when lines go to journald's native socket (fields are kept).
    static bool journal();
    // From now on lines go through the rate limit (called when startup is done).
    static void start_rate_limit();
    // Writes the "N messages suppressed" line if lines were suppressed and the
    // limit allows a line again (the poll loop calls it now and then, so the
    // summary comes even when the flood stopped for good).
    static void flush_suppressed();
    // Lines suppressed since start (status counter `log_suppressed`).
    static std::uint64_t suppressed_total();
};

// The complete line as written: prefix, escaped text, newline. Pure (tests).
std::string format_log_line(LogLevel level, bool journal, std::string_view text);
// The journal entry's fields as sd_journal_sendv gets them ("MESSAGE=...",
// "PRIORITY=6", "SYSLOG_IDENTIFIER=tbhelperd", then `fields`). Pure (tests).
std::vector<std::string> journal_entry(LogLevel level, std::string_view text, std::span<const LogField> fields);
// A field name journald accepts and that is ours: TBHELPER_[A-Z0-9_]+, at most 64 bytes.
bool valid_field_name(std::string_view key);
// The summary line's text for `n` suppressed lines.
std::string suppressed_message(std::uint64_t n);

template <typename... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
    Log::write(LogLevel::error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warning(fmt::format_string<Args...> f, Args&&... args) {
    if (Log::enabled(LogLevel::warning)) Log::write(LogLevel::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
    if (Log::enabled(LogLevel::info)) Log::write(LogLevel::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
    if (Log::enabled(LogLevel::debug)) Log::write(LogLevel::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tb::daemon
