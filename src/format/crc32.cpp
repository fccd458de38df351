#include "format/crc32.hpp"

#include <zlib.h>

namespace dyndnn::format {

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  // zlib's own (already linked for the package reader): the same value as Python's zlib.crc32, and its
  // braided tables check a 30 MB package in a few milliseconds.
  return static_cast<std::uint32_t>(::crc32_z(crc, static_cast<const Bytef*>(data), static_cast<z_size_t>(size)));
}

}  // namespace dyndnn::format
