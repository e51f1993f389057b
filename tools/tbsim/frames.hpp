// tbsim: frames over a TCP byte stream (B1, docs/protocol-model.md#b1), decoded with the project's
// codec (protocol/wire.hpp). Bytes that follow the last frame stay buffered so
// that unframed service data after a HELLO-ACK is not lost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "timbuktu/wire.hpp"
#include "sock.hpp"

namespace tbsim {

// Spec A11/B3: the public exploit's first frame has a 176-byte HELLO body
// whose bytes 160-163 repeat the guest's IPv4 address (--long-hello).
inline constexpr std::size_t kLongHelloBody = 176;
inline constexpr std::size_t kSecondAddressOffset = 160;
inline constexpr std::size_t kSecondAddressMinBody = kSecondAddressOffset + 4;

class FrameReader {
public:
    enum class Status { frame, timeout, closed, error, malformed, stopped };
    struct Result {
        Status status = Status::timeout;
        tb::timbuktu::FrameHeader header;
        std::vector<std::uint8_t> body;
        std::string reason;  // for malformed / error / closed-inside-a-frame
    };

    // The next whole frame, or why there is none before the deadline.
    Result next(int fd, const Deadline& deadline, int stop_fd = -1);
    // True when a whole frame is already buffered.
    bool frame_buffered() const;
    // Bytes buffered after the frames taken so far (service data).
    std::vector<std::uint8_t> take_rest();

private:
    std::vector<std::uint8_t> buf_;
};

}  // namespace tbsim
