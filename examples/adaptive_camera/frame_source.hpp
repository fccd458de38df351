#pragma once
// Where the adaptive camera example gets its frames: a camera or video file through OpenCV when the example was
// built with it, otherwise the shipped Fashion-MNIST model's test images (or noise for other models).

#include <dyndnn/dyndnn.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  /// The next frame (valid until the next call).
  virtual dyndnn::ImageView next() = 0;
  virtual std::string describe() const = 0;
};

/// `video`: a file path or a camera index ("0"); empty: test images from `data_dir` when the model takes 1-channel
/// input, else noise. Throws dyndnn::InvalidArgument when a video was asked for and OpenCV is missing or fails.
std::unique_ptr<FrameSource> openFrameSource(const std::string& video, const std::string& data_dir, int channels);
