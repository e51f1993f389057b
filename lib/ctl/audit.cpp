#include "ctl/audit.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "text/escape.hpp"
#include "ctl/rules.hpp"

namespace tb::ctl {

using nlohmann::json;

json to_json(const std::vector<Finding>& findings) {
    auto a = json::array();
    for (const auto& f : findings)
        a.push_back({{"severity", f.severity}, {"code", f.code}, {"message", f.message}, {"fix", f.fix}});
    return a;
}

std::string format_findings(const std::vector<Finding>& findings) {
    if (findings.empty()) return "no problems found\n";
    std::string out;
    // Messages quote names from the kernel and the ruleset (helpers, tables, chains).
    for (const auto& f : findings)
        out += fmt::format("{}: {}; fix: {} [{}]\n", f.severity, escape_untrusted(f.message), escape_untrusted(f.fix),
                           f.code);
    return out;
}

namespace {

// The objects of a libnftables JSON answer, of one kind ("table", "chain", ...).
std::vector<const json*> objects(const json& nft, const char* kind) {
    std::vector<const json*> out;
    if (!nft.is_object()) return out;
    auto it = nft.find("nftables");
    if (it == nft.end() || !it->is_array()) return out;
    for (const auto& o : *it)
        if (o.is_object())
            if (auto k = o.find(kind); k != o.end() && k->is_object()) out.push_back(&*k);
    return out;
}

std::string str(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct PortInterval {
    std::uint16_t first, last;
};

using NamedSets = std::map<std::string, json>;  // "family table name" -> elem array

std::string set_key(const std::string& family, const std::string& table, const std::string& name) {
    return family + " " + table + " " + name;
}

NamedSets named_sets(const json& nft) {
    NamedSets sets;
    for (const json* s : objects(nft, "set"))
        if (auto e = s->find("elem"); e != s->end())
            sets[set_key(str(*s, "family"), str(*s, "table"), str(*s, "name"))] = *e;
    return sets;
}

bool port_number(const json& v, std::uint16_t& out) {
    if (!v.is_number_integer()) return false;
    auto n = v.get<std::int64_t>();
    if (n < 0 || n > 65535) return false;
    out = static_cast<std::uint16_t>(n);
    return true;
}

// The ports a match's right-hand side names; nullopt when not understood.
std::optional<std::vector<PortInterval>> port_values(const json& right, const NamedSets& sets,
                                                     const std::string& family, const std::string& table) {
    std::vector<PortInterval> out;
    auto one = [&](const json& v) -> bool {
        std::uint16_t p = 0;
        if (port_number(v, p)) {
            out.push_back({p, p});
            return true;
        }
        if (v.is_object()) {
            if (auto r = v.find("range"); r != v.end() && r->is_array() && r->size() == 2) {
                std::uint16_t a = 0, b = 0;
                if (port_number((*r)[0], a) && port_number((*r)[1], b)) {
                    out.push_back({a, b});
                    return true;
                }
            }
            if (auto e = v.find("elem"); e != v.end() && e->is_object())  // {"elem": {"val": 407, ...}}
                if (auto val = e->find("val"); val != e->end() && port_number(*val, p)) {
                    out.push_back({p, p});
                    return true;
                }
        }
        return false;
    };
    auto list = [&](const json& arr) -> bool {
        if (!arr.is_array()) return one(arr);
        for (const auto& v : arr)
            if (!one(v)) return false;
        return true;
    };
    if (right.is_string()) {
        auto name = right.get<std::string>();
        if (name.size() < 2 || name[0] != '@') return std::nullopt;
        auto it = sets.find(set_key(family, table, name.substr(1)));
        if (it == sets.end()) return std::nullopt;
        if (!list(it->second)) return std::nullopt;
        return out;
    }
    if (right.is_object())
        if (auto s = right.find("set"); s != right.end()) {
            if (!list(*s)) return std::nullopt;
            return out;
        }
    if (!one(right)) return std::nullopt;
    return out;
}

bool contains(const std::vector<PortInterval>& v, std::uint16_t p) {
    return std::any_of(v.begin(), v.end(), [p](const PortInterval& i) { return p >= i.first && p <= i.last; });
}

std::vector<std::string> string_values(const json& right) {
    std::vector<std::string> out;
    auto add = [&](const json& v) {
        if (v.is_string()) out.push_back(v.get<std::string>());
        else if (v.is_number_integer()) out.push_back(std::to_string(v.get<std::int64_t>()));
    };
    if (right.is_array()) {
        for (const auto& v : right) add(v);
    } else if (right.is_object() && right.contains("set") && right["set"].is_array()) {
        for (const auto& v : right["set"]) add(v);
    } else {
        add(right);
    }
    return out;
}

bool positive_op(const json& m) {
    auto op = str(m, "op");
    return op.empty() || op == "==" || op == "in";
}

// ---------------------------------------------------------------------------
// Helper table

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

HelperAssignments read_helper_assignments(const json& nft) {
    HelperAssignments out;
    std::map<std::string, std::string> object_proto;  // ct helper object name -> "tcp"/"udp"
    for (const json* h : objects(nft, "ct helper")) {
        if (str(*h, "table") != kNftTable || str(*h, "family") != "inet") continue;
        auto name = str(*h, "name");
        if (str(*h, "type") != kHelperName) {
            out.problems.push_back(
                fmt::format("ct helper object {} has type \"{}\", not \"{}\"", name, str(*h, "type"), kHelperName));
            continue;
        }
        object_proto[name] = str(*h, "protocol");
    }
    std::map<std::string, std::string> chain_hook;
    for (const json* c : objects(nft, "chain"))
        if (str(*c, "table") == kNftTable && str(*c, "family") == "inet" && c->contains("hook"))
            chain_hook[str(*c, "name")] = str(*c, "hook");
    NamedSets sets = named_sets(nft);
    for (const json* r : objects(nft, "rule")) {
        if (str(*r, "table") != kNftTable || str(*r, "family") != "inet") continue;
        auto hook = chain_hook.find(str(*r, "chain"));
        if (hook == chain_hook.end()) continue;
        auto expr = r->find("expr");
        if (expr == r->end() || !expr->is_array()) continue;
        std::string helper;
        std::string match_proto;
        std::optional<std::vector<PortInterval>> ports;
        bool new_only = false;
        for (const auto& e : *expr) {
            if (!e.is_object()) continue;
            if (auto h = e.find("ct helper"); h != e.end() && h->is_string()) helper = h->get<std::string>();
            auto m = e.find("match");
            if (m == e.end() || !m->is_object()) continue;
            const json& left = (*m)["left"];
            if (left.is_object() && left.contains("payload") && left["payload"].is_object() &&
                str(left["payload"], "field") == "dport" && positive_op(*m)) {
                match_proto = str(left["payload"], "protocol");
                ports = port_values((*m)["right"], sets, "inet", kNftTable);
            }
            if (left.is_object() && left.contains("ct") && str(left["ct"], "key") == "state") {
                auto states = string_values((*m)["right"]);
                new_only = positive_op(*m) && states == std::vector<std::string>{"new"};
            }
        }
        if (helper.empty()) continue;
        auto obj = object_proto.find(helper);
        if (obj == object_proto.end()) {
            out.problems.push_back(fmt::format("a rule in chain {} sets ct helper \"{}\", which is not a {} helper object",
                                               str(*r, "chain"), helper, kHelperName));
            continue;
        }
        if (match_proto != obj->second || !ports) {
            out.problems.push_back(fmt::format("a rule in chain {} sets ct helper \"{}\" ({}) without a {} dport match",
                                               str(*r, "chain"), helper, obj->second, obj->second));
            continue;
        }
        if (!new_only)
            out.problems.push_back(fmt::format("a rule in chain {} sets ct helper \"{}\" without 'ct state new'",
                                               str(*r, "chain"), helper));
        auto& set = out.ports[hook->second][obj->second];
        for (const auto& iv : *ports)
            for (std::uint32_t p = iv.first; p <= iv.last; ++p) set.insert(static_cast<std::uint16_t>(p));
    }
    return out;
}

std::vector<Finding> audit_helper_table(const json& nft, const Config& config, const std::string& origin) {
    HelperAssignments a = read_helper_assignments(nft);
    std::vector<std::string> diffs = a.problems;
    auto list = [](const std::set<std::uint16_t>& s) {
        std::string t;
        for (auto p : s) t += (t.empty() ? "" : ",") + std::to_string(p);
        return t;
    };
    for (const char* hook : {"prerouting", "output"}) {
        for (const char* proto : {"tcp", "udp"}) {
            const auto& want_v = std::string(proto) == "tcp" ? config.tcp_contact_ports : config.udp_contact_ports;
            std::set<std::uint16_t> want(want_v.begin(), want_v.end());
            std::set<std::uint16_t> have;
            if (auto h = a.ports.find(hook); h != a.ports.end())
                if (auto p = h->second.find(proto); p != h->second.end()) have = p->second;
            std::set<std::uint16_t> missing, extra;
            std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                                std::inserter(missing, missing.end()));
            std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::inserter(extra, extra.end()));
            if (!missing.empty())
                diffs.push_back(fmt::format("hook {} lacks {} {}", hook, upper(proto), list(missing)));
            if (!extra.empty())
                diffs.push_back(fmt::format("hook {} has {} {}, which the configuration does not list", hook,
                                            upper(proto), list(extra)));
        }
    }
    if (diffs.empty()) return {};
    std::string msg = fmt::format("table inet {} does not match {}: ", kNftTable, origin);
    for (std::size_t i = 0; i < diffs.size(); ++i) msg += (i ? "; " : "") + diffs[i];
    return {{"error", "rules-mismatch", msg,
             fmt::format("reload the rules from the configuration: tbhelperctl rules --apply{}",
                         origin == kDefaultConfigPath ? "" : " --config " + origin)}};
}

// ---------------------------------------------------------------------------
// Filter evaluation

namespace {

constexpr int kMaxJumpDepth = 16;

struct RulesetIndex {
    const json& nft;
    NamedSets sets;
    // "family table chain" -> rules in order
    std::map<std::string, std::vector<const json*>> rules;
    std::map<std::string, const json*> chains;
};

std::string chain_key(const std::string& family, const std::string& table, const std::string& chain) {
    return family + " " + table + " " + chain;
}

RulesetIndex index_ruleset(const json& nft) {
    RulesetIndex ix{nft, named_sets(nft), {}, {}};
    for (const json* c : objects(nft, "chain"))
        ix.chains[chain_key(str(*c, "family"), str(*c, "table"), str(*c, "name"))] = c;
    for (const json* r : objects(nft, "rule"))
        ix.rules[chain_key(str(*r, "family"), str(*r, "table"), str(*r, "chain"))].push_back(r);
    return ix;
}

struct PathState {
    bool explicit_hit = false;  // the path matched the probe's port / related state explicitly
    int qualifiers = 0;         // conditions the heuristic cannot evaluate (interfaces, addresses, ...)
};

enum class RuleMatch { no, yes };

bool l4_names_contain(const std::vector<std::string>& names, const std::string& l4) {
    const std::string number = l4 == "tcp" ? "6" : "17";
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return n == l4 || n == number; });
}

// Applies one match expression to the probe; updates `path`.
RuleMatch apply_match(const json& m, const Probe& probe, PathState& path, const RulesetIndex& ix,
                      const std::string& family, const std::string& table) {
    const json& left = m.contains("left") ? m["left"] : json();
    const json& right = m.contains("right") ? m["right"] : json();
    const bool positive = positive_op(m);
    const bool negative = str(m, "op") == "!=";
    if (!positive && !negative) {
        ++path.qualifiers;  // <, >, & ...: not evaluated
        return RuleMatch::yes;
    }
    if (left.is_object() && left.contains("ct") && left["ct"].is_object() && str(left["ct"], "key") == "state") {
        auto states = string_values(right);
        bool in = std::find(states.begin(), states.end(), probe.state) != states.end();
        if (in != positive) return RuleMatch::no;
        if (in && probe.state == "related") path.explicit_hit = true;
        return RuleMatch::yes;
    }
    if (left.is_object() && left.contains("meta") && left["meta"].is_object() &&
        str(left["meta"], "key") == "l4proto") {
        bool in = l4_names_contain(string_values(right), probe.l4);
        return in == positive ? RuleMatch::yes : RuleMatch::no;
    }
    if (left.is_object() && left.contains("payload") && left["payload"].is_object()) {
        const json& pl = left["payload"];
        auto proto = str(pl, "protocol");
        auto fld = str(pl, "field");
        if ((proto == "ip" && fld == "protocol") || (proto == "ip6" && fld == "nexthdr")) {
            bool in = l4_names_contain(string_values(right), probe.l4);
            return in == positive ? RuleMatch::yes : RuleMatch::no;
        }
        const bool l4_header = proto == "tcp" || proto == "udp" || proto == "th";
        if (proto == "tcp" || proto == "udp" || proto == "sctp" || proto == "dccp" || proto == "udplite") {
            if (proto != probe.l4) return RuleMatch::no;  // the expression implies its protocol
        }
        if (l4_header && fld == "dport") {
            auto ports = port_values(right, ix.sets, family, table);
            if (!ports || !probe.dport) {
                ++path.qualifiers;
                return RuleMatch::yes;
            }
            bool in = contains(*ports, *probe.dport);
            if (in != positive) return RuleMatch::no;
            if (in) path.explicit_hit = true;
            else ++path.qualifiers;  // "dport != X": matches, but says nothing explicit
            return RuleMatch::yes;
        }
        ++path.qualifiers;
        return RuleMatch::yes;
    }
    ++path.qualifiers;
    return RuleMatch::yes;
}

// An iptables-nft match the kernel runs through xtables (ufw's
// `-m conntrack --ctstate`, `-m multiport`, `-m addrtype`, ...): libnftables
// JSON names the match but not its arguments, so it is a condition the
// heuristic cannot evaluate. A connection-state match is the exception on one
// side: for a related probe it counts as the explicit hit that lets an accept
// count (ufw's before rules accept "RELATED,ESTABLISHED" that way), while as a
// qualifier it still keeps a drop from counting (their "INVALID -j DROP").
// A comment is no condition at all.
void apply_xt_match(const json& xt, const Probe& probe, PathState& path) {
    const auto name = str(xt, "name");
    if (name == "comment") return;
    if ((name == "conntrack" || name == "state") && probe.state == "related") path.explicit_hit = true;
    ++path.qualifiers;
}

struct ChainOutcome {
    Verdict verdict = Verdict::undecided;
    std::string where;
};

ChainOutcome run_chain(const RulesetIndex& ix, const std::string& family, const std::string& table,
                       const std::string& chain, const Probe& probe, const PathState& entry, int depth) {
    if (depth > kMaxJumpDepth) return {};
    auto it = ix.rules.find(chain_key(family, table, chain));
    if (it == ix.rules.end()) return {};
    // A return (or a goto) behind a condition the heuristic cannot decide may
    // have been taken: after one, a drop no longer counts (ufw's ufw-not-local
    // returns for `-m addrtype --dst-type LOCAL` and drops the rest).
    bool maybe_left = false;
    for (const json* rule : it->second) {
        auto expr = rule->find("expr");
        if (expr == rule->end() || !expr->is_array()) continue;
        PathState path = entry;
        bool matched = true;
        for (const auto& e : *expr) {
            if (!e.is_object() || !matched) break;
            if (auto m = e.find("match"); m != e.end()) {
                if (m->is_object() && apply_match(*m, probe, path, ix, family, table) == RuleMatch::no) matched = false;
                continue;
            }
            if (auto x = e.find("xt"); x != e.end()) {
                if (x->is_object() && str(*x, "type") == "match") apply_xt_match(*x, probe, path);
                continue;
            }
            const std::string where = fmt::format("{} {} {}", family, table, chain);
            if (e.contains("accept")) {
                if (path.explicit_hit || path.qualifiers == 0) return {Verdict::accepted, where};
                break;  // an accept the heuristic does not count
            }
            if (e.contains("drop") || e.contains("reject")) {
                if (path.qualifiers == 0 && !maybe_left) return {Verdict::dropped, where};
                break;
            }
            if (e.contains("return")) {
                if (path.qualifiers == 0) return {};  // back to the caller
                maybe_left = true;
                break;
            }
            for (const char* kind : {"jump", "goto"}) {
                auto j = e.find(kind);
                if (j == e.end() || !j->is_object()) continue;
                auto sub = run_chain(ix, family, table, str(*j, "target"), probe, path, depth + 1);
                if (sub.verdict != Verdict::undecided) return sub;
                // A goto that falls off its target does not come back here; the
                // base chain's policy decides, which the caller applies.
                if (std::string(kind) == "goto") {
                    if (path.qualifiers == 0) return {};
                    maybe_left = true;
                }
            }
        }
    }
    return {};
}

}  // namespace

ProbeResult evaluate_hook(const json& nft, const std::string& l3, const std::string& hook, const Probe& probe) {
    RulesetIndex ix = index_ruleset(nft);
    ProbeResult combined{Verdict::accepted, "", false};
    bool any = false;
    for (const auto& [key, chain] : ix.chains) {
        auto family = str(*chain, "family");
        if (!(family == "inet" || (family == "ip" && l3 == "ipv4") || (family == "ip6" && l3 == "ipv6"))) continue;
        if (str(*chain, "hook") != hook) continue;
        auto type = str(*chain, "type");
        if (!type.empty() && type != "filter") continue;
        any = true;
        auto table = str(*chain, "table");
        auto name = str(*chain, "name");
        auto out = run_chain(ix, family, table, name, probe, PathState{}, 0);
        ProbeResult r;
        if (out.verdict != Verdict::undecided) {
            r = {out.verdict, out.where, false};
        } else {
            auto policy = str(*chain, "policy");
            r = {policy == "drop" ? Verdict::dropped : Verdict::accepted,
                 fmt::format("{} {} {}", family, table, name), true};
        }
        if (r.verdict == Verdict::dropped && combined.verdict != Verdict::dropped) combined = r;
    }
    if (!any) return {Verdict::undecided, "", false};
    return combined;
}

FirewallManager detect_firewall_manager(const json& nft) {
    bool ufw = false;
    for (const json* t : objects(nft, "table"))
        if (str(*t, "family") == "inet" && str(*t, "name") == "firewalld") return FirewallManager::firewalld;
    for (const json* c : objects(nft, "chain")) {
        const auto family = str(*c, "family");
        if ((family == "ip" || family == "ip6") && str(*c, "table") == "filter" && str(*c, "name").rfind("ufw-", 0) == 0)
            ufw = true;
    }
    return ufw ? FirewallManager::ufw : FirewallManager::none;
}

bool firewalld_assigns_helper(const json& nft) {
    std::set<std::string> objects_of_ours;
    for (const json* h : objects(nft, "ct helper"))
        if (str(*h, "family") == "inet" && str(*h, "table") == "firewalld" && str(*h, "type") == kHelperName)
            objects_of_ours.insert(str(*h, "name"));
    if (objects_of_ours.empty()) return false;
    for (const json* r : objects(nft, "rule")) {
        if (str(*r, "family") != "inet" || str(*r, "table") != "firewalld") continue;
        auto expr = r->find("expr");
        if (expr == r->end() || !expr->is_array()) continue;
        for (const auto& e : *expr)
            if (auto h = e.find("ct helper"); e.is_object() && h != e.end() && h->is_string() &&
                                              objects_of_ours.count(h->get<std::string>()))
                return true;
    }
    return false;
}

namespace {

// Whether "FAMILY TABLE CHAIN" (a Finding's chain) is the manager's.
bool managed_chain(FirewallManager m, const std::string& where) {
    if (m == FirewallManager::firewalld) return where.rfind("inet firewalld ", 0) == 0;
    if (m == FirewallManager::ufw) return where.rfind("ip filter ", 0) == 0 || where.rfind("ip6 filter ", 0) == 0;
    return false;
}

// The fixes in the manager's words (docs/firewall-managers.md): firewalld's
// service timbuktu opens TCP and UDP contact and attaches the helper;
// ufw's application Timbuktu opens the contact ports. The related streams
// are accepted by both managers' own rules unless someone removed them.
std::string manager_fix(FirewallManager m, const std::string& hook, bool related) {
    if (m == FirewallManager::firewalld) {
        if (hook == "forward")
            return "add the service to the policy between the guests' and the hosts' zones: firewall-cmd "
                   "--permanent --policy=POLICY --add-service=timbuktu && firewall-cmd --reload";
        return related ? "firewalld accepts related connections in its own chains: restore them with "
                         "firewall-cmd --reload, then firewall-cmd --add-service=timbuktu"
                       : "firewall-cmd --add-service=timbuktu && firewall-cmd --permanent --add-service=timbuktu "
                         "(--zone=ZONE for the guests' zone if it is not the default)";
    }
    if (hook == "forward")
        return related ? "ufw's before rules accept related connections (ufw-before-forward): restore "
                         "/etc/ufw/before.rules, then ufw reload"
                       : "ufw route allow in on GUEST-IF out on HOST-IF to any app Timbuktu";
    return related ? "ufw's before rules accept related connections (ufw-before-input): restore "
                     "/etc/ufw/before.rules, then ufw reload"
                   : "ufw allow Timbuktu";
}

}  // namespace

std::vector<Finding> audit_queue_numbers(const json& nft, const Config& config) {
    std::map<std::uint32_t, std::string> ours{{config.queue, "its contact queue (queue)"}};
    if (config.gso) ours.emplace(config.segment_queue_number(), "its segment queue (segment_queue, docs/daemon.md#gso)");
    std::vector<Finding> findings;
    std::set<std::uint32_t> reported;
    for (const json* r : objects(nft, "rule")) {
        auto expr = r->find("expr");
        if (expr == r->end() || !expr->is_array()) continue;
        for (const auto& e : *expr) {
            if (!e.is_object()) continue;
            auto q = e.find("queue");
            if (q == e.end() || !q->is_object()) continue;
            // "num": N, or {"range": [A, B]} (queue num A-B); absent: queue 0.
            auto queue_number = [](const json& v) -> std::optional<std::uint32_t> {
                if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 65535)
                    return std::nullopt;
                return static_cast<std::uint32_t>(v.get<std::int64_t>());
            };
            std::optional<std::uint32_t> lo = 0, hi = 0;
            if (auto num = q->find("num"); num != q->end()) {
                if (num->is_object() && num->contains("range") && (*num)["range"].is_array() &&
                    (*num)["range"].size() == 2) {
                    lo = queue_number((*num)["range"][0]);
                    hi = queue_number((*num)["range"][1]);
                } else {
                    lo = hi = queue_number(*num);
                }
                if (!lo || !hi) continue;  // an expression (symhash, jhash...): not read
            }
            for (const auto& [n, what] : ours) {
                if (n < *lo || n > *hi || !reported.insert(n).second) continue;
                findings.push_back(
                    {"error", "queue-number-taken",
                     fmt::format("a rule in table {} {} chain {} queues packets to queue {}, which tbhelperd reads as "
                                 "{}: they would reach the daemon, which lets them pass unexamined, not the program "
                                 "the rule meant them for",
                                 str(*r, "family"), str(*r, "table"), str(*r, "chain"), n, what),
                     "give that rule another queue number, or set queue / segment_queue in tbhelper.conf to a free "
                     "one and restart tbhelperd"});
            }
        }
    }
    return findings;
}

std::vector<Finding> audit_filter(const json& nft, const Config& config) {
    const FirewallManager manager = detect_firewall_manager(nft);
    std::vector<Finding> findings;
    for (const std::string hook : {"input", "forward"}) {
        // Per hook: which families show the A3 pattern / drop related streams.
        std::map<std::string, std::vector<std::string>> a3_msgs;  // message -> families
        std::map<std::string, std::string> a3_fix;
        std::map<std::string, std::vector<std::string>> rel_msgs;
        std::map<std::string, std::string> rel_fix;
        for (const std::string l3 : {"ipv4", "ipv6"}) {
            std::vector<std::uint16_t> udp_ok;
            for (auto u : config.udp_contact_ports) {
                auto r = evaluate_hook(nft, l3, hook, {"new", "udp", u});
                // Only UDP ports a rule accepts show the intent to pass Timbuktu.
                if (r.verdict == Verdict::accepted && !r.by_policy) udp_ok.push_back(u);
            }
            std::vector<std::uint16_t> tcp_dropped;
            std::vector<std::uint16_t> tcp_ok;
            std::string drop_where;
            bool by_policy = false;
            for (auto t : config.tcp_contact_ports) {
                auto r = evaluate_hook(nft, l3, hook, {"new", "tcp", t});
                if (r.verdict == Verdict::dropped) {
                    tcp_dropped.push_back(t);
                    drop_where = r.where;
                    by_policy = r.by_policy;
                } else if (r.verdict == Verdict::accepted) {
                    tcp_ok.push_back(t);
                }
            }
            if (!udp_ok.empty() && !tcp_dropped.empty()) {
                auto msg = fmt::format(
                    "the {} filter (chain {}) accepts UDP {} but drops TCP {}{}: new guests wait for the TCP "
                    "contact that never comes and hang (protocol model A3)",
                    hook, drop_where, nft_port_set(udp_ok), nft_port_set(tcp_dropped),
                    by_policy ? " (chain policy drop)" : " (a drop rule)");
                a3_msgs[msg].push_back(l3);
                a3_fix[msg] = managed_chain(manager, drop_where)
                                  ? manager_fix(manager, hook, false)
                                  : fmt::format("accept TCP contact next to UDP, e.g. nft insert rule {} ct state new "
                                                "tcp dport {} accept",
                                                drop_where, nft_port_set(tcp_dropped));
            }
            // Related streams: only when this hook is meant to pass Timbuktu.
            if (!udp_ok.empty() || !tcp_ok.empty()) {
                for (const std::string l4 : {"tcp", "udp"}) {
                    auto r = evaluate_hook(nft, l3, hook, {"related", l4, std::nullopt});
                    if (r.verdict != Verdict::dropped) continue;
                    auto msg = fmt::format(
                        "the {} filter (chain {}) passes Timbuktu contact but drops related connections: the "
                        "streams the helper expects for offered ports will not get through",
                        hook, r.where);
                    auto& fam = rel_msgs[msg];
                    if (std::find(fam.begin(), fam.end(), l3) == fam.end()) fam.push_back(l3);
                    rel_fix[msg] = managed_chain(manager, r.where)
                                       ? manager_fix(manager, hook, true)
                                       : fmt::format("nft insert rule {} ct state established,related accept", r.where);
                }
            }
        }
        auto families = [](const std::vector<std::string>& f) {
            return f.size() == 2 ? std::string("IPv4 and IPv6") : (f[0] == "ipv4" ? "IPv4" : "IPv6");
        };
        for (const auto& [msg, fam] : a3_msgs)
            findings.push_back({"error", "tcp-contact-dropped", msg + " [" + families(fam) + "]", a3_fix[msg]});
        for (const auto& [msg, fam] : rel_msgs)
            findings.push_back({"error", "related-dropped", msg + " [" + families(fam) + "]", rel_fix[msg]});
    }
    return findings;
}

// ---------------------------------------------------------------------------
// Reverse-path filtering

namespace {

bool fib_reverse_path_match(const json& m) {
    // `fib saddr [. mark] . iif oif missing`: JSON {"op": "==", "left": {"fib":
    // {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, "right": false}.
    const json& left = m.contains("left") ? m["left"] : json();
    if (!left.is_object() || !left.contains("fib") || !left["fib"].is_object()) return false;
    const json& fib = left["fib"];
    if (str(fib, "result") != "oif") return false;
    auto flags = fib.contains("flags") ? string_values(fib["flags"]) : std::vector<std::string>{};
    auto has = [&](const char* f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
    if (!has("saddr") || !has("iif")) return false;
    const json& right = m.contains("right") ? m["right"] : json();
    const auto op = str(m, "op");
    const bool eq = op.empty() || op == "==";
    // "missing" is false; "oif 0" (older nft) is the number 0.
    return eq && ((right.is_boolean() && !right.get<bool>()) || (right.is_number_integer() && right.get<int>() == 0));
}

}  // namespace

AntispoofCoverage find_antispoof_rules(const json& nft, const Config& config) {
    AntispoofCoverage out;
    std::map<std::string, const json*> chains;
    for (const json* c : objects(nft, "chain"))
        chains[chain_key(str(*c, "family"), str(*c, "table"), str(*c, "name"))] = c;
    NamedSets sets = named_sets(nft);
    for (const json* r : objects(nft, "rule")) {
        const auto family = str(*r, "family");
        if (family != "ip" && family != "ip6" && family != "inet") continue;
        auto chain = chains.find(chain_key(family, str(*r, "table"), str(*r, "chain")));
        if (chain == chains.end()) continue;
        if (chain->second->contains("hook") && str(*chain->second, "hook") != "prerouting") continue;
        auto expr = r->find("expr");
        if (expr == r->end() || !expr->is_array()) continue;
        bool check = false, drop = false, ports_ok = true;
        bool v4 = family != "ip6", v6 = family != "ip";
        for (const auto& e : *expr) {
            if (!e.is_object()) continue;
            if (e.contains("drop") || e.contains("reject")) drop = true;
            if (auto x = e.find("xt"); x != e.end() && x->is_object() && str(*x, "name") == "rpfilter") check = true;
            auto m = e.find("match");
            if (m == e.end() || !m->is_object()) continue;
            if (fib_reverse_path_match(*m)) {
                check = true;
                continue;
            }
            const json& left = (*m)["left"];
            if (left.is_object() && left.contains("meta") && left["meta"].is_object() &&
                str(left["meta"], "key") == "nfproto" && positive_op(*m)) {
                auto names = string_values((*m)["right"]);
                auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
                v4 = v4 && has("ipv4");
                v6 = v6 && has("ipv6");
            }
            if (left.is_object() && left.contains("payload") && left["payload"].is_object()) {
                const json& pl = left["payload"];
                const auto fld = str(pl, "field");
                const auto proto = str(pl, "protocol");
                if ((fld == "dport" || fld == "sport") && (proto == "tcp" || proto == "udp" || proto == "th")) {
                    auto ports = port_values((*m)["right"], sets, family, str(*r, "table"));
                    if (!ports || !positive_op(*m)) continue;  // not understood: give the rule the benefit
                    bool any = false;
                    if (proto != "udp")
                        for (auto p : config.tcp_contact_ports) any = any || contains(*ports, p);
                    if (proto != "tcp")
                        for (auto p : config.udp_contact_ports) any = any || contains(*ports, p);
                    if (!any) ports_ok = false;
                }
            }
        }
        if (!check || !drop || !ports_ok) continue;
        const auto where = fmt::format("{} {} {}", family, str(*r, "table"), str(*r, "chain"));
        if (v4 && !out.ipv4) out.ipv4 = true, out.where_ipv4 = where;
        if (v6 && !out.ipv6) out.ipv6 = true, out.where_ipv6 = where;
    }
    return out;
}

namespace {

// Under firewalld, table inet tbhelper is not loaded (firewalld attaches the
// helper), so its anti-spoofing chain is not the fix. firewalld's own check
// is IPv6_rpfilter (a fib rule in its prerouting chain, which
// find_antispoof_rules recognizes); `firewall-cmd --reload` rereads
// firewalld.conf. For IPv4 firewalld has no setting: strict reverse-path
// filtering is the kernel's rp_filter.
std::string reverse_path_fix(FirewallManager manager, bool ipv4_exposed, bool ipv6_exposed,
                             const std::string& fix_apply) {
    if (manager != FirewallManager::firewalld)
        return fmt::format(
            "load the anti-spoofing chain: {} (or, for IPv4 alone, sysctl -w net.ipv4.conf.all.rp_filter=1)",
            fix_apply);
    std::string fix;
    if (ipv6_exposed)
        fix = "set IPv6_rpfilter=yes in /etc/firewalld/firewalld.conf, then firewall-cmd --reload";
    if (ipv4_exposed)
        fix += std::string(fix.empty() ? "" : "; ") +
               "sysctl -w net.ipv4.conf.all.rp_filter=1, and keep it in a file of /etc/sysctl.d/ (firewalld has "
               "no reverse-path setting for IPv4: that check is the kernel's)";
    return fix;
}

}  // namespace

std::optional<Finding> audit_reverse_path(const ReversePathSysctls& s, const AntispoofCoverage& coverage,
                                          const std::string& fix_apply, FirewallManager manager) {
    std::vector<std::string> weak;  // "gw0 loose", "new interfaces off"
    bool ipv4_exposed = false;
    if (!coverage.ipv4 && !s.ipv4_rp_filter.empty()) {
        auto value = [&](const std::string& k) {
            auto it = s.ipv4_rp_filter.find(k);
            return it == s.ipv4_rp_filter.end() ? 0 : it->second;
        };
        const int all = value("all");
        auto mode = [](int v) { return v == 0 ? "off" : "loose"; };
        for (const auto& [name, v] : s.ipv4_rp_filter) {
            if (name == "all" || name == "default" || name == "lo") continue;
            const int effective = std::max(all, v);
            if (effective != 1) weak.push_back(fmt::format("{} {}", name, mode(effective)));
        }
        const int for_new = std::max(all, value("default"));
        if (for_new != 1) weak.push_back(fmt::format("new interfaces {}", mode(for_new)));
        ipv4_exposed = !weak.empty();
    }
    const bool ipv6_exposed = s.ipv6_enabled && !coverage.ipv6;
    if (!ipv4_exposed && !ipv6_exposed) return std::nullopt;
    std::string what;
    if (ipv4_exposed) {
        what = "IPv4 reverse-path filtering is loose or off (";
        for (std::size_t i = 0; i < weak.size(); ++i) what += (i ? ", " : "") + weak[i];
        what += ")";
    }
    if (ipv6_exposed)
        what += std::string(what.empty() ? "" : " and ") + "IPv6 has no reverse-path filter in the kernel";
    const char* families = ipv4_exposed && ipv6_exposed ? "IPv4 and IPv6" : ipv4_exposed ? "IPv4" : "IPv6";
    return Finding{
        "warning", "rp-filter-loose",
        fmt::format("{}, and no nft fib (or iptables rpfilter) rule drops spoofed contact traffic for {}: a guest "
                    "on another segment can send a reply with an inside host's address as source; only tbhelperd's "
                    "reply-interface check then stops it from acting on it",
                    what, families),
        reverse_path_fix(manager, ipv4_exposed, ipv6_exposed, fix_apply)};
}

// ---------------------------------------------------------------------------
// Kernel modules

const std::vector<NeededModule> kNeededModules = {
    {"nfnetlink_cthelper", "CONFIG_NF_CT_NETLINK_HELPER"},
    {"nfnetlink_queue", "CONFIG_NETFILTER_NETLINK_QUEUE"},
    {"nf_conntrack_netlink", "CONFIG_NF_CT_NETLINK"},
    {"nft_ct", "CONFIG_NFT_CT"},
};

namespace {
bool has_line_starting(const std::string& text, const std::string& prefix) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(prefix, 0) == 0) return true;
    return false;
}
bool mentions_ko(const std::string& text, const std::string& name) {
    // modules.builtin / modules.dep name paths like kernel/net/netfilter/nft_ct.ko[.xz]
    std::istringstream in(text);
    std::string line;
    const std::string needle = "/" + name + ".ko";
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        std::string path = colon == std::string::npos ? line : line.substr(0, colon);
        auto pos = path.find(needle);
        if (pos != std::string::npos) {
            auto rest = path.substr(pos + needle.size());
            if (rest.empty() || rest[0] == '.') return true;
        }
    }
    return false;
}
}  // namespace

ModuleState module_state(const NeededModule& m, const ModuleSources& s) {
    const std::string name = m.name;
    if (has_line_starting(s.proc_modules, name + " ")) return ModuleState::loaded;
    if (s.sys_module.count(name)) return ModuleState::loaded;  // built in with parameters, or loaded
    if (mentions_ko(s.modules_builtin, name)) return ModuleState::builtin;
    if (has_line_starting(s.kernel_config, std::string(m.option) + "=y")) return ModuleState::builtin;
    if (mentions_ko(s.modules_dep, name)) return ModuleState::loadable;
    if (!s.kernel_config.empty()) {
        if (has_line_starting(s.kernel_config, std::string(m.option) + "=m"))
            return s.modules_dep.empty() ? ModuleState::loadable : ModuleState::missing;  // =m but not installed
        return ModuleState::missing;
    }
    if (!s.modules_dep.empty()) return ModuleState::missing;
    return ModuleState::unknown;
}

std::string module_state_name(ModuleState s) {
    switch (s) {
        case ModuleState::loaded: return "loaded";
        case ModuleState::builtin: return "built in";
        case ModuleState::loadable: return "loadable";
        case ModuleState::missing: return "missing";
        case ModuleState::unknown: return "unknown";
    }
    return "unknown";
}

}  // namespace tb::ctl
