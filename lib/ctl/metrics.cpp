#include "ctl/metrics.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "helper/counter_table.hpp"

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

namespace {

// The value of a table entry in the status answer, if it is there and a number.
std::optional<std::uint64_t> status_value(const nlohmann::json& status, const helper::CounterInfo& c) {
    const nlohmann::json* where = &status;
    if (c.place == helper::StatusPlace::counters) where = status.contains("counters") ? &status["counters"] : nullptr;
    if (c.place == helper::StatusPlace::hold_budget)
        where = status.contains("hold_budget") ? &status["hold_budget"] : nullptr;
    if (!where || !where->is_object()) return std::nullopt;
    auto it = where->find(std::string(c.status_key));
    if (it == where->end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
}

}  // namespace

std::vector<MetricFamily> metrics_families(const MetricsInput& in) {
    std::vector<MetricFamily> out;
    const bool up = in.status && in.status->is_object();
    out.push_back({"tbhelper_up", "1 when tbhelperd answered on its control socket, else 0.", MetricKind::gauge,
                   {{{}, std::uint64_t{up ? 1u : 0u}}}});
    if (up) {
        const auto& st = *in.status;
        if (auto it = st.find("uptime"); it != st.end() && it->is_number())
            out.push_back({"tbhelper_uptime_seconds", "Seconds since tbhelperd started.", MetricKind::gauge,
                           {{{}, it->get<double>()}}});
        for (const auto& c : helper::counter_table()) {
            auto v = status_value(st, c);
            if (!v) continue;
            const bool counter = c.kind == helper::CounterKind::counter;
            out.push_back({fmt::format("tbhelper_{}{}", c.name, counter ? "_total" : ""), std::string(c.help),
                           counter ? MetricKind::counter : MetricKind::gauge, {{{}, *v}}});
        }
    }
    if (in.expectations_pending)
        out.push_back({"tbhelper_expectations_pending",
                       "Expectations of helper timbuktu in the kernel now, not yet used or expired.",
                       MetricKind::gauge, {{{}, *in.expectations_pending}}});
    if (in.queue_proc) {
        const std::vector<std::pair<std::string, std::string>> q{{"queue", std::to_string(in.queue)}};
        const auto& k = *in.queue_proc;
        out.push_back({"tbhelper_queue_waiting", "Packets in the kernel's queue waiting for a verdict (kernel figure).",
                       MetricKind::gauge, {{q, std::uint64_t{k.waiting}}}});
        out.push_back({"tbhelper_queue_dropped_total",
                       "Packets the kernel could not queue because the queue was full (with fail-open they pass "
                       "unexamined and are not counted here).",
                       MetricKind::counter, {{q, std::uint64_t{k.queue_dropped}}}});
        out.push_back({"tbhelper_queue_user_dropped_total",
                       "Packets the kernel dropped because it could not send them to tbhelperd (socket full).",
                       MetricKind::counter, {{q, std::uint64_t{k.user_dropped}}}});
    }
    return out;
}

}  // namespace tb::ctl
