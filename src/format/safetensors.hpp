#pragma once
// Reader of the safetensors layout: 8-byte little-endian header length, JSON header, raw data.
// Every field is validated before use; tensors are zero-copy views into the memory-mapped file.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/mapped_file.hpp"

namespace dyndnn::format {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtypeName(DType d);
std::size_t dtypeSize(DType d);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // offsets into the data section
  std::int64_t numel() const;
};

class SafetensorsFile {
 public:
  /// Map and validate `path`. Throws IoError or FormatError (naming the file and field).
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  std::uint64_t fileBytes() const { return file_->size(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  /// nullptr when there is no tensor of that name.
  const TensorEntry* find(const std::string& name) const;
  /// See MappedFile::dropResidentPages. Tensors stay valid.
  void dropResidentPages() const { file_->dropResidentPages(); }
  /// The bytes after the header.
  const std::uint8_t* dataSection() const { return file_->data() + data_start_; }
  std::uint64_t dataBytes() const { return file_->size() - data_start_; }
  /// Canonical text of the tensor table: "name|dtype|d0,d1|begin|end\n" per tensor in name order.
  std::string tableString() const;
  /// A CPU tensor viewing the mapped bytes (copied only when the data is misaligned for its dtype).
  /// It keeps the mapping alive. Treat it as read-only.
  at::Tensor tensor(const TensorEntry& entry) const;

 private:
  SafetensorsFile() = default;
  std::shared_ptr<const MappedFile> file_;
  std::size_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorEntry> entries_;  // sorted by name
};

}  // namespace dyndnn::format
