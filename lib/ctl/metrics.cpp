#include "ctl/metrics.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace tb::ctl {

namespace {

bool name_char(char c, bool first, bool colon) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (colon && c == ':') return true;
    return !first && c >= '0' && c <= '9';
}

bool valid_name(const std::string& name, bool colon) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, colon)) return false;
    return true;
}

// The format's escapes: HELP text escapes backslash and newline; label values
// also the double quote. Anything else passes (UTF-8 is allowed).
std::string escape(const std::string& s, bool quote) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (quote && c == '"') out += "\\\"";
        else out += c;
    }
    return out;
}

std::string value_text(const std::variant<std::uint64_t, double>& v) {
    if (const auto* u = std::get_if<std::uint64_t>(&v)) return fmt::format("{}", *u);
    const double d = std::get<double>(v);
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", d);
}

}  // namespace

bool valid_metric_name(const std::string& name) { return valid_name(name, true); }
bool valid_label_name(const std::string& name) { return valid_name(name, false); }

std::string render_prometheus(const std::vector<MetricFamily>& families) {
    std::string out;
    for (const auto& f : families) {
        if (!valid_metric_name(f.name)) throw std::invalid_argument("invalid metric name: " + f.name);
        out += fmt::format("# HELP {} {}\n", f.name, escape(f.help, false));
        out += fmt::format("# TYPE {} {}\n", f.name, f.kind == MetricKind::counter ? "counter" : "gauge");
        for (const auto& s : f.samples) {
            out += f.name;
            if (!s.labels.empty()) {
                out += '{';
                bool first = true;
                for (const auto& [k, v] : s.labels) {
                    if (!valid_label_name(k)) throw std::invalid_argument("invalid label name: " + k);
                    out += fmt::format("{}{}=\"{}\"", first ? "" : ",", k, escape(v, true));
                    first = false;
                }
                out += '}';
            }
            out += ' ';
            out += value_text(s.value);
            out += '\n';
        }
    }
    return out;
}

}  // namespace tb::ctl
