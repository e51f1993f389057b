#include "frames.hpp"

#include <fmt/format.h>

#include "timbuktu/event_text.hpp"

namespace tbsim {

namespace timbuktu = tb::timbuktu;

bool FrameReader::frame_buffered() const {
    if (buf_.size() < timbuktu::kHeaderSize) return false;
    auto h = timbuktu::decode_header(buf_);
    if (timbuktu::parsed_error(h)) return true;  // next() reports it at once
    return buf_.size() >= timbuktu::kHeaderSize + std::get<timbuktu::FrameHeader>(h).length;
}

std::vector<std::uint8_t> FrameReader::take_rest() {
    std::vector<std::uint8_t> out;
    out.swap(buf_);
    return out;
}

FrameReader::Result FrameReader::next(int fd, const Deadline& deadline, int stop_fd) {
    Result r;
    for (;;) {
        if (buf_.size() >= timbuktu::kHeaderSize) {
            auto h = timbuktu::decode_header(buf_);
            if (auto* err = timbuktu::parsed_error(h)) {
                r.status = Status::malformed;
                r.reason = timbuktu::wire_error_text(*err);
                return r;
            }
            const auto& hdr = std::get<timbuktu::FrameHeader>(h);
            const std::size_t total = timbuktu::kHeaderSize + hdr.length;
            if (buf_.size() >= total) {
                r.status = Status::frame;
                r.header = hdr;
                r.body.assign(buf_.begin() + timbuktu::kHeaderSize, buf_.begin() + static_cast<std::ptrdiff_t>(total));
                buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(total));
                return r;
            }
        }
        std::uint8_t chunk[16384];
        auto io = read_some(fd, chunk, deadline, stop_fd);
        switch (io.status) {
            case IoStatus::ok: buf_.insert(buf_.end(), chunk, chunk + io.bytes); continue;
            case IoStatus::timeout: r.status = Status::timeout; return r;
            case IoStatus::stopped: r.status = Status::stopped; return r;
            case IoStatus::error:
                r.status = Status::error;
                r.reason = io_text(io);
                return r;
            case IoStatus::closed:
                if (buf_.empty()) {
                    r.status = Status::closed;
                } else {
                    r.status = Status::malformed;
                    std::size_t want = timbuktu::kHeaderSize;
                    if (buf_.size() >= timbuktu::kHeaderSize) {
                        auto h = timbuktu::decode_header(buf_);
                        if (auto* hv = timbuktu::parsed_value(h)) want += hv->length;
                    }
                    r.reason = fmt::format("connection closed inside a frame ({} of {} bytes received)", buf_.size(),
                                           want);
                }
                return r;
        }
    }
}

}  // namespace tbsim
