#include "dyndnn/tools/image_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

// stb_image is a single header; this file is its one implementation unit. Only the formats a camera or a dataset
// tool writes; 16k pixels a side is far above any frame and keeps a hostile header from asking for gigabytes.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_MAX_DIMENSIONS (1 << 14)
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace dyndnn {

Image readImage(const std::string& path, int channels) {
  if (channels < 1 || channels > 4)
    throw InvalidArgument(fmt::format("{}: cannot decode an image to {} channels (1 to 4)", path, channels));
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw IoError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  int width = 0, height = 0, stored = 0;
  if (!stbi_info_from_file(file.get(), &width, &height, &stored))
    throw InvalidArgument(fmt::format("{}: not a PNG, JPEG, BMP, TGA or binary PGM/PPM image ({}); convert it, "
                                      "e.g. with `convert in.webp out.png`",
                                      path, stbi_failure_reason()));
  if (stbi_is_16_bit_from_file(file.get()))
    throw InvalidArgument(fmt::format("{}: a 16-bit image; only 8-bit images are supported", path));
  std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load_from_file(file.get(), &width, &height, &stored, channels),
                                                 &stbi_image_free);
  if (!data) throw InvalidArgument(fmt::format("{}: cannot decode the image: {}", path, stbi_failure_reason()));
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.assign(data.get(), data.get() + static_cast<std::size_t>(width) * height * channels);
  return img;
}

}  // namespace dyndnn
