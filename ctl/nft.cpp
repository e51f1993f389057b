#include "nft.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <nftables/libnftables.h>

#include "common.hpp"

namespace tb::ctl {

void Nft::Free::operator()(nft_ctx* c) const { nft_ctx_free(c); }

Nft::Nft(bool json_output) : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (!ctx_) throw CtlError(kExitUnreachable, "cannot create a libnftables context (out of memory?)");
    if (nft_ctx_buffer_output(ctx_.get()) != 0 || nft_ctx_buffer_error(ctx_.get()) != 0)
        throw CtlError(kExitUnreachable, "cannot set up libnftables output buffers");
    if (json_output) nft_ctx_output_set_flags(ctx_.get(), nft_ctx_output_get_flags(ctx_.get()) | NFT_CTX_OUTPUT_JSON);
}

Nft::~Nft() = default;

namespace {

// What a run left in the context's buffers.
NftResult collect(nft_ctx* ctx, bool ok) {
    NftResult r;
    r.ok = ok;
    if (const char* o = nft_ctx_get_output_buffer(ctx)) r.output = o;
    if (const char* e = nft_ctx_get_error_buffer(ctx)) r.error = e;
    if (!r.ok && r.error.empty()) r.error = "Error: libnftables failed without a message\n";
    return r;
}

}  // namespace

NftResult Nft::run(const std::string& commands) {
    return collect(ctx_.get(), nft_run_cmd_from_buffer(ctx_.get(), commands.c_str()) == 0);
}

NftResult Nft::run_as_file(const std::string& commands) {
    Fd fd(::memfd_create("tbhelper-rules", MFD_CLOEXEC));
    if (!fd) return run(commands);
    std::size_t done = 0;
    while (done < commands.size()) {
        ssize_t n = ::write(fd.get(), commands.data() + done, commands.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return run(commands);
        done += static_cast<std::size_t>(n);
    }
    const std::string path = "/dev/fd/" + std::to_string(fd.get());
    return collect(ctx_.get(), nft_run_cmd_from_filename(ctx_.get(), path.c_str()) == 0);
}

bool nft_permission_error(const std::string& error) {
    return error.find("Operation not permitted") != std::string::npos ||
           error.find("Permission denied") != std::string::npos;
}

bool nft_no_such_object(const std::string& error) {
    return error.find("No such file or directory") != std::string::npos;
}

bool nft_list_json(const std::string& what, nlohmann::json& out) {
    Nft nft(true);
    auto r = nft.run("list " + what);
    if (!r.ok) {
        if (nft_permission_error(r.error)) throw CtlError(kExitUnreachable, kPermissionMessage);
        if (nft_no_such_object(r.error)) return false;
        std::string e = r.error;
        while (!e.empty() && e.back() == '\n') e.pop_back();
        throw CtlError(kExitUnreachable, "cannot list " + what + " through libnftables: " + e);
    }
    out = nlohmann::json::parse(r.output, nullptr, false);
    if (out.is_discarded())
        throw CtlError(kExitUnreachable, "libnftables printed JSON that does not parse for: list " + what);
    return true;
}

}  // namespace tb::ctl
