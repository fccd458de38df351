#pragma once
// CRC-32 with zlib's polynomial and conventions, so Python's zlib.crc32 computes the same value.

#include <cstddef>
#include <cstdint>

namespace dyndnn::format {

/// Continue a CRC-32 over `size` bytes (start with crc = 0).
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace dyndnn::format
