#include "cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace dyndnn::cli {

Progress::Progress(std::string label, long total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void Progress::step(long n) {
  count_ += n;
  auto now = std::chrono::steady_clock::now();
  if (enabled_ && now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::done() {
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(count_) / total_ : 1.0;
  const int width = 30, filled = static_cast<int>(frac * width);
  const double eta = frac > 0 ? elapsed / frac - elapsed : 0.0;
  fmt::print(stderr, "\r{} [{:<{}}] {}/{} {:.1f}s elapsed, ~{:.1f}s left{}", label_, std::string(filled, '#'), width,
             count_, total_, elapsed, final ? 0.0 : eta, final ? "\n" : "   ");
  std::fflush(stderr);
}

}  // namespace dyndnn::cli
