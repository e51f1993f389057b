// One expectation, the one shape every program uses (pure: no netlink here).
//
// An expectation admits one stream: from the guest (any source port) to an
// address and port, for a time. `ExpectedStream` is that stream; the other
// shapes add what their side knows about it:
//   ListedExpectation   what ctnetlink lists (tbhelperctl expectations/watch):
//                       plus the master tuple and the kernel helper's name;
//   CreatedExpectation  what tbhelperd made (its control socket's
//                       "expectations"): plus the service and when;
// and, in lib/ctl, ExpectationRow (a listed one, named by the daemon) and
// AnalysisExpectation (one analyze would have made).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "net/address.hpp"
#include "timbuktu/decisions.hpp"

namespace tb::netfilter {

struct ExpectedStream {
    Transport proto = Transport::tcp;  // of the expected stream
    IpAddress src;                     // the guest (any source port)
    IpAddress dst;                     // the address the guest will connect to
    std::uint16_t dport = 0;
    std::uint32_t timeout = 0;         // seconds (left, for a listed one)

    // The kernel keys an expectation by this; a refreshed offer replaces the
    // expectation of the same stream.
    auto stream_key() const { return std::tie(proto, src, dst, dport); }
    bool same_stream(const ExpectedStream& o) const { return stream_key() == o.stream_key(); }
};

// The stream an engine decision asks for: G, any port -> D, the offered port.
inline ExpectedStream expected_stream(const timbuktu::Expect& e) {
    return ExpectedStream{e.transport, e.guest, e.address, e.port, e.timeout_seconds};
}

struct MasterTuple {  // the contact connection, original direction
    Transport proto = Transport::tcp;
    IpAddress src;
    IpAddress dst;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
};

struct ListedExpectation : ExpectedStream {
    MasterTuple master;
    std::string helper;  // the kernel helper's name ("timbuktu" for ours)
};

struct CreatedExpectation : ExpectedStream {
    std::uint8_t service = 0;  // timbuktu service code
    std::int64_t created = 0;  // unix time
};

}  // namespace tb::netfilter
