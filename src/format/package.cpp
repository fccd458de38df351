#include "format/package.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/version.hpp"
#include "format/crc32.hpp"

namespace dyndnn::format {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw FormatError(fmt::format("{}: {}", path, what));
}

const json& field(const std::string& path, const json& obj, const char* name, const std::string& where) {
  auto it = obj.find(name);
  if (it == obj.end()) fail(path, fmt::format("{}: missing field '{}'", where, name));
  return *it;
}

std::vector<int> intList(const json& j, const std::string& where) {
  std::vector<int> out;
  if (j.is_number_integer()) return {j.get<int>()};
  if (!j.is_array()) throw InvalidArgument(fmt::format("{}: must be an integer or a list of integers", where));
  for (const auto& v : j) {
    if (!v.is_number_integer())
      throw InvalidArgument(fmt::format("{}: {} is not an integer", where, v.dump()));
    out.push_back(v.get<int>());
  }
  return out;
}

InputSpec parseInput(const std::string& path, const json& j) {
  const std::string where = "metadata field 'input'";
  if (!j.is_object()) fail(path, where + ": must be an object");
  InputSpec in;
  try {
    in.channels = field(path, j, "channels", where).get<int>();
    in.mean = field(path, j, "mean", where).get<std::vector<float>>();
    in.std = field(path, j, "std", where).get<std::vector<float>>();
    in.resolutions = field(path, j, "resolutions", where).get<std::vector<int>>();
    in.crop_ratio = j.value("crop_ratio", 1.0);
  } catch (const json::exception& e) {
    fail(path, fmt::format("{}: wrong type: {}", where, e.what()));
  }
  if (in.channels <= 0 || in.channels > 64) fail(path, where + fmt::format(".channels: {} is out of range", in.channels));
  if (in.mean.size() != static_cast<std::size_t>(in.channels) || in.std.size() != in.mean.size())
    fail(path, where + fmt::format(": mean and std need {} values (one per channel)", in.channels));
  for (float s : in.std)
    if (!(s > 0.f) || !std::isfinite(s)) fail(path, where + ".std: values must be positive and finite");
  for (float m : in.mean)
    if (!std::isfinite(m)) fail(path, where + ".mean: values must be finite");
  if (in.resolutions.empty()) fail(path, where + ".resolutions: empty");
  for (int r : in.resolutions)
    if (r < 1 || r > 4096) fail(path, where + fmt::format(".resolutions: {} is out of range 1..4096", r));
  if (!(in.crop_ratio > 0.0 && in.crop_ratio <= 1.0)) fail(path, where + ".crop_ratio: must be in (0, 1]");
  return in;
}

OperatingPoint parseOperatingPoint(const std::string& path, const json& j, std::size_t index) {
  const std::string where = fmt::format("operating point #{}", index);
  if (!j.is_object()) fail(path, where + ": must be an object");
  OperatingPoint op;
  const auto& name = field(path, j, "name", where);
  if (!name.is_string() || name.get<std::string>().empty()) fail(path, where + ".name: must be a non-empty string");
  op.name = name.get<std::string>();
  const std::string named = fmt::format("operating point '{}'", op.name);
  try {
    op.config = configFromJson(field(path, j, "config", named), named + ".config");
  } catch (const InvalidArgument& e) {
    fail(path, e.what());
  }
  auto bn = j.find("bn_stats");
  if (bn != j.end() && !bn->is_boolean()) fail(path, named + ".bn_stats: must be true or false");
  op.has_bn_stats = bn != j.end() && bn->get<bool>();
  auto metrics = j.find("metrics");
  if (metrics != j.end()) {
    if (!metrics->is_object()) fail(path, named + ".metrics: must be an object");
    auto acc = metrics->find("accuracy");
    if (acc != metrics->end() && !acc->is_null()) {
      if (!acc->is_number() || !std::isfinite(acc->get<double>()))
        fail(path, named + ".metrics.accuracy: must be a number");
      op.metrics.accuracy = acc->get<double>();
    }
  }
  return op;
}

void verifyChecksum(const SafetensorsFile& file, const std::string& meta_text) {
  auto stored = file.metadata().find(kChecksumKey);
  if (stored == file.metadata().end())
    fail(file.path(), "__metadata__ has no 'dyndnn_crc32' checksum; rewrite the package with dyndnn's writer");
  const auto table = file.tableString();
  std::uint32_t crc = crc32(table.data(), table.size());
  crc = crc32(meta_text.data(), meta_text.size(), crc);
  crc = crc32(file.dataSection(), file.dataBytes(), crc);
  const auto actual = fmt::format("{:08x}", crc);
  if (actual != stored->second)
    fail(file.path(), fmt::format("checksum mismatch (stored {}, computed {}): the file is corrupt or was "
                                  "modified; download or convert it again",
                                  stored->second, actual));
}

}  // namespace

SubnetConfig configFromJson(const json& j, const std::string& where) {
  if (!j.is_object())
    throw InvalidArgument(fmt::format("{}: must be an object of knobs, e.g. {{\"ks\": 7, \"e\": 6, \"d\": 4, "
                                      "\"r\": 224}} or {{\"g\": 2}}",
                                      where));
  SubnetConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "r") {
      if (!it->is_number_integer()) throw InvalidArgument(fmt::format("{}.r: must be an integer", where));
      c.r = it->get<int>();
    } else {
      c.knobs[it.key()] = intList(*it, where + "." + it.key());
    }
  }
  return c;
}

json configToJson(const SubnetConfig& c) {
  json j = json::object();
  for (const auto& [name, values] : c.knobs) j[name] = values.size() == 1 ? json(values[0]) : json(values);
  if (c.r != 0) j["r"] = c.r;
  return j;
}

std::string Package::bnStatName(std::size_t index, const std::string& layer, const char* stat) {
  return fmt::format("op.{}.{}.{}", index, layer, stat);
}

Package Package::open(const std::string& path, bool verify_checksum) {
  Package p(SafetensorsFile::open(path));
  auto it = p.file.metadata().find(kMetadataKey);
  if (it == p.file.metadata().end())
    fail(path, "no dyndnn metadata (__metadata__.dyndnn): a plain safetensors file, not a .dyn package");
  if (verify_checksum) verifyChecksum(p.file, it->second);
  json meta;
  try {
    meta = json::parse(it->second);
  } catch (const json::exception& e) {
    fail(path, fmt::format("__metadata__.dyndnn is not valid JSON: {}", e.what()));
  }
  if (!meta.is_object()) fail(path, "__metadata__.dyndnn must be a JSON object");
  try {
    p.readMetadata(meta);
  } catch (const nlohmann::json::exception& e) {  // a JSON value of an unexpected type anywhere
    fail(path, fmt::format("metadata has a value of the wrong type: {}", e.what()));
  }
  return p;
}

void Package::readMetadata(const nlohmann::json& meta) {
  const auto& path = this->path();
  auto& p = *this;
  const std::string where = "metadata";
  const auto& version = field(path, meta, "format_version", where);
  if (!version.is_number_integer()) fail(path, "metadata field 'format_version': must be an integer");
  p.format_version = version.get<int>();
  if (p.format_version < 1 || p.format_version > kFormatVersion)
    fail(path, fmt::format("metadata field 'format_version': version {} is not supported by this build "
                           "(reads 1..{}); upgrade dyndnn",
                           p.format_version, kFormatVersion));
  const auto& family = field(path, meta, "family", where);
  if (!family.is_string()) fail(path, "metadata field 'family': must be a string");
  p.family = family.get<std::string>();
  p.arch = field(path, meta, "arch", where);
  if (!p.arch.is_object()) fail(path, "metadata field 'arch': must be an object");
  p.input = parseInput(path, field(path, meta, "input", where));
  auto ops = meta.find("operating_points");
  if (ops != meta.end()) {
    if (!ops->is_array()) fail(path, "metadata field 'operating_points': must be a list");
    std::set<std::string> names;
    for (std::size_t i = 0; i < ops->size(); ++i) {
      p.operating_points.push_back(parseOperatingPoint(path, (*ops)[i], i));
      if (!names.insert(p.operating_points.back().name).second)
        fail(path, fmt::format("operating point '{}' appears twice", p.operating_points.back().name));
    }
  }
}

}  // namespace dyndnn::format
