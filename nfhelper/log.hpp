// tbhelperd's log: one line per event on stderr with a level prefix. Under
// systemd (JOURNAL_STREAM set) the prefix is the sd-daemon "<N>" form, which
// journald turns into the entry's priority; elsewhere it is a readable word.
#pragma once

#include <string_view>

#include <fmt/format.h>

#include "config/config.hpp"

namespace tb::daemon {

class Log {
public:
    static void init();                 // reads JOURNAL_STREAM once
    static void set_level(LogLevel level);
    static LogLevel level();
    static bool enabled(LogLevel level);
    static void write(LogLevel level, std::string_view text);
};

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
