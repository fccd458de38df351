#pragma once
/// \file version.hpp

namespace dyndnn {
/// Library version as "major.minor.patch".
const char* version();
/// The newest .dyn format version this build reads.
constexpr int kFormatVersion = 1;
}  // namespace dyndnn
