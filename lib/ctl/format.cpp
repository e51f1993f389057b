#include "ctl/format.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tb::ctl {

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::add(std::vector<std::string> row) {
    if (row.size() != header_.size()) throw std::logic_error("Table::add: wrong number of cells");
    rows_.push_back(std::move(row));
}

std::string Table::render() const {
    std::vector<std::size_t> width(header_.size(), 0);
    auto measure = [&](const std::vector<std::string>& r) {
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    };
    measure(header_);
    for (const auto& r : rows_) measure(r);
    std::string out;
    auto line = [&](const std::vector<std::string>& r) {
        std::string l;
        for (std::size_t i = 0; i < r.size(); ++i) {
            l += r[i];
            if (i + 1 < r.size()) l.append(width[i] - r[i].size() + 2, ' ');
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        out += l;
        out += '\n';
    };
    line(header_);
    for (const auto& r : rows_) line(r);
    return out;
}

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
    auto total = static_cast<std::uint64_t>(seconds);
    std::uint64_t d = total / 86400, h = total / 3600 % 24, m = total / 60 % 60, s = total % 60;
    if (d) return fmt::format("{}d {:02}h {:02}m {:02}s", d, h, m, s);
    if (h) return fmt::format("{}h {:02}m {:02}s", h, m, s);
    if (m) return fmt::format("{}m {:02}s", m, s);
    return fmt::format("{}s", s);
}

std::string dump_json(const nlohmann::json& value, int indent) {
    return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tb::ctl
