#include "ctl/sessions.hpp"

#include <fmt/format.h>

#include "ctl/format.hpp"
#include "text/escape.hpp"

namespace tb::ctl {

namespace {

bool is_str(const nlohmann::json& j, const char* k) { return j.contains(k) && j[k].is_string(); }
bool is_uint(const nlohmann::json& j, const char* k) { return j.contains(k) && j[k].is_number_unsigned(); }

std::string age_text(std::uint64_t s) {
    if (s < 120) return fmt::format("{}s", s);
    if (s < 7200) return fmt::format("{}m", s / 60);
    return fmt::format("{}h", s / 3600);
}

}  // namespace

std::optional<nlohmann::json> sessions_report(const nlohmann::json& answer,
                                              const std::optional<std::vector<ExpectationRow>>& kernel) {
    if (!answer.is_object() || !answer.contains("sessions") || !answer["sessions"].is_array()) return std::nullopt;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : answer["sessions"]) {
        if (!s.is_object() || !is_str(s, "proto") || !is_str(s, "guest") || !is_uint(s, "guest_port") ||
            !is_str(s, "host") || !is_uint(s, "contact_port") || !is_str(s, "phase"))
            continue;
        nlohmann::json row = s;
        if (kernel) {
            const auto guest = IpAddress::parse(s["guest"].get<std::string>());
            const auto address = IpAddress::parse(s.value("address", s["host"].get<std::string>()));
            const std::string proto = s["proto"].get<std::string>();
            std::size_t n = 0;
            for (const auto& e : *kernel)
                if (guest && address && transport_name(e.master.proto) == proto && e.master.src == *guest &&
                    e.master.dst == *address && e.master.sport == s["guest_port"].get<std::uint64_t>() &&
                    e.master.dport == s["contact_port"].get<std::uint64_t>())
                    ++n;
            row["expectations"] = n;
        } else {
            row["expectations"] = nullptr;
        }
        out.push_back(std::move(row));
    }
    return out;
}

std::string format_sessions(const nlohmann::json& report, std::size_t total) {
    if (report.empty()) return "no sessions tracked\n";
    Table t({"PROTO", "GUEST", "HOST", "SERVICE", "PHASE", "OFFERS", "EXPECTATIONS", "AGE"});
    for (const auto& r : report) {
        const auto guest = IpAddress::parse(r["guest"].get<std::string>());
        const auto host = IpAddress::parse(r["host"].get<std::string>());
        const std::string service = r.value("service", std::string());
        t.add({r["proto"].get<std::string>(),
               guest ? format_endpoint(*guest, static_cast<std::uint16_t>(r["guest_port"].get<std::uint64_t>()))
                     : escape_untrusted(r["guest"].get<std::string>()),
               host ? format_endpoint(*host, static_cast<std::uint16_t>(r["contact_port"].get<std::uint64_t>()))
                    : escape_untrusted(r["host"].get<std::string>()),
               service.empty() ? "-" : escape_untrusted(service), escape_untrusted(r["phase"].get<std::string>()),
               std::to_string(r.value("offers", std::uint64_t{0})),
               r["expectations"].is_null() ? "?" : std::to_string(r["expectations"].get<std::uint64_t>()),
               age_text(r.value("age", std::uint64_t{0}))});
    }
    std::string out = t.render();
    if (total > report.size())
        out += fmt::format("(the {} most recently active of {} tracked sessions)\n", report.size(), total);
    return out;
}

}  // namespace tb::ctl
