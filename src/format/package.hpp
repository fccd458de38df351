#pragma once
// A .dyn package: a safetensors file whose __metadata__["dyndnn"] holds dyndnn's JSON (format version,
// family, architecture spec, input spec, operating points). This layer checks the JSON's shape; the
// family's code (nn/) checks the architecture and the tensors against it.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "dyndnn/types.hpp"
#include "format/safetensors.hpp"

namespace dyndnn::format {

inline constexpr const char* kMetadataKey = "dyndnn";
inline constexpr const char* kChecksumKey = "dyndnn_crc32";

struct Package {
  explicit Package(SafetensorsFile f) : file(std::move(f)) {}
  SafetensorsFile file;
  int format_version = 0;
  std::string family;
  nlohmann::json arch;  // family-specific; parsed by the family
  InputSpec input;
  std::vector<OperatingPoint> operating_points;  // metrics.macs/params filled in by the family

  /// Open, map and validate the container and the dyndnn JSON; with `verify_checksum`, also the CRC-32
  /// over the tensor table, the JSON and all data (catches any flipped byte). Throws IoError/FormatError.
  static Package open(const std::string& path, bool verify_checksum = true);
  const std::string& path() const { return file.path(); }
  /// Name of the tensor holding per-subnet BN statistic `stat` ("running_mean"/"running_var") of
  /// operating point `index` for batch-norm layer `layer`.
  static std::string bnStatName(std::size_t index, const std::string& layer, const char* stat);

 private:
  void readMetadata(const nlohmann::json& meta);
};

/// Parse OFA's dict form from a JSON value; `where` names it in error messages. Throws InvalidArgument.
SubnetConfig configFromJson(const nlohmann::json& j, const std::string& where);
nlohmann::json configToJson(const SubnetConfig& c);

}  // namespace dyndnn::format
