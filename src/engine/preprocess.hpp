#pragma once
// Bringing caller input to the active sub-network's resolution (same rules as tools/dyndnn_tools/reference.py).

#include <ATen/core/Tensor.h>

#include "dyndnn/types.hpp"

namespace dyndnn::engine {

/// Validate a float NCHW/CHW tensor (throws InvalidArgument saying what is wrong and what to pass) and
/// resize it to resolution x resolution (bilinear, align_corners=false) when needed. Returns NCHW.
at::Tensor prepareTensor(const at::Tensor& input, int channels, int resolution);

/// uint8 HWC image -> normalised 1xCxRxR float: shorter side resized to ceil(R / crop_ratio)
/// (antialiased bilinear), centre crop R, scale to [0, 1], subtract mean, divide by std.
at::Tensor prepareImage(const ImageView& image, const InputSpec& spec, int resolution);

}  // namespace dyndnn::engine
