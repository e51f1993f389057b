#include "ctl/expectations.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "text/escape.hpp"
#include "config/config.hpp"
#include "ctl/format.hpp"

namespace tb::ctl {

std::vector<ExpectationRow> filter_timbuktu(std::vector<ExpectationRow> rows) {
    std::erase_if(rows, [](const ExpectationRow& r) { return r.helper != kHelperName; });
    std::sort(rows.begin(), rows.end(), [](const ExpectationRow& a, const ExpectationRow& b) {
        return std::tie(a.proto, a.src, a.dst, a.dport) < std::tie(b.proto, b.src, b.dst, b.dport);
    });
    return rows;
}

std::size_t name_services(std::vector<ExpectationRow>& rows, const nlohmann::json& response) {
    if (!response.is_object()) return 0;
    auto it = response.find("expectations");
    if (it == response.end() || !it->is_array()) return 0;
    struct Known {
        Transport proto;
        IpAddress src, dst;
        std::uint16_t dport;
        std::string service;
        double created;
    };
    std::vector<Known> known;
    for (const auto& e : *it) {
        if (!e.is_object()) continue;
        try {
            Known k;
            auto proto = e.at("proto").get<std::string>();
            if (proto == "tcp") k.proto = Transport::tcp;
            else if (proto == "udp") k.proto = Transport::udp;
            else continue;
            auto src = IpAddress::parse(e.at("src").get<std::string>());
            auto dst = IpAddress::parse(e.at("dst").get<std::string>());
            auto dport = e.at("dport").get<std::int64_t>();
            if (!src || !dst || dport < 1 || dport > 65535) continue;
            k.src = *src;
            k.dst = *dst;
            k.dport = static_cast<std::uint16_t>(dport);
            k.service = e.at("service").get<std::string>();
            k.created = e.contains("created") && e["created"].is_number() ? e["created"].get<double>() : 0.0;
            known.push_back(std::move(k));
        } catch (const nlohmann::json::exception&) {
            continue;  // a record without the fields we match on
        }
    }
    std::size_t named = 0;
    for (auto& r : rows) {
        const Known* best = nullptr;
        for (const auto& k : known)
            if (k.proto == r.proto && k.src == r.src && k.dst == r.dst && k.dport == r.dport &&
                (!best || k.created >= best->created))
                best = &k;
        if (best) {
            r.service = best->service;
            ++named;
        }
    }
    return named;
}

nlohmann::json to_json(const ExpectationRow& r) {
    nlohmann::json j = {
        {"proto", std::string(transport_name(r.proto))},
        {"src", r.src.to_string()},
        {"dst", r.dst.to_string()},
        {"dport", r.dport},
        {"timeout", r.timeout},
        {"master",
         {{"proto", std::string(transport_name(r.master.proto))},
          {"src", r.master.src.to_string()},
          {"dst", r.master.dst.to_string()},
          {"sport", r.master.sport},
          {"dport", r.master.dport}}},
        {"helper", r.helper},
    };
    if (r.service) j["service"] = *r.service;
    return j;
}

nlohmann::json to_json(const std::vector<ExpectationRow>& rows) {
    auto a = nlohmann::json::array();
    for (const auto& r : rows) a.push_back(to_json(r));
    return a;
}

namespace {
std::string master_text(const MasterTuple& m) {
    return fmt::format("{} {} -> {}", transport_name(m.proto), format_endpoint(m.src, m.sport), format_endpoint(m.dst, m.dport));
}
}  // namespace

std::string format_table(const std::vector<ExpectationRow>& rows) {
    if (rows.empty()) return {};
    Table t({"PROTO", "GUEST", "ADDRESS", "PORT", "SERVICE", "TIMEOUT", "MASTER"});
    for (const auto& r : rows)
        t.add({std::string(transport_name(r.proto)), r.src.to_string(), r.dst.to_string(), std::to_string(r.dport),
               escape_untrusted(r.service.value_or("-")), fmt::format("{}s", r.timeout), master_text(r.master)});
    return t.render();
}

std::string format_event(const std::string& event, const ExpectationRow& r) {
    std::string tag = event;
    std::transform(tag.begin(), tag.end(), tag.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string line = fmt::format("[{}] {} {} -> {}", tag, transport_name(r.proto), r.src.to_string(),
                                   format_endpoint(r.dst, r.dport));
    if (r.service) line += fmt::format(" service={}", escape_untrusted(*r.service));
    if (event == "new") line += fmt::format(" timeout={}s", r.timeout);
    line += fmt::format(" master {}", master_text(r.master));
    return line;
}

nlohmann::json event_json(const std::string& event, const ExpectationRow& row) {
    nlohmann::json j = {{"event", event}};
    j.update(to_json(row));
    return j;
}

}  // namespace tb::ctl
