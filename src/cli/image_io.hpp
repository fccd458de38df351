#pragma once
// Reading images for the CLI without extra dependencies: binary PGM (P5) and PPM (P6), 8-bit.

#include <cstdint>
#include <string>
#include <vector>

namespace dyndnn::cli {

struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  // HWC
};

/// Throws dyndnn::InvalidArgument / IoError with the path and the reason.
Image readNetpbm(const std::string& path);

}  // namespace dyndnn::cli
