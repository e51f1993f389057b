// Small text helpers for tbhelperctl's tables for people.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "net/address.hpp"

namespace tb::ctl {

// Left-aligned columns separated by two spaces; the last column is not padded.
// Every row must have as many cells as `header`. No trailing blanks.
class Table {
public:
    explicit Table(std::vector<std::string> header);
    void add(std::vector<std::string> row);
    std::size_t size() const { return rows_.size(); }
    std::string render() const;

private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

// "1h 02m 03s", "4m 05s", "12s" (seconds, rounded down).
std::string format_duration(double seconds);

// Every JSON tbhelperctl prints goes through here. Strings stay the real
// strings (JSON escapes control bytes itself); a byte sequence that is not
// valid UTF-8 (a name from a capture or the kernel) becomes U+FFFD instead of
// making nlohmann-json throw and losing the whole report. indent < 0: one line.
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace tb::ctl
