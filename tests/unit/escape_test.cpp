#include <catch2/catch.hpp>

#include "text/escape.hpp"

using tb::escape_untrusted;
using tb::is_plain_text;

TEST_CASE("escape_untrusted passes printable ASCII and valid UTF-8", "[escape]") {
    CHECK(escape_untrusted("Mac OS guest 1") == "Mac OS guest 1");
    CHECK(escape_untrusted("J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x98\x80") == "J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(is_plain_text("J\xc3\xbcrgen"));
    CHECK(escape_untrusted("") == "");
}

TEST_CASE("escape_untrusted escapes control bytes, DEL and the backslash", "[escape]") {
    using namespace std::string_literals;
    CHECK(escape_untrusted("a\0<0>b"s) == "a\\x00<0>b");
    CHECK(escape_untrusted("\x1b[2J\a") == "\\x1b[2J\\x07");
    CHECK(escape_untrusted("x\ny\rz\t") == "x\\x0ay\\x0dz\\x09");
    CHECK(escape_untrusted("\x7f") == "\\x7f");
    CHECK(escape_untrusted("a\\x41") == "a\\x5cx41");
    CHECK_FALSE(is_plain_text("a\nb"));
}

TEST_CASE("escape_untrusted escapes invalid UTF-8 and C1 controls byte by byte", "[escape]") {
    CHECK(escape_untrusted("\xff\xfe") == "\\xff\\xfe");
    CHECK(escape_untrusted("\xc3") == "\\xc3");                 // truncated sequence
    CHECK(escape_untrusted("\xc3(") == "\\xc3(");               // bad continuation
    CHECK(escape_untrusted("\xc0\xaf") == "\\xc0\\xaf");        // overlong '/'
    CHECK(escape_untrusted("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");  // overlong, 3 bytes
    CHECK(escape_untrusted("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
    CHECK(escape_untrusted("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
    CHECK(escape_untrusted("\xc2\x9b" "31m") == "\\xc2\\x9b31m");  // C1 CSI
    CHECK(escape_untrusted("\x80") == "\\x80");
}

TEST_CASE("escape_untrusted output holds no control byte", "[escape]") {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    const std::string once = escape_untrusted(all);
    CHECK(once.find("\\x00") != std::string::npos);
    CHECK(escape_untrusted(once) != once);  // its backslashes are escaped again: unambiguous
    for (char c : once) {
        const auto b = static_cast<unsigned char>(c);
        CHECK((b >= 0x20 && b != 0x7f));
    }
}
