#pragma once
/// \file image_dataset.hpp
/// A labelled image dataset as `dyndnn search` reads it: an image folder in torchvision's ImageFolder layout
/// (DIR/<class>/<image>; ImageNet's validation set is usually arranged so) or an IDX folder (the MNIST /
/// Fashion-MNIST files the shipped models use).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dyndnn/tools/idx_dataset.hpp"
#include "dyndnn/tools/image_file.hpp"

namespace dyndnn {

class ImageDataset {
 public:
  /// An IDX folder when it holds `<split>-images-idx3-ubyte[.gz]` (split "t10k" or "train") with its labels file,
  /// else an image folder: one sub-folder per class, labels the index of its name in sorted order (as
  /// torchvision's ImageFolder), images by extension (.jpg .jpeg .png .bmp .tga .pgm .ppm, any case; other files
  /// are skipped). Images are decoded when asked for. Throws IoError (not a folder, unreadable) or
  /// InvalidArgument (no class folder, a class folder without images, images and labels of different counts),
  /// naming the folder and what to do.
  static ImageDataset open(const std::string& dir, const std::string& idx_split = "t10k");
  /// Whether `dir` holds that IDX split (images and labels).
  static bool hasIdxSplit(const std::string& dir, const std::string& split);

  std::size_t size() const { return labels_.size(); }
  int label(std::size_t i) const { return labels_.at(i); }
  /// Class names: the ImageFolder's sub-folders, or "0".."9" for IDX labels.
  const std::vector<std::string>& classes() const { return classes_; }
  /// Image `i` decoded to `channels` channels (grey IDX images are replicated to colour, as image files are).
  /// Throws InvalidArgument naming the file of an image that does not decode.
  Image image(std::size_t i, int channels) const;
  /// The file of image `i` (IDX: "FILE[#i]"), for messages.
  std::string where(std::size_t i) const;
  const std::string& dir() const { return dir_; }
  bool isIdx() const { return !idx_path_.empty(); }

 private:
  std::string dir_, idx_path_;
  std::vector<std::string> classes_, files_;
  std::vector<int> labels_;
  IdxImages idx_;
};

}  // namespace dyndnn
