#include "servicedata.hpp"

#include <fmt/format.h>

#include "net/address.hpp"
#include "timbuktu/services.hpp"

namespace tbsim {

namespace {
constexpr std::uint8_t kOpStart = 0xFF;
constexpr std::uint8_t kOpFileHeader = 0xFB;
constexpr std::uint8_t kOpData = 0xF8;
constexpr std::uint8_t kOpEnd = 0xFE;
constexpr std::uint8_t kOpF9 = 0xF9, kOpF7 = 0xF7, kOpFA = 0xFA;  // no payload in this model
const char* const kFileName = "tbsim.txt";
const char* const kFileText = "Sent by the tbsim host over a Timbuktu send-files stream.\n";
}  // namespace

std::vector<std::uint8_t> make_service_data(std::uint8_t service) {
    std::vector<std::uint8_t> out;
    if (service == tb::timbuktu::kServiceSendFiles) {
        out.push_back(kOpStart);
        out.push_back(kOpFileHeader);
        for (char c : std::string("TEXTttxt")) out.push_back(static_cast<std::uint8_t>(c));
        std::uint8_t dates[8];
        tb::store_be32(dates, 0xB5A1C000);  // creation (Mac epoch seconds)
        tb::store_be32(dates + 4, 0xB5A1C100);  // modification
        out.insert(out.end(), dates, dates + 8);
        const std::string name = kFileName;
        out.push_back(static_cast<std::uint8_t>(name.size()));
        out.insert(out.end(), name.begin(), name.end());
        const std::string text = kFileText;
        out.push_back(kOpData);
        std::uint8_t len[2];
        tb::store_be16(len, static_cast<std::uint16_t>(text.size()));
        out.insert(out.end(), len, len + 2);
        out.insert(out.end(), text.begin(), text.end());
        out.push_back(kOpEnd);
        return out;
    }
    std::string block = fmt::format("TBSIM {} SERVICE DATA ", tb::timbuktu::service_name(service));
    block.resize(kPlainServiceDataSize, '.');
    out.assign(block.begin(), block.end());
    return out;
}

ServiceDataCheck check_service_data(std::uint8_t service, std::span<const std::uint8_t> b) {
    ServiceDataCheck r;
    using S = ServiceDataCheck::State;
    if (service != tb::timbuktu::kServiceSendFiles) {
        if (b.size() < kPlainServiceDataSize) return r;
        const std::string prefix = "TBSIM ";
        if (!std::equal(prefix.begin(), prefix.end(), b.begin())) {
            r.state = S::invalid;
            r.description = "service data does not start with \"TBSIM \"";
            return r;
        }
        r.state = S::complete;
        r.consumed = kPlainServiceDataSize;
        r.description = fmt::format("{} bytes of {} data", kPlainServiceDataSize, tb::timbuktu::service_name(service));
        return r;
    }
    // Send files: walk the A8 opcodes until 0xFE.
    std::size_t pos = 0, blocks = 0, data_bytes = 0;
    std::string file;
    while (pos < b.size()) {
        const std::uint8_t op = b[pos];
        if (op == kOpStart || op == kOpF9 || op == kOpF7 || op == kOpFA) {
            ++pos;
        } else if (op == kOpFileHeader) {
            // type(4) creator(4) dates(8) Pascal name
            if (b.size() < pos + 1 + 16 + 1) return r;
            const std::size_t name_len = b[pos + 17];
            if (b.size() < pos + 18 + name_len) return r;
            file = fmt::format("\"{}\" {}/{}", std::string(b.begin() + static_cast<std::ptrdiff_t>(pos) + 18,
                                                           b.begin() + static_cast<std::ptrdiff_t>(pos + 18 + name_len)),
                               std::string(b.begin() + static_cast<std::ptrdiff_t>(pos) + 1,
                                           b.begin() + static_cast<std::ptrdiff_t>(pos) + 5),
                               std::string(b.begin() + static_cast<std::ptrdiff_t>(pos) + 5,
                                           b.begin() + static_cast<std::ptrdiff_t>(pos) + 9));
            pos += 18 + name_len;
        } else if (op == kOpData) {
            if (b.size() < pos + 3) return r;
            const std::size_t len = tb::load_be16(b.data() + pos + 1);
            if (b.size() < pos + 3 + len) return r;
            ++blocks;
            data_bytes += len;
            pos += 3 + len;
        } else if (op == kOpEnd) {
            r.state = S::complete;
            r.consumed = pos + 1;
            r.description = fmt::format("send files: file {}, {} data block(s), {} bytes, end",
                                        file.empty() ? "(none)" : file, blocks, data_bytes);
            return r;
        } else {
            r.state = S::invalid;
            r.description = fmt::format("unknown send-files opcode 0x{:02x} at offset {}", op, pos);
            return r;
        }
    }
    return r;
}

}  // namespace tbsim
