// LEB128 varints: 7 bits per byte, high bit set on every byte but the last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace retrieval {

inline std::size_t varint_size(std::uint32_t v) {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline void put_varint(std::uint8_t*& out, std::uint32_t v) {
    while (v >= 0x80) {
        *out++ = static_cast<std::uint8_t>(v | 0x80);
        v >>= 7;
    }
    *out++ = static_cast<std::uint8_t>(v);
}

constexpr std::ptrdiff_t kMaxVarintBytes = 5;  // a uint32 takes at most 5 bytes

// Reads one varint when at least kMaxVarintBytes bytes are readable. A fifth byte's high bits are
// dropped (a corrupt value is still a uint32; callers check what it means).
inline std::uint32_t get_varint_unchecked(const std::uint8_t*& p) {
    std::uint32_t byte = *p++;
    std::uint32_t v = byte & 0x7F;
    if (byte < 0x80) return v;
    byte = *p++;
    v |= (byte & 0x7F) << 7;
    if (byte < 0x80) return v;
    byte = *p++;
    v |= (byte & 0x7F) << 14;
    if (byte < 0x80) return v;
    byte = *p++;
    v |= (byte & 0x7F) << 21;
    if (byte < 0x80) return v;
    byte = *p++;
    v |= byte << 28;  // the fifth byte always ends the varint here
    return v;
}

// Reads one varint from [p, end). Returns false (and leaves `p` unspecified) when the bytes run
// out or the value does not fit 32 bits: postings can come from a memory-mapped file, so a
// corrupt byte must never make us read past the block.
inline bool get_varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint32_t& value) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (p == end) return false;
        const std::uint8_t byte = *p++;
        v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
        if ((byte & 0x80) == 0) {
            if (v > 0xFFFFFFFFull) return false;
            value = static_cast<std::uint32_t>(v);
            return true;
        }
    }
    return false;
}

}  // namespace retrieval
