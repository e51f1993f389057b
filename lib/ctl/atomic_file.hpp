// Replacing a file so that no reader ever sees half of it: the content goes
// into a temporary file in the same directory, which rename(2) then puts in
// place in one step. A reader that opens the path gets either the previous
// file whole or the new one whole. Used by `tbhelperctl metrics --output`
// for node_exporter's textfile collector (docs/metrics.md#textfile-collector),
// which reads *.prom files at any moment.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace tb::ctl {

struct WriteFileError {
    enum class Kind {
        bad_path,  // the path cannot name the file: no such directory, a directory itself...
        io,        // the path is right but creating, writing or renaming failed
    };
    Kind kind;
    std::string message;  // one line: what went wrong and what was expected
};

// Writes `content` to `path` atomically, with permissions `mode` (not
// subject to the umask). The temporary file is ".<name>.XXXXXX" beside the
// target: a name that does not end in the target's suffix, so that a
// collector reading "*.prom" never picks it up. Creates nothing but that
// temporary file (no directories); on any failure it is removed again and
// the previous file, if any, stays as it was. fsync before the rename: after
// a crash the path holds the old or the new content, not an empty file.
std::optional<WriteFileError> write_file_atomically(const std::string& path, std::string_view content,
                                                    mode_t mode = 0644);

}  // namespace tb::ctl
