#pragma once
/// \file image_file.hpp
/// Reading image files: PNG, JPEG, BMP, TGA and binary PGM/PPM, 8-bit, through stb_image (Debian's libstb-dev,
/// compiled into the library), to the HWC bytes with the model's channel count that the library's image path
/// takes (`dyndnn infer --image`, the image folders `dyndnn search` reads).

#include <cstdint>
#include <string>
#include <vector>

namespace dyndnn {

struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  ///< HWC
};

/// Decodes to `channels` (1 to 4) channels whatever the file stores, as stb_image converts: colour to grey by
/// luminance, grey replicated to colour, alpha dropped (or opaque when asked for). Throws dyndnn::IoError (cannot
/// read) or InvalidArgument (not a supported image, 16-bit, bad `channels`) with the path and the reason.
Image readImage(const std::string& path, int channels);

}  // namespace dyndnn
