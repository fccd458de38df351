#include "dyndnn/tools/image_dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "dyndnn/error.hpp"

namespace fs = std::filesystem;

namespace dyndnn {
namespace {

std::string idxFile(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    auto p = fs::path(dir) / (stem + suffix);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

bool isImageFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".tga", ".pgm", ".ppm"})
    if (ext == e) return true;
  return false;
}

}  // namespace

bool ImageDataset::hasIdxSplit(const std::string& dir, const std::string& split) {
  return !idxFile(dir, split + "-images-idx3-ubyte").empty() && !idxFile(dir, split + "-labels-idx1-ubyte").empty();
}

ImageDataset ImageDataset::open(const std::string& dir, const std::string& idx_split) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IoError(fmt::format("{}: not a folder (give an image folder DIR/<class>/<image> or an IDX folder)", dir));
  ImageDataset d;
  d.dir_ = dir;
  if (hasIdxSplit(dir, idx_split)) {
    d.idx_path_ = idxFile(dir, idx_split + "-images-idx3-ubyte");
    d.idx_ = readIdxImages(d.idx_path_);
    const auto labels = readIdxLabels(idxFile(dir, idx_split + "-labels-idx1-ubyte"));
    if (labels.size() != static_cast<std::size_t>(d.idx_.count))
      throw InvalidArgument(fmt::format("{}: {} images but {} labels in the '{}' IDX files", dir, d.idx_.count,
                                        labels.size(), idx_split));
    int top = 0;
    for (auto l : labels) {
      d.labels_.push_back(l);
      top = std::max(top, static_cast<int>(l));
    }
    for (int c = 0; c <= top; ++c) d.classes_.push_back(std::to_string(c));
    return d;
  }
  std::vector<fs::path> class_dirs;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) class_dirs.push_back(e.path());
  if (ec) throw IoError(fmt::format("{}: cannot list: {}", dir, ec.message()));
  if (class_dirs.empty())
    throw InvalidArgument(fmt::format("{}: no class folders and no {}-images-idx3-ubyte[.gz]; an image folder holds "
                                      "one sub-folder of images per class (DIR/<class>/<image>.jpg)",
                                      dir, idx_split));
  std::sort(class_dirs.begin(), class_dirs.end());
  for (const auto& c : class_dirs) {
    std::vector<fs::path> images;
    for (const auto& e : fs::recursive_directory_iterator(c, ec))
      if (e.is_regular_file() && isImageFile(e.path())) images.push_back(e.path());
    if (ec) throw IoError(fmt::format("{}: cannot list: {}", c.string(), ec.message()));
    if (images.empty())
      throw InvalidArgument(fmt::format("{}: class folder without images (.jpg .jpeg .png .bmp .tga .pgm .ppm); "
                                        "remove it or add its images, since labels are the sorted folder indices",
                                        c.string()));
    std::sort(images.begin(), images.end());
    for (const auto& p : images) {
      d.files_.push_back(p.string());
      d.labels_.push_back(static_cast<int>(d.classes_.size()));
    }
    d.classes_.push_back(c.filename().string());
  }
  return d;
}

Image ImageDataset::image(std::size_t i, int channels) const {
  if (i >= size()) throw InvalidArgument(fmt::format("{}: image {} of {}", dir_, i, size()));
  if (!isIdx()) return readImage(files_[i], channels);
  if (channels < 1 || channels > 4)
    throw InvalidArgument(fmt::format("{}: cannot give an image {} channels (1 to 4)", where(i), channels));
  Image img;
  img.height = idx_.rows;
  img.width = idx_.cols;
  img.channels = channels;
  const std::size_t pixels = static_cast<std::size_t>(idx_.rows) * idx_.cols;
  const auto* grey = idx_.pixels.data() + i * pixels;
  img.pixels.resize(pixels * channels);
  for (std::size_t p = 0; p < pixels; ++p)
    for (int c = 0; c < channels; ++c) img.pixels[p * channels + c] = (c == 3) ? 255 : grey[p];
  return img;
}

std::string ImageDataset::where(std::size_t i) const {
  return isIdx() ? fmt::format("{}[#{}]", idx_path_, i) : files_.at(i);
}

}  // namespace dyndnn
