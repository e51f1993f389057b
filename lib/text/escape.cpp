#include "text/escape.hpp"

#include <cstdint>

namespace tb {

namespace {

// Length of the valid, non-control UTF-8 sequence starting at s[i] (1 to 4),
// or 0 when the byte at s[i] must be escaped.
std::size_t printable_sequence(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<std::uint8_t>(s[i]);
    if (b0 < 0x20 || b0 == 0x7f || b0 == '\\') return 0;
    if (b0 < 0x80) return 1;
    std::size_t len;
    std::uint32_t cp;
    if (b0 >= 0xc2 && b0 <= 0xdf) len = 2, cp = b0 & 0x1f;
    else if (b0 >= 0xe0 && b0 <= 0xef) len = 3, cp = b0 & 0x0f;
    else if (b0 >= 0xf0 && b0 <= 0xf4) len = 4, cp = b0 & 0x07;
    else return 0;  // continuation byte, 0xc0/0xc1 (overlong), 0xf5.. (beyond U+10FFFF)
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<std::uint8_t>(s[i + k]);
        if ((b & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates, code points past U+10FFFF, C1 controls.
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    if (cp > 0x10ffff) return 0;
    if (cp >= 0x80 && cp <= 0x9f) return 0;
    return len;
}

}  // namespace

std::string escape_untrusted(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        if (std::size_t n = printable_sequence(text, i)) {
            out.append(text.substr(i, n));
            i += n;
            continue;
        }
        const auto b = static_cast<std::uint8_t>(text[i]);
        out += "\\x";
        out += kHex[b >> 4];
        out += kHex[b & 0xf];
        ++i;
    }
    return out;
}

bool is_plain_text(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        std::size_t n = printable_sequence(text, i);
        if (!n) return false;
        i += n;
    }
    return true;
}

}  // namespace tb
