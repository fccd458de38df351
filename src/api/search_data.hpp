#pragma once
// The images of a search: calibration images (BN recalibration of every candidate), screening images (the cheap
// first top-1) and evaluation images (the full top-1 near the front), drawn with the seed as torch.randperm draws
// them (the Python tools' subsets). Calibration and screening images, used by every candidate, are decoded once
// and kept as bytes; evaluation images (ImageNet's 50,000) are decoded batch by batch. All are prepared at each
// candidate's resolution with the package's own preprocessing.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <string>
#include <vector>

#include "dyndnn/search.hpp"
#include "dyndnn/tools/image_dataset.hpp"
#include "dyndnn/types.hpp"
#include "engine/calibrate.hpp"
#include "engine/execution_plan.hpp"
#include "engine/graph.hpp"

namespace dyndnn::search {

class SearchData {
 public:
  /// Opens the folders and draws the subsets; throws InvalidArgument when the data does not fit the model
  /// (more classes than its outputs, too few images), naming the folder.
  SearchData(const SearchOptions& options, const InputSpec& input, int num_classes);

  /// The graph's BN statistics on the first `images` calibration images (0: all) at its resolution.
  engine::BatchNormStats calibrate(const engine::Graph& graph, int resolution, std::size_t images = 0) const;
  /// Top-1 (%) of `plan` on the screening images, or on the evaluation images when `full`.
  double accuracy(const engine::ExecutionPlan& plan, int resolution, bool full) const;

  std::size_t calibrationCount() const { return calibration_.size(); }
  std::size_t screenCount() const { return screen_.size(); }
  std::size_t evaluationCount() const { return evaluation_.size(); }
  /// Where each set comes from, for the report and the package's metadata.
  std::string describe() const;

 private:
  struct Sample {
    Image image;
    int label = 0;
  };
  std::vector<Sample> load(const ImageDataset& d, const std::vector<std::int64_t>& indices) const;
  at::Tensor batch(const std::vector<Sample>& set, std::size_t from, std::size_t to, int resolution) const;
  // Batch k of the calibration (which == 0) or screening (1) images at `resolution`, prepared once while the
  // prepared images fit kPreparedBytes (Fashion-MNIST's: 8 MB per resolution), else every time.
  at::Tensor cachedBatch(int which, std::size_t k, std::size_t from, std::size_t to, int resolution) const;

  InputSpec input_;
  std::string calibration_source_, evaluation_source_;
  std::vector<Sample> calibration_, screen_;
  ImageDataset eval_;
  std::vector<std::int64_t> evaluation_;  // indices into eval_
  mutable std::map<std::tuple<int, int, std::size_t>, at::Tensor> prepared_;  // (which, resolution, batch)
  mutable std::size_t prepared_bytes_ = 0;
};

}  // namespace dyndnn::search
