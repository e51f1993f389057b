// libFuzzer target: the conntrack attributes tbhelperd reads by hand from a
// queued packet's NFQA_CT nest (lib/netfilter/ct_attrs.cpp: CTA_HELP, the
// helper name and its private data; lib/netfilter/conntrack_facts.cpp: the
// whole nest), and the reply-interface check fed with
// interface indexes taken from the same bytes. Whatever parses must build
// back into a nest that parses to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "invariant.hpp"
#include "netfilter/conntrack_facts.hpp"
#include "netfilter/ct_attrs.hpp"
#include "helper/reply_path.hpp"

using namespace tb::netfilter;
using namespace tb::helper;


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> in(data, size);
    auto help = parse_ct_help(in);
    if (help) {
        INVARIANT(help->name.find('\0') == std::string::npos);
        INVARIANT(help->has_info || help->info.empty());
        INVARIANT(help->info.size() <= size);
        if (help->name.size() <= 64 && help->info.size() <= 1024) {
            auto nest = build_nfqa_ct_help(help->name, help->info);
            INVARIANT(!nest.empty());
            INVARIANT(nest.size() % 4 == 0);
            // The nest is NFQA_CT { CTA_HELP {...} }: its payload parses back.
            auto again = parse_ct_help(std::span(nest).subspan(4));
            INVARIANT(again.has_value());
            INVARIANT(again->name == help->name);
            if (!help->info.empty()) INVARIANT(again->info == help->info);
        }
    }
    // The whole conntrack nest, read by hand (lib/netfilter/conntrack_facts.cpp):
    // bounds-checked for either family; what it reads is a TCP or UDP flow
    // with four addresses of that family.
    for (std::uint8_t l3 : {std::uint8_t{2} /* AF_INET */, std::uint8_t{10} /* AF_INET6 */}) {
        auto facts = parse_conntrack(in, l3);
        if (!facts) continue;
        INVARIANT(facts->l4 == 6 || facts->l4 == 17);
        INVARIANT(facts->orig.src.is_v4() == (l3 == 2) && facts->reply.dst.is_v4() == (l3 == 2));
        INVARIANT(!facts->tcp_state || facts->l4 == 6);
    }
    // The reply check is total over any interface facts.
    if (size >= 32) {
        PacketInterfaces orig{}, reply{};
        std::memcpy(&orig, data, 16);
        std::memcpy(&reply, data + 16, 16);
        OriginalPath path;
        path.learn(orig);
        const ReplyVerdict v = check_reply(path, reply);
        INVARIANT(!reply_verdict_name(v).empty());
        // Trusted only when it came in where the original left (or both local).
        if (v == ReplyVerdict::trusted) INVARIANT(reply.indev == path.outdev);
        INVARIANT(!describe_interfaces(reply).empty());
    }
    return 0;
}
