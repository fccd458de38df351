#pragma once
/// \file idx_dataset.hpp
/// Reading the IDX format of MNIST / Fashion-MNIST (big-endian magic 2051 for images, 2049 for labels, then the
/// dimensions, then unsigned bytes), from gzip or plain files: the test frames of the shipped Fashion-MNIST model
/// (Debian's dataset-fashion-mnist installs them under /usr/share/datasets/fashion-mnist).

#include <cstdint>
#include <string>
#include <vector>

namespace dyndnn {

struct IdxImages {
  int count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  ///< count x rows x cols, row-major
};

/// Throws dyndnn::IoError (cannot read) or dyndnn::InvalidArgument (not an IDX file of the expected kind).
IdxImages readIdxImages(const std::string& path);
std::vector<std::uint8_t> readIdxLabels(const std::string& path);

}  // namespace dyndnn
