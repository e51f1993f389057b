#include "ctl/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "sys/unique_fd.hpp"

namespace tb::ctl {

namespace {

WriteFileError bad_path(std::string message) { return {WriteFileError::Kind::bad_path, std::move(message)}; }
WriteFileError io_error(std::string message) { return {WriteFileError::Kind::io, std::move(message)}; }

// Removes the temporary file unless it was renamed into place.
class TemporaryName {
public:
    explicit TemporaryName(std::string name) : name_(std::move(name)) {}
    ~TemporaryName() {
        if (!name_.empty()) ::unlink(name_.c_str());
    }
    TemporaryName(const TemporaryName&) = delete;
    TemporaryName& operator=(const TemporaryName&) = delete;
    const std::string& name() const { return name_; }
    void release() { name_.clear(); }

private:
    std::string name_;
};

}  // namespace

std::optional<WriteFileError> write_file_atomically(const std::string& path, std::string_view content, mode_t mode) {
    if (path.empty()) return bad_path("expected a file path, got an empty one");
    if (path.back() == '/')
        return bad_path(fmt::format("'{}' names a directory; expected a file path in it (e.g. {}tbhelper.prom)", path,
                                    path));
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base == "." || base == "..")
        return bad_path(fmt::format("'{}' names a directory; expected a file path", path));

    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        const int err = errno;
        if (err == ENOENT)
            return bad_path(fmt::format("directory '{}' does not exist (expected an existing directory; "
                                        "it is not created)",
                                        dir));
        return bad_path(fmt::format("directory '{}': {}", dir, std::strerror(err)));
    }
    if (!S_ISDIR(st.st_mode)) return bad_path(fmt::format("'{}' is not a directory (expected the file's directory)", dir));
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        return bad_path(fmt::format("'{}' is a directory; expected a file path (e.g. {}/tbhelper.prom)", path, path));

    std::string pattern = (dir == "/" ? "/" : dir + "/") + "." + base + ".XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    sys::UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
    if (!fd) return io_error(fmt::format("cannot create a temporary file in '{}': {}", dir, std::strerror(errno)));
    TemporaryName temporary(name.data());

    // mkostemp creates 0600; the collector runs as another user.
    if (::fchmod(fd.get(), mode) != 0)
        return io_error(fmt::format("cannot set the mode of '{}': {}", temporary.name(), std::strerror(errno)));
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error(fmt::format("cannot write '{}': {}", temporary.name(), std::strerror(errno)));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0)
        return io_error(fmt::format("cannot write '{}' to disk: {}", temporary.name(), std::strerror(errno)));
    // Closed before the rename; a write error shows at fsync above already.
    fd.reset();
    if (::rename(temporary.name().c_str(), path.c_str()) != 0)
        return io_error(fmt::format("cannot rename '{}' to '{}': {}", temporary.name(), path, std::strerror(errno)));
    temporary.release();
    return std::nullopt;
}

}  // namespace tb::ctl
