#include <cmath>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn::runtime {
namespace {
void positive(const std::optional<double>& v, const char* field, const char* what_to_do) {
  if (!v) return;
  if (!std::isfinite(*v) || *v <= 0)
    throw InvalidArgument(fmt::format("target: {} = {} is not a positive finite number; {}", field, *v, what_to_do));
}
}  // namespace

void Target::validate() const {
  positive(latency_ms, "latency_ms", "give the per-frame budget in milliseconds, e.g. 33.3");
  positive(fps, "fps", "give a frame rate above zero, e.g. 30");
  positive(power_w, "power_w", "give the power cap in watts, e.g. 5");
  if (latency_ms && fps)
    throw InvalidArgument(fmt::format("target: both latency_ms ({}) and fps ({}) are set; give only one", *latency_ms, *fps));
  if (min_accuracy && (!std::isfinite(*min_accuracy) || *min_accuracy < 0 || *min_accuracy > 100))
    throw InvalidArgument(fmt::format("target: min_accuracy = {} is outside 0..100 (top-1 percent)", *min_accuracy));
  if (!std::isfinite(confidence) || confidence < 0.5 || confidence > 0.9999)
    throw InvalidArgument(fmt::format("target: confidence = {} is outside 0.5..0.9999", confidence));
}

std::optional<double> Target::budgetMs() const {
  if (latency_ms) return latency_ms;
  if (fps) return 1000.0 / *fps;
  return std::nullopt;
}

std::string Target::describe() const {
  std::string s;
  if (latency_ms) s += fmt::format("latency<={:.3g}ms ", *latency_ms);
  if (fps) s += fmt::format("fps={:.3g} ", *fps);
  if (min_accuracy) s += fmt::format("acc>={:.3g}% ", *min_accuracy);
  if (power_w) s += fmt::format("power<={:.3g}W ", *power_w);
  s += objective == Objective::MostAccuracy ? "most-accuracy" : "least-energy";
  s += fmt::format(" @p{:.3g}", confidence * 100);
  return s;
}

std::string unmetToString(unsigned unmet) {
  if (unmet == kUnmetNone) return "none";
  std::string s;
  if (unmet & kUnmetLatency) s += "latency,";
  if (unmet & kUnmetAccuracy) s += "accuracy,";
  if (unmet & kUnmetPower) s += "power,";
  s.pop_back();
  return s;
}

}  // namespace dyndnn::runtime
