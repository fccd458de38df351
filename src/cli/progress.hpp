#pragma once
// A one-line progress bar on stderr for long CLI work (only when stderr is a terminal or forced).

#include <chrono>
#include <string>

namespace dyndnn::cli {

class Progress {
 public:
  Progress(std::string label, long total, bool enabled);
  void step(long n = 1);
  void done();

 private:
  void draw(bool final);
  std::string label_;
  long total_, count_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dyndnn::cli
