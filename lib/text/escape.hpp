// Text that came from the network (a guest's or host's name, any byte a peer
// chose) is escaped before it reaches a log, a terminal or a report: a NUL and
// "<0>" must not forge a journald priority, ESC must not drive a terminal, and
// invalid UTF-8 must not break a JSON encoder (docs/daemon.md#untrusted-text).
#pragma once

#include <string>
#include <string_view>

namespace tb {

// Returns `text` with every byte below 0x20, 0x7f, the backslash, every byte
// of an invalid or overlong UTF-8 sequence, and the C1 controls (U+0080 to
// U+009F, which terminals also obey) written as \xNN. Valid printable UTF-8
// passes unchanged. Escaping the backslash keeps the result unambiguous: the
// original bytes can always be recovered from it.
std::string escape_untrusted(std::string_view text);

// True when escape_untrusted(text) == text (nothing to escape).
bool is_plain_text(std::string_view text);

}  // namespace tb
