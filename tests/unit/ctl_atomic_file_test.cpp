// tbhelperctl metrics --output's writer (lib/ctl/atomic_file): the file is
// replaced in one rename, with mode 0644 whatever the umask, nothing else is
// left in the directory, and a bad path is refused before anything is made.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "ctl/atomic_file.hpp"

using tb::ctl::write_file_atomically;
using tb::ctl::WriteFileError;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/tb-atomic-XXXXXX";
        const char* made = ::mkdtemp(tmpl);
        REQUIRE(made != nullptr);
        path = made;
    }
    ~TempDir() {
        const std::string cmd = "rm -rf '" + path + "'";
        [[maybe_unused]] const int rc = std::system(cmd.c_str());
    }
};

std::set<std::string> entries(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    REQUIRE(d != nullptr);
    while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") out.insert(n);
    }
    ::closedir(d);
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("atomic_file: writes the content, mode 0644 despite a strict umask, leaves no temporary file") {
    TempDir dir;
    const std::string file = dir.path + "/tbhelper.prom";
    const mode_t old_umask = ::umask(0077);
    const auto err = write_file_atomically(file, "tbhelper_up 1\n");
    ::umask(old_umask);
    REQUIRE_FALSE(err.has_value());
    CHECK(slurp(file) == "tbhelper_up 1\n");
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    CHECK(S_ISREG(st.st_mode));
    CHECK(entries(dir.path) == std::set<std::string>{"tbhelper.prom"});
}

TEST_CASE("atomic_file: replaces the file by a rename, so a reader holding the old one keeps it whole") {
    TempDir dir;
    const std::string file = dir.path + "/tbhelper.prom";
    REQUIRE_FALSE(write_file_atomically(file, "old 1\n").has_value());
    struct stat before {};
    REQUIRE(::stat(file.c_str(), &before) == 0);
    const int reader = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(reader >= 0);

    REQUIRE_FALSE(write_file_atomically(file, "new 2\nnew 3\n").has_value());
    struct stat after {};
    REQUIRE(::stat(file.c_str(), &after) == 0);
    // A new inode took the name: nobody ever wrote into the file a reader had open.
    CHECK(after.st_ino != before.st_ino);
    char buf[64] = {};
    const ssize_t n = ::read(reader, buf, sizeof buf);
    ::close(reader);
    CHECK(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) == "old 1\n");
    CHECK(slurp(file) == "new 2\nnew 3\n");
    CHECK(entries(dir.path) == std::set<std::string>{"tbhelper.prom"});
}

TEST_CASE("atomic_file: a missing directory is refused and not created") {
    TempDir dir;
    const std::string missing = dir.path + "/node-exporter";
    const auto err = write_file_atomically(missing + "/tbhelper.prom", "x\n");
    REQUIRE(err.has_value());
    CHECK(err->kind == WriteFileError::Kind::bad_path);
    CHECK(err->message == "directory '" + missing + "' does not exist (expected an existing directory; it is not created)");
    CHECK(entries(dir.path).empty());
}

TEST_CASE("atomic_file: a directory as the target, or a path ending in '/', is refused") {
    TempDir dir;
    auto err = write_file_atomically(dir.path, "x\n");
    REQUIRE(err.has_value());
    CHECK(err->kind == WriteFileError::Kind::bad_path);
    CHECK(err->message.find("is a directory; expected a file path") != std::string::npos);
    err = write_file_atomically(dir.path + "/", "x\n");
    REQUIRE(err.has_value());
    CHECK(err->kind == WriteFileError::Kind::bad_path);
    CHECK(err->message.find("names a directory; expected a file path in it") != std::string::npos);
    err = write_file_atomically("", "x\n");
    REQUIRE(err.has_value());
    CHECK(err->message == "expected a file path, got an empty one");
    // A plain file where the directory should be.
    REQUIRE_FALSE(write_file_atomically(dir.path + "/plain", "x\n").has_value());
    err = write_file_atomically(dir.path + "/plain/tbhelper.prom", "x\n");
    REQUIRE(err.has_value());
    CHECK(err->kind == WriteFileError::Kind::bad_path);
    CHECK(err->message == "'" + dir.path + "/plain' is not a directory (expected the file's directory)");
    CHECK(entries(dir.path) == std::set<std::string>{"plain"});
}

TEST_CASE("atomic_file: a directory that takes no new file gives an I/O error and keeps the old file") {
    // /proc/self is a directory in which nobody, root included, can create a file.
    const auto err = write_file_atomically("/proc/self/tbhelper.prom", "x\n");
    REQUIRE(err.has_value());
    CHECK(err->kind == WriteFileError::Kind::io);
    CHECK(err->message.rfind("cannot create a temporary file in '/proc/self': ", 0) == 0);
}
