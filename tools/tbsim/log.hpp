// tbsim: line output shared by threads. Text lines go to stdout; with --json
// the guest sends its text lines to stderr (stdout carries only the JSON
// object) and the host prints one JSON object per event on stdout.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace tbsim {

class Logger {
public:
    enum class Mode { text, text_to_stderr, json_lines };
    Logger(Mode mode, bool verbose) : mode_(mode), verbose_(verbose) {}

    bool verbose() const { return verbose_; }

    // One event: `text` is the human line (without newline); `fields` is used
    // in json_lines mode (an "event" member is added).
    void event(const std::string& name, const std::string& text, nlohmann::json fields = nlohmann::json::object());
    // Only with --verbose.
    void debug(const std::string& name, const std::string& text, nlohmann::json fields = nlohmann::json::object()) {
        if (verbose_) event(name, text, std::move(fields));
    }
    // Printed on stdout whatever the mode (the guest's final JSON object).
    void raw_stdout(const std::string& text);

private:
    std::mutex mu_;
    Mode mode_;
    bool verbose_;
};

}  // namespace tbsim
