// Shared builders for the unit tests: connection facts, frames, and filters
// over the decisions the engine returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/address.hpp"
#include "timbuktu/decisions.hpp"
#include "timbuktu/event_text.hpp"
#include "timbuktu/session.hpp"
#include "timbuktu/wire.hpp"

namespace tbtest {

using Bytes = std::vector<std::uint8_t>;
using namespace tb;
using namespace tb::timbuktu;

inline IpAddress ip(const char* text) { return *IpAddress::parse(text); }

// G 198.51.100.2 -> D 203.0.113.2; without NAT H == D and G' == G.
inline ConnectionFacts plain_facts(Transport t = Transport::tcp) {
    ConnectionFacts f;
    f.transport = t;
    f.guest = ip("198.51.100.2");
    f.guest_port = 40000;
    f.contact_address = ip("203.0.113.2");
    f.contact_port = 407;
    f.host = f.contact_address;
    f.guest_translated = f.guest;
    return f;
}
// Port forward: the guest talks to D 203.0.113.2, the firewall forwards to H 10.0.0.5.
inline ConnectionFacts dnat_facts(Transport t = Transport::tcp) {
    auto f = plain_facts(t);
    f.host = ip("10.0.0.5");
    return f;
}
// Masquerade: the guest 192.168.1.10 appears as G' 198.51.100.77.
inline ConnectionFacts snat_facts(Transport t = Transport::tcp) {
    auto f = plain_facts(t);
    f.guest = ip("192.168.1.10");
    f.guest_translated = ip("198.51.100.77");
    return f;
}
inline ConnectionFacts v6_facts(Transport t = Transport::tcp) {
    ConnectionFacts f;
    f.transport = t;
    f.guest = ip("2001:db8::2");
    f.guest_port = 40000;
    f.contact_address = ip("2001:db8:1::2");
    f.contact_port = 407;
    f.host = f.contact_address;
    f.guest_translated = f.guest;
    return f;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

inline Bytes hello(std::uint8_t service, std::uint32_t guest_address = 0, const char* name = "guest-mac") {
    timbuktu::Hello h;
    h.version_major = 5;
    h.version_minor = 2;
    h.service = service;
    h.flags = 1;
    h.guest_address = guest_address;
    if (name) h.guest_name = name;
    return timbuktu::hello_frame(h);
}
inline Bytes hello_ack(std::uint8_t service, std::uint32_t host_address = 0, const char* name = "host-mac") {
    timbuktu::HelloAck a;
    a.version_major = 5;
    a.version_minor = 2;
    a.service = service;
    a.flags = 1;
    a.host_address = host_address;
    a.host_name = name;
    return timbuktu::hello_ack_frame(a);
}
inline Bytes offer(std::uint8_t service, Transport t, std::uint16_t port, std::uint32_t address = 0,
                   std::uint16_t lifetime = 0) {
    timbuktu::PortOffer o;
    o.service = service;
    o.transport = t;
    o.port = port;
    o.address = address;
    o.lifetime = lifetime;
    return timbuktu::port_offer_frame(o);
}
// The same offer bytes but with the guest class (a forgery attempt).
inline Bytes guest_offer(std::uint16_t frame_class, std::uint16_t port) {
    timbuktu::PortOffer o;
    o.service = 7;
    o.transport = Transport::udp;
    o.port = port;
    return timbuktu::encode_frame(frame_class, 0, timbuktu::encode_port_offer_body(o));
}
inline Bytes frame(std::uint16_t frame_class, Bytes body) { return timbuktu::encode_frame(frame_class, 0, body); }

template <class T>
std::vector<T> only(const Decisions& ds) {
    std::vector<T> out;
    for (const auto& d : ds)
        if (const auto* t = std::get_if<T>(&d)) out.push_back(*t);
    return out;
}
inline bool has_note(const Decisions& ds, const std::string& fragment) {
    for (const auto& e : only<Event>(ds))
        if (event_text(e).find(fragment) != std::string::npos) return true;
    return false;
}

// A TCP conversation with per-direction sequence numbers (starting near the
// wrap so that every test also crosses 2^32).
struct TcpPeer {
    Session& session;
    std::uint32_t guest_seq = 0xFFFFFF00u;
    std::uint32_t host_seq = 0x7FFFFFF0u;

    Decisions guest(const Bytes& b) {
        auto d = session.on_packet(Packet{PacketDirection::original, guest_seq, b});
        guest_seq += static_cast<std::uint32_t>(b.size());
        return d;
    }
    Decisions host(const Bytes& b) {
        auto d = session.on_packet(Packet{PacketDirection::reply, host_seq, b});
        host_seq += static_cast<std::uint32_t>(b.size());
        return d;
    }
};

inline Decisions udp(Session& s, PacketDirection dir, const Bytes& b) { return s.on_packet(Packet{dir, 0, b}); }

inline Decisions append(Decisions a, const Decisions& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace tbtest
