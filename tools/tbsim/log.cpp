#include "log.hpp"

#include <fmt/format.h>

namespace tbsim {

void Logger::event(const std::string& name, const std::string& text, nlohmann::json fields) {
    std::lock_guard lock(mu_);
    switch (mode_) {
        case Mode::text:
            fmt::print(stdout, "{}\n", text);
            std::fflush(stdout);
            break;
        case Mode::text_to_stderr:
            fmt::print(stderr, "{}\n", text);
            std::fflush(stderr);
            break;
        case Mode::json_lines: {
            if (!fields.is_object()) fields = nlohmann::json::object();
            fields["event"] = name;
            fields["text"] = text;
            fmt::print(stdout, "{}\n", fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            std::fflush(stdout);
            break;
        }
    }
}

void Logger::raw_stdout(const std::string& text) {
    std::lock_guard lock(mu_);
    fmt::print(stdout, "{}\n", text);
    std::fflush(stdout);
}

}  // namespace tbsim
