#include "cli/image_io.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::cli {
namespace {

int readHeaderInt(std::istream& in, const std::string& path, const char* what) {
  in >> std::ws;
  while (in.peek() == '#') {  // comment lines
    std::string line;
    std::getline(in, line);
    in >> std::ws;
  }
  long v = -1;
  if (!(in >> v) || v < 1 || v > 65535)
    throw InvalidArgument(fmt::format("{}: bad {} in the PGM/PPM header", path, what));
  return static_cast<int>(v);
}

}  // namespace

Image readNetpbm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  char magic[2] = {0, 0};
  in.read(magic, 2);
  Image img;
  if (magic[0] == 'P' && magic[1] == '5') {
    img.channels = 1;
  } else if (magic[0] == 'P' && magic[1] == '6') {
    img.channels = 3;
  } else {
    throw InvalidArgument(fmt::format("{}: not a binary PGM (P5) or PPM (P6) image; convert it, e.g. with "
                                      "`convert in.jpg out.ppm`",
                                      path));
  }
  img.width = readHeaderInt(in, path, "width");
  img.height = readHeaderInt(in, path, "height");
  if (readHeaderInt(in, path, "maximum value") != 255)
    throw InvalidArgument(fmt::format("{}: only 8-bit images (maximum value 255) are supported", path));
  in.get();  // the single whitespace byte before the pixels
  img.pixels.resize(static_cast<std::size_t>(img.width) * img.height * img.channels);
  in.read(reinterpret_cast<char*>(img.pixels.data()), static_cast<std::streamsize>(img.pixels.size()));
  if (in.gcount() != static_cast<std::streamsize>(img.pixels.size()))
    throw InvalidArgument(fmt::format("{}: truncated: {} of {} pixel bytes", path, in.gcount(), img.pixels.size()));
  return img;
}

}  // namespace dyndnn::cli
