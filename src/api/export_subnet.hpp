#pragma once
// One sub-network of a model as a static package (nn/static_graph.hpp): DynamicModel::exportSubnet.

#include <string>

#include "api/model_core.hpp"

namespace dyndnn {

/// Write the sub-network `r` asks for (with the BN statistics it names) to `path`, atomically (a temporary file
/// beside it, renamed). Throws IoError when the file cannot be written.
void exportSubnet(const ModelCore& core, const ModelCore::Request& r, const std::string& path);

}  // namespace dyndnn
