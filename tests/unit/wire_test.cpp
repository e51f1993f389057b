// docs/protocol-model.md#model and #observation (A6/A7): the frame codec in lib/timbuktu/wire.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "timbuktu/wire.hpp"

using namespace tbtest;
namespace timbuktu = tb::timbuktu;

namespace {
std::string reason_of(const timbuktu::WireError* m) { return m ? timbuktu::wire_error_text(*m) : std::string("(accepted)"); }
Bytes header(std::uint16_t cls, std::uint8_t flags, std::uint32_t length) {
    Bytes h(6);
    tb::store_be16(h.data(), cls);
    h[2] = flags;
    tb::store_be24(h.data() + 3, length);
    return h;
}
Bytes hello_body() { return timbuktu::encode_hello_body(timbuktu::Hello{}); }
}  // namespace

TEST_CASE("A7: the public probe decodes as a valid HELLO", "[wire][A7]") {
    auto probe = timbuktu::public_probe_frame();
    REQUIRE(probe == Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    auto h = timbuktu::decode_header(probe);
    REQUIRE(timbuktu::parsed_value(h));
    CHECK(timbuktu::parsed_value(h)->frame_class == timbuktu::kClassGuest);
    CHECK(timbuktu::parsed_value(h)->length == 16);
    auto hello = timbuktu::parse_hello(std::span<const std::uint8_t>(probe).subspan(6));
    const auto* m = timbuktu::parsed_value(hello);
    REQUIRE(m);
    CHECK(m->version_major == 0);
    CHECK(m->version_minor == 0);
    CHECK(m->service == 0);
    CHECK(m->flags == 0);
    CHECK(m->guest_address == 0);
    CHECK_FALSE(m->guest_name);
}

TEST_CASE("A6: exploit-like first frame (body 0xB0, flags 0x6B) is a HELLO for send files", "[wire][A6]") {
    Bytes body(0xB0, 0x90);
    body[0] = 0x00, body[1] = 0x23, body[4] = 3;
    body[16] = 0x7F;  // a name of 127 bytes ends inside the 176-byte body
    auto f = timbuktu::encode_frame(timbuktu::kClassGuest, 0x6B, body);
    auto split = timbuktu::split_datagram(f);
    REQUIRE(timbuktu::parsed_value(split));
    const auto& frames = *timbuktu::parsed_value(split);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].header.flags == 0x6B);
    CHECK(frames[0].header.length == 0xB0);
    auto hello = timbuktu::parse_hello(frames[0].body);
    REQUIRE(timbuktu::parsed_value(hello));
    CHECK(timbuktu::parsed_value(hello)->service == 3);
    CHECK(timbuktu::parsed_value(hello)->guest_name->size() == 0x7F);
    CHECK(timbuktu::parsed_value(hello)->trailer.size() == 0xB0 - 17 - 0x7F);
}

TEST_CASE("B1: header rejections carry a reason", "[wire][B1]") {
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::decode_header(header(0x0002, 0, 16)))).find("class 0x0002") !=
          std::string::npos);
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::decode_header(header(0x0100, 0, 16)))).find("not Timbuktu") !=
          std::string::npos);
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::decode_header(header(0x0001, 0, 1)))).find("below the minimum") !=
          std::string::npos);
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::decode_header(header(0x0001, 0, 0)))).find("below the minimum") !=
          std::string::npos);
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::decode_header(header(0x0101, 0, 65536)))).find("exceeds") !=
          std::string::npos);
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::decode_header(header(0x0101, 0, 0xFFFFFF)))).find("exceeds") !=
          std::string::npos);
    CHECK(timbuktu::parsed_error(timbuktu::decode_header(Bytes{0x00, 0x01, 0x00})) != nullptr);
    // Limits themselves are accepted; flags are carried through unchanged.
    auto two = timbuktu::decode_header(header(0x0101, 0xA5, 2));
    REQUIRE(timbuktu::parsed_value(two));
    CHECK(timbuktu::parsed_value(two)->flags == 0xA5);
    CHECK(timbuktu::parsed_value(timbuktu::decode_header(header(0x0001, 0, 65535))));
}

TEST_CASE("B1: datagram splitting", "[wire][B1]") {
    auto two = cat({hello(7), frame(timbuktu::kClassGuest, Bytes{0x12, 0x34})});
    auto ok = timbuktu::split_datagram(two);
    REQUIRE(timbuktu::parsed_value(ok));
    REQUIRE(timbuktu::parsed_value(ok)->size() == 2);
    CHECK((*timbuktu::parsed_value(ok))[1].opcode() == 0x1234);

    CHECK(reason_of(timbuktu::parsed_error(timbuktu::split_datagram(Bytes{}))).find("empty") != std::string::npos);
    auto cut_body = hello(7);
    cut_body.pop_back();
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::split_datagram(cut_body))).find("declares") != std::string::npos);
    auto cut_header = cat({hello(7), Bytes{0x00, 0x01, 0x00}});
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::split_datagram(cut_header))).find("frame header") !=
          std::string::npos);
    auto bad_second = cat({hello(7), header(0x0202, 0, 2), Bytes{0, 0}});
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::split_datagram(bad_second))).find("offset") != std::string::npos);
}

TEST_CASE("B3: HELLO parsing", "[wire][B3]") {
    timbuktu::Hello h;
    h.version_major = 6;
    h.version_minor = 1;
    h.service = 9;
    h.flags = 3;
    h.guest_address = 0xC0A8010A;
    h.opaque = {1, 2, 3, 4, 5, 6};
    h.guest_name = "Mac";
    h.trailer = {9, 9};
    auto body = timbuktu::encode_hello_body(h);
    auto parsed = timbuktu::parse_hello(body);
    REQUIRE(timbuktu::parsed_value(parsed));
    const auto& m = *timbuktu::parsed_value(parsed);
    CHECK(m.version_major == 6);
    CHECK(m.version_minor == 1);
    CHECK(m.service == 9);
    CHECK(m.flags == 3);
    CHECK(m.guest_address == 0xC0A8010A);
    CHECK(m.opaque == h.opaque);
    CHECK(*m.guest_name == "Mac");
    CHECK(m.trailer == h.trailer);
    CHECK(timbuktu::encode_hello_body(m) == body);

    SECTION("short body") {
        Bytes b = hello_body();
        b.resize(15);
        CHECK(reason_of(timbuktu::parsed_error(timbuktu::parse_hello(b))).find("at least 16") != std::string::npos);
    }
    SECTION("name does not end in the body") {
        Bytes b = hello_body();
        b.push_back(5);  // name of 5 bytes, 2 present
        b.push_back('a');
        b.push_back('b');
        CHECK(reason_of(timbuktu::parsed_error(timbuktu::parse_hello(b))).find("does not end inside") !=
              std::string::npos);
        b.insert(b.end(), {'c', 'd', 'e'});
        CHECK(timbuktu::parsed_value(timbuktu::parse_hello(b)));
    }
    SECTION("empty name is fine") {
        Bytes b = hello_body();
        b.push_back(0);
        auto p = timbuktu::parse_hello(b);
        REQUIRE(timbuktu::parsed_value(p));
        CHECK(timbuktu::parsed_value(p)->guest_name == std::string());
    }
    SECTION("wrong opcode") {
        Bytes b = hello_body();
        b[1] = 0x31;
        CHECK(timbuktu::parsed_error(timbuktu::parse_hello(b)));
    }
}

TEST_CASE("B4: HELLO-ACK parsing", "[wire][B4]") {
    timbuktu::HelloAck a;
    a.service = 7;
    a.flags = 2;
    a.host_address = 0x0A000005;
    a.host_name = "studio";
    a.trailer = {1};
    auto body = timbuktu::encode_hello_ack_body(a);
    REQUIRE(body.size() == 39 + 6 + 1);
    CHECK(body[38] == 6);  // A6: the name's length byte sits at body offset 38
    auto parsed = timbuktu::parse_hello_ack(body);
    REQUIRE(timbuktu::parsed_value(parsed));
    CHECK(timbuktu::parsed_value(parsed)->host_name == "studio");
    CHECK(timbuktu::parsed_value(parsed)->host_address == 0x0A000005);
    CHECK(timbuktu::parsed_value(parsed)->trailer == Bytes{1});
    SECTION("short") {
        Bytes b(38, 0);
        b[1] = 0x23;
        CHECK(reason_of(timbuktu::parsed_error(timbuktu::parse_hello_ack(b))).find("at least 39") != std::string::npos);
    }
    SECTION("name overflow") {
        Bytes b(39, 0);
        b[1] = 0x23;
        b[38] = 1;
        CHECK(reason_of(timbuktu::parsed_error(timbuktu::parse_hello_ack(b))).find("does not end inside") !=
              std::string::npos);
        b.push_back('x');
        CHECK(timbuktu::parsed_value(timbuktu::parse_hello_ack(b)));
    }
}

TEST_CASE("B5: PORT-OFFER parsing", "[wire][B5]") {
    timbuktu::PortOffer o;
    o.service = 7;
    o.transport = tb::Transport::udp;
    o.port = 40001;
    o.address = 0x0A000005;
    o.lifetime = 30;
    auto body = timbuktu::encode_port_offer_body(o);
    REQUIRE(body.size() == 12);
    auto parsed = timbuktu::parse_port_offer(body);
    REQUIRE(timbuktu::parsed_value(parsed));
    CHECK(timbuktu::parsed_value(parsed)->port == 40001);
    CHECK(timbuktu::parsed_value(parsed)->transport == tb::Transport::udp);
    CHECK(timbuktu::parsed_value(parsed)->address == 0x0A000005);
    CHECK(timbuktu::parsed_value(parsed)->lifetime == 30);

    auto mutate = [&](auto f) {
        Bytes b = body;
        f(b);
        return reason_of(timbuktu::parsed_error(timbuktu::parse_port_offer(b)));
    };
    CHECK(mutate([](Bytes& b) { b.pop_back(); }).find("exactly 12") != std::string::npos);
    CHECK(mutate([](Bytes& b) { b.push_back(0); }).find("exactly 12") != std::string::npos);
    CHECK(mutate([](Bytes& b) { b[3] = 1; }).find("transport 1") != std::string::npos);
    CHECK(mutate([](Bytes& b) { b[3] = 0; }).find("transport 0") != std::string::npos);
    CHECK(mutate([](Bytes& b) { b[4] = 0, b[5] = 0; }).find("port 0") != std::string::npos);
    CHECK(mutate([](Bytes& b) { b[1] = 0x23; }).find("opcode") != std::string::npos);
    // IPv6 contact: only 0.0.0.0.
    CHECK(reason_of(timbuktu::parsed_error(timbuktu::parse_port_offer(body, true))).find("IPv6") != std::string::npos);
    o.address = 0;
    CHECK(timbuktu::parsed_value(timbuktu::parse_port_offer(timbuktu::encode_port_offer_body(o), true)));
    // Limits.
    o.port = 65535;
    CHECK(timbuktu::parsed_value(timbuktu::parse_port_offer(timbuktu::encode_port_offer_body(o))));
    o.port = 1;
    CHECK(timbuktu::parsed_value(timbuktu::parse_port_offer(timbuktu::encode_port_offer_body(o))));
}

TEST_CASE("encoders truncate names to 255 bytes and still parse", "[wire]") {
    timbuktu::HelloAck a;
    a.host_name = std::string(300, 'n');
    auto p = timbuktu::parse_hello_ack(timbuktu::encode_hello_ack_body(a));
    REQUIRE(timbuktu::parsed_value(p));
    CHECK(timbuktu::parsed_value(p)->host_name.size() == 255);
}
