#include "frame_source.hpp"
#include "dyndnn/tools/idx_dataset.hpp"

#include <random>

#ifdef ADAPTIVE_CAMERA_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#endif

namespace {

class IdxFrames : public FrameSource {
 public:
  explicit IdxFrames(const std::string& path) : path_(path), images_(dyndnn::readIdxImages(path)) {}
  dyndnn::ImageView next() override {
    const std::size_t px = static_cast<std::size_t>(images_.rows) * static_cast<std::size_t>(images_.cols);
    const auto* data = images_.pixels.data() + static_cast<std::size_t>(i_++ % images_.count) * px;
    return dyndnn::ImageView{data, images_.rows, images_.cols, 1, 0};
  }
  std::string describe() const override { return path_ + " (" + std::to_string(images_.count) + " images)"; }

 private:
  std::string path_;
  dyndnn::IdxImages images_;
  int i_ = 0;
};

class NoiseFrames : public FrameSource {
 public:
  explicit NoiseFrames(int channels) : channels_(channels), pixels_(static_cast<std::size_t>(240 * 320 * channels)) {}
  dyndnn::ImageView next() override {
    for (auto& p : pixels_) p = static_cast<std::uint8_t>(rng_() & 0xff);
    return dyndnn::ImageView{pixels_.data(), 240, 320, channels_, 0};
  }
  std::string describe() const override { return "random 320x240 frames"; }

 private:
  int channels_;
  std::vector<std::uint8_t> pixels_;
  std::minstd_rand rng_{7};
};

#ifdef ADAPTIVE_CAMERA_HAVE_OPENCV
class VideoFrames : public FrameSource {
 public:
  VideoFrames(const std::string& what, int channels) : what_(what), channels_(channels) {
    const bool camera = !what.empty() && what.find_first_not_of("0123456789") == std::string::npos;
    if (camera ? !cap_.open(std::stoi(what)) : !cap_.open(what))
      throw dyndnn::InvalidArgument("adaptive_camera: cannot open video source '" + what + "'");
  }
  dyndnn::ImageView next() override {
    if (!cap_.read(bgr_) || bgr_.empty()) {  // a file ends: loop it, like a camera that never stops
      cap_.set(cv::CAP_PROP_POS_FRAMES, 0);
      if (!cap_.read(bgr_) || bgr_.empty()) throw dyndnn::IoError("adaptive_camera: " + what_ + " gives no frames");
    }
    cv::cvtColor(bgr_, out_, channels_ == 1 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
    return dyndnn::ImageView{out_.data, out_.rows, out_.cols, out_.channels(), out_.step[0]};
  }
  std::string describe() const override { return "video " + what_; }

 private:
  std::string what_;
  int channels_;
  cv::VideoCapture cap_;
  cv::Mat bgr_, out_;
};
#endif

}  // namespace

std::unique_ptr<FrameSource> openFrameSource(const std::string& video, const std::string& data_dir, int channels) {
  if (!video.empty()) {
#ifdef ADAPTIVE_CAMERA_HAVE_OPENCV
    return std::make_unique<VideoFrames>(video, channels);
#else
    throw dyndnn::InvalidArgument("adaptive_camera: --video needs OpenCV; install libopencv-dev and rebuild, or "
                                  "leave --video out to use the model's test images");
#endif
  }
  if (channels == 1) return std::make_unique<IdxFrames>(data_dir + "/t10k-images-idx3-ubyte.gz");
  return std::make_unique<NoiseFrames>(channels);
}
