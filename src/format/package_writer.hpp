#pragma once
// Writing packages from C++: the safetensors layout with the dyndnn checksum. Used by tests that build
// deliberately broken packages, and by tools that rewrite a package's metadata.

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dyndnn::format {

/// Write `header` (tensor entries plus "__metadata__", whose "dyndnn" string is kept verbatim) followed by
/// `data`. The checksum in __metadata__["dyndnn_crc32"] is recomputed unless `keep_checksum` is set.
void writePackageFile(const std::string& path, nlohmann::json header, const std::vector<std::uint8_t>& data,
                      bool keep_checksum = false);

/// A package of F32 CPU tensors (written in the order given, each 64-byte aligned) and the dyndnn metadata
/// `metadata` (format version, family, arch, input, operating points), checksummed. Throws IoError.
void writePackage(const std::string& path, const nlohmann::json& metadata,
                  const std::vector<std::pair<std::string, at::Tensor>>& tensors);

/// writePackage to `path` + ".partial", then renamed over `path`: an interrupted write never leaves a torn
/// package, and writing onto a package that is mapped (the one being read) cannot truncate it. Throws IoError.
void writePackageAtomically(const std::string& path, const nlohmann::json& metadata,
                            const std::vector<std::pair<std::string, at::Tensor>>& tensors);

/// Renames `from` over `to` (the last step of an atomic write), removing `from` when that fails. Throws IoError.
void moveIntoPlace(const std::string& from, const std::string& to);

/// Header JSON and data section of an existing file, for rewriting. Throws FormatError/IoError.
void readPackageFile(const std::string& path, nlohmann::json& header, std::vector<std::uint8_t>& data);

}  // namespace dyndnn::format
