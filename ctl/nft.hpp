// libnftables, one context per use, output and errors captured.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

struct nft_ctx;

namespace tb::ctl {

struct NftResult {
    bool ok = false;
    std::string output;  // what nft would print on stdout
    std::string error;   // what nft would print on stderr, verbatim
};

class Nft {
public:
    explicit Nft(bool json_output = false);
    ~Nft();
    Nft(const Nft&) = delete;
    Nft& operator=(const Nft&) = delete;

    // Runs one buffer (one transaction for a batch of commands).
    NftResult run(const std::string& commands);
    // Same, but through an anonymous file (memfd, named /dev/fd/N in errors):
    // libnftables 1.0.6 points every kernel error of a buffer at its first
    // line, while for a file it shows the offending line.
    NftResult run_as_file(const std::string& commands);

private:
    struct Free {
        void operator()(nft_ctx* c) const;
    };
    std::unique_ptr<nft_ctx, Free> ctx_;
};

// True when libnftables' error text says the kernel refused for lack of privilege.
bool nft_permission_error(const std::string& error);
// True when the error says a table/object does not exist.
bool nft_no_such_object(const std::string& error);

// `list table inet tbhelper` / `list ruleset` as parsed JSON; nullopt-like:
// returns false when the table is absent. Throws CtlError(3) on other failures.
bool nft_list_json(const std::string& what, nlohmann::json& out);

}  // namespace tb::ctl
