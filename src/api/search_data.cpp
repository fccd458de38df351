#include "api/search_data.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>

#include "dyndnn/error.hpp"
#include "engine/preprocess.hpp"

namespace dyndnn::search {
namespace {

constexpr std::size_t kBatch = 250;  // images per calibration / evaluation batch
constexpr std::size_t kPreparedBytes = std::size_t{512} << 20;

std::vector<std::int64_t> permutation(std::size_t n, std::uint32_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto p = at::randperm(static_cast<std::int64_t>(n), gen, at::kLong);
  return {p.data_ptr<std::int64_t>(), p.data_ptr<std::int64_t>() + n};
}

std::vector<std::int64_t> slice(const std::vector<std::int64_t>& v, std::size_t from, std::size_t count) {
  from = std::min(from, v.size());
  return {v.begin() + static_cast<std::ptrdiff_t>(from),
          v.begin() + static_cast<std::ptrdiff_t>(std::min(v.size(), from + count))};
}

void checkClasses(const ImageDataset& d, int num_classes) {
  // An image folder's labels are its sorted class folders' indices: one folder missing shifts every label after
  // it, so the folder must hold exactly the model's classes. IDX labels are explicit.
  const int n = static_cast<int>(d.classes().size());
  if (d.isIdx() ? n > num_classes : n != num_classes)
    throw InvalidArgument(fmt::format("{}: {} class folders but the model has {} outputs; labels are the indices "
                                      "of the sorted class folders, so the folder needs one per class the model "
                                      "was trained on, in the training order",
                                      d.dir(), n, num_classes));
}

}  // namespace

SearchData::SearchData(const SearchOptions& o, const InputSpec& input, int num_classes) : input_(input) {
  if (o.calibration_images < 2) throw InvalidArgument("--calibration-images: at least 2 (batch statistics)");
  if (o.screen_calibration_images < 2) throw InvalidArgument("--screen-calibration-images: at least 2 (batch statistics)");
  if (o.screen_images < 1) throw InvalidArgument("--screen-images: at least 1");
  eval_ = ImageDataset::open(o.data, "t10k");
  const auto& eval = eval_;
  checkClasses(eval, num_classes);
  auto order = permutation(eval.size(), o.seed);
  std::size_t held_out = 0;  // evaluation images given to calibration
  if (!o.calibration_data.empty() || ImageDataset::hasIdxSplit(o.data, "train")) {
    const auto dir = o.calibration_data.empty() ? o.data : o.calibration_data;
    const auto calib = ImageDataset::open(dir, ImageDataset::hasIdxSplit(dir, "train") ? "train" : "t10k");
    checkClasses(calib, num_classes);
    calibration_ = load(calib, slice(permutation(calib.size(), o.seed), 0, static_cast<std::size_t>(o.calibration_images)));
    calibration_source_ = fmt::format("{} images of {}", calibration_.size(), calib.isIdx() ? calib.where(0).substr(0, calib.where(0).find('[')) : dir);
  } else {
    // One folder for both: calibration takes the first images of the permutation, at most half of them.
    held_out = std::min(static_cast<std::size_t>(o.calibration_images), eval.size() / 2);
    if (held_out < 2)
      throw InvalidArgument(fmt::format("{}: {} images; a search needs at least 4 (half of them calibrate BN) or "
                                        "--calibration-data",
                                        o.data, eval.size()));
    calibration_ = load(eval, slice(order, 0, held_out));
    calibration_source_ = fmt::format("{} images drawn from {} (kept out of its evaluation)", held_out, o.data);
  }
  const auto rest = slice(order, held_out, order.size());
  screen_ = load(eval, slice(rest, 0, static_cast<std::size_t>(o.screen_images)));
  const std::size_t full = o.evaluation_images > 0 ? static_cast<std::size_t>(o.evaluation_images) : rest.size();
  evaluation_ = slice(rest, 0, full);
  evaluation_source_ = eval.isIdx() ? eval.where(0).substr(0, eval.where(0).find('[')) : o.data;
}

std::vector<SearchData::Sample> SearchData::load(const ImageDataset& d, const std::vector<std::int64_t>& indices) const {
  std::vector<Sample> out;
  out.reserve(indices.size());
  for (auto i : indices) out.push_back({d.image(static_cast<std::size_t>(i), input_.channels), d.label(static_cast<std::size_t>(i))});
  return out;
}

at::Tensor SearchData::batch(const std::vector<Sample>& set, std::size_t from, std::size_t to, int resolution) const {
  std::vector<at::Tensor> images;
  for (std::size_t i = from; i < to; ++i) {
    const auto& img = set[i].image;
    images.push_back(engine::prepareImage(ImageView{img.pixels.data(), img.height, img.width, img.channels, 0},
                                          input_, resolution));
  }
  return at::cat(images);
}

at::Tensor SearchData::cachedBatch(int which, std::size_t k, std::size_t from, std::size_t to, int resolution) const {
  const auto key = std::make_tuple(which, resolution, k);
  auto it = prepared_.find(key);
  if (it != prepared_.end()) return it->second;
  auto b = batch(which == 0 ? calibration_ : screen_, from, to, resolution);
  const std::size_t bytes = static_cast<std::size_t>(b.numel()) * sizeof(float);
  if (prepared_bytes_ + bytes <= kPreparedBytes) {
    prepared_bytes_ += bytes;
    prepared_.emplace(key, b);
  }
  return b;
}

engine::BatchNormStats SearchData::calibrate(const engine::Graph& graph, int resolution, std::size_t images) const {
  // Equal batches of at most kBatch (a remainder of one image would have no batch variance).
  const std::size_t n = images > 0 ? std::min(images, calibration_.size()) : calibration_.size();
  const std::size_t batches = (n + kBatch - 1) / kBatch;
  std::size_t next = 0, k = 0;
  return engine::recalibrateBatchNorm(graph, [&]() -> at::Tensor {
    if (k == batches) return {};
    const std::size_t end = n * (k + 1) / batches;
    auto b = n == calibration_.size() ? cachedBatch(0, k, next, end, resolution) : batch(calibration_, next, end, resolution);
    next = end;
    ++k;
    return b;
  });
}

double SearchData::accuracy(const engine::ExecutionPlan& plan, int resolution, bool full) const {
  const std::size_t n = full ? evaluation_.size() : screen_.size();
  std::int64_t correct = 0;
  for (std::size_t from = 0; from < n; from += kBatch) {
    const std::size_t to = std::min(n, from + kBatch);
    std::vector<Sample> decoded;
    if (full) decoded = load(eval_, slice(evaluation_, from, to - from));
    const auto& set = full ? decoded : screen_;
    const std::size_t offset = full ? from : 0;
    const auto input = full ? batch(set, 0, to - from, resolution) : cachedBatch(1, from / kBatch, from, to, resolution);
    const auto predicted = plan.run(input).argmax(1).contiguous();
    const auto* p = predicted.data_ptr<std::int64_t>();
    for (std::size_t i = from; i < to; ++i) correct += p[i - from] == set[i - offset].label;
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(n);
}

std::string SearchData::describe() const {
  return fmt::format("calibration: {}; screening: {} and evaluation: {} images of {}", calibration_source_,
                     screen_.size(), evaluation_.size(), evaluation_source_);
}

}  // namespace dyndnn::search
