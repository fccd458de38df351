#include "format/package_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <ATen/ATen.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"
#include "format/crc32.hpp"
#include "format/package.hpp"
#include "format/safetensors.hpp"

namespace dyndnn::format {

void writePackageFile(const std::string& path, nlohmann::json header, const std::vector<std::uint8_t>& data,
                      bool keep_checksum) {
  if (!keep_checksum && header.contains("__metadata__") && header["__metadata__"].contains(kMetadataKey)) {
    // Same canonical table text as SafetensorsFile::tableString and tools/dyndnn_tools/safetensors_io.py.
    std::string table;
    for (auto it = header.begin(); it != header.end(); ++it) {  // nlohmann objects iterate in key order
      if (it.key() == "__metadata__") continue;
      const auto& e = *it;
      table += fmt::format("{}|{}|{}|{}|{}\n", it.key(), e["dtype"].get<std::string>(),
                           fmt::join(e["shape"].get<std::vector<std::int64_t>>(), ","),
                           e["data_offsets"][0].get<std::uint64_t>(), e["data_offsets"][1].get<std::uint64_t>());
    }
    const auto meta = header["__metadata__"][kMetadataKey].get<std::string>();
    std::uint32_t crc = crc32(table.data(), table.size());
    crc = crc32(meta.data(), meta.size(), crc);
    crc = crc32(data.data(), data.size(), crc);
    header["__metadata__"][kChecksumKey] = fmt::format("{:08x}", crc);
  }
  std::string text = header.dump();
  text.append((64 - (8 + text.size()) % 64) % 64, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError(fmt::format("{}: cannot open for writing: {}", path, std::strerror(errno)));
  std::uint8_t len[8];
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw IoError(fmt::format("{}: write failed", path));
}

void moveIntoPlace(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(from.c_str());
    throw IoError(fmt::format("{}: cannot move {} into place: {}", to, from, why));
  }
}

void writePackageAtomically(const std::string& path, const nlohmann::json& metadata,
                            const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  const auto tmp = path + ".partial";
  try {
    writePackage(tmp, metadata, tensors);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  moveIntoPlace(tmp, path);
}

void writePackage(const std::string& path, const nlohmann::json& metadata,
                  const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<std::uint8_t> data;
  for (const auto& [name, tensor] : tensors) {
    const auto t = tensor.to(at::kCPU, at::kFloat).contiguous();
    data.resize((data.size() + 63) / 64 * 64);  // SIMD-aligned views once mapped (the header is padded to 64 too)
    const auto begin = data.size();
    const auto bytes = static_cast<std::size_t>(t.numel()) * sizeof(float);
    data.resize(begin + bytes);
    if (bytes) std::memcpy(data.data() + begin, t.data_ptr<float>(), bytes);
    header[name] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {begin, begin + bytes}}};
  }
  header["__metadata__"] = {{kMetadataKey, metadata.dump()}};
  writePackageFile(path, std::move(header), data);
}

void readPackageFile(const std::string& path, nlohmann::json& header, std::vector<std::uint8_t>& data) {
  auto file = SafetensorsFile::open(path);  // validates the layout first
  auto mapped = MappedFile::open(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | mapped->data()[i];
  header = nlohmann::json::parse(mapped->data() + 8, mapped->data() + 8 + n);
  data.assign(file.dataSection(), file.dataSection() + file.dataBytes());
}

}  // namespace dyndnn::format
