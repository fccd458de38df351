#include "format/safetensors.hpp"

#include <ATen/Functions.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"

namespace dyndnn::format {
namespace {

using nlohmann::json;

// A header is a few hundred kB even for large supernets; anything near this is corrupt, and refusing it
// keeps a flipped length byte from making the parser chew through gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 256ull << 20;
constexpr std::int64_t kMaxDim = std::int64_t{1} << 40;

struct DTypeInfo {
  const char* name;
  DType dtype;
  std::size_t size;
  at::ScalarType scalar;
};

constexpr DTypeInfo kDTypes[] = {
    {"F64", DType::F64, 8, at::kDouble}, {"F32", DType::F32, 4, at::kFloat},
    {"F16", DType::F16, 2, at::kHalf},   {"BF16", DType::BF16, 2, at::kBFloat16},
    {"I64", DType::I64, 8, at::kLong},   {"I32", DType::I32, 4, at::kInt},
    {"I16", DType::I16, 2, at::kShort},  {"I8", DType::I8, 1, at::kChar},
    {"U8", DType::U8, 1, at::kByte},     {"BOOL", DType::BOOL, 1, at::kBool},
};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i;
  throw Error("internal: unknown dtype");
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw FormatError(fmt::format("{}: {}", path, what));
}

TensorEntry parseEntry(const std::string& path, const std::string& name, const json& j,
                       std::uint64_t data_bytes) {
  auto where = [&](const char* field) { return fmt::format("tensor '{}' field '{}'", name, field); };
  if (!j.is_object()) fail(path, fmt::format("tensor '{}': header entry is not a JSON object", name));
  TensorEntry e;
  e.name = name;

  auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) fail(path, where("dtype") + ": missing or not a string");
  auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                            [&](const DTypeInfo& i) { return dt->get<std::string>() == i.name; });
  if (known == std::end(kDTypes))
    fail(path, where("dtype") + fmt::format(": unknown dtype '{}' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                                            dt->get<std::string>()));
  e.dtype = known->dtype;

  auto sh = j.find("shape");
  if (sh == j.end() || !sh->is_array()) fail(path, where("shape") + ": missing or not an array");
  std::uint64_t numel = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0 || d.get<std::int64_t>() > kMaxDim)
      fail(path, where("shape") + fmt::format(": {} is not a valid dimension", d.dump()));
    auto v = d.get<std::uint64_t>();
    if (v != 0 && numel > std::numeric_limits<std::uint64_t>::max() / v / 8)
      fail(path, where("shape") + ": element count overflows");
    numel *= v;
    e.shape.push_back(static_cast<std::int64_t>(v));
  }

  auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail(path, where("data_offsets") + ": must be two non-negative integers [begin, end]");
  e.begin = (*off)[0].get<std::uint64_t>();
  e.end = (*off)[1].get<std::uint64_t>();
  if (e.begin > e.end) fail(path, where("data_offsets") + fmt::format(": begin {} > end {}", e.begin, e.end));
  if (e.end > data_bytes)
    fail(path, where("data_offsets") + fmt::format(": end {} is past the data section ({} bytes): truncated file?",
                                                   e.end, data_bytes));
  if (e.end - e.begin != numel * known->size)
    fail(path, where("data_offsets") + fmt::format(": {} bytes, but shape {} of {} needs {}", e.end - e.begin,
                                                   sh->dump(), known->name, numel * known->size));
  return e;
}

}  // namespace

const char* dtypeName(DType d) { return info(d).name; }
std::size_t dtypeSize(DType d) { return info(d).size; }

std::int64_t TensorEntry::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  static_assert(sizeof(std::uint64_t) == 8);
  SafetensorsFile f;
  f.file_ = MappedFile::open(path);
  const std::uint64_t size = f.file_->size();
  if (size < 8) fail(path, fmt::format("file is {} bytes, shorter than the 8-byte header length (truncated?)", size));
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | f.file_->data()[i];  // little-endian
  if (header_len > size - 8)
    fail(path, fmt::format("header length {} runs past the end of the file ({} bytes): truncated or corrupt",
                           header_len, size));
  if (header_len > kMaxHeaderBytes)
    fail(path, fmt::format("header length {} exceeds the {} byte limit: corrupt file", header_len, kMaxHeaderBytes));
  f.data_start_ = 8 + header_len;
  const std::uint64_t data_bytes = size - f.data_start_;

  const char* begin = reinterpret_cast<const char*>(f.file_->data()) + 8;
  json header;
  try {
    header = json::parse(begin, begin + header_len);
  } catch (const json::exception& e) {
    fail(path, fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      if (!it->is_object()) fail(path, "field '__metadata__' must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(path, fmt::format("__metadata__ field '{}' is not a string", m.key()));
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    f.entries_.push_back(parseEntry(path, it.key(), *it, data_bytes));
  }

  // No two tensors may share bytes: overlapping tensors would alias weights silently.
  std::vector<const TensorEntry*> by_offset;
  for (const auto& e : f.entries_)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail(path, fmt::format("tensor '{}' field 'data_offsets': overlaps tensor '{}'", by_offset[i]->name,
                             by_offset[i - 1]->name));
  }
  std::sort(f.entries_.begin(), f.entries_.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const TensorEntry& e, const std::string& n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

std::string SafetensorsFile::tableString() const {
  std::string out;
  for (const auto& e : entries_)
    out += fmt::format("{}|{}|{}|{}|{}\n", e.name, dtypeName(e.dtype), fmt::join(e.shape, ","), e.begin, e.end);
  return out;
}

at::Tensor SafetensorsFile::tensor(const TensorEntry& entry) const {
  const auto& di = info(entry.dtype);
  auto* ptr = const_cast<std::uint8_t*>(file_->data()) + data_start_ + entry.begin;
  auto options = at::TensorOptions().dtype(di.scalar);
  auto keep_alive = file_;
  auto view = at::from_blob(ptr, entry.shape, [keep_alive](void*) {}, options);
  if (reinterpret_cast<std::uintptr_t>(ptr) % di.size != 0) return view.clone();  // misaligned: copy once
  return view;
}

}  // namespace dyndnn::format
