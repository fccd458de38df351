// The safetensors reader on its own, with files written byte by byte here as any writer of the format may lay
// them out (header padded with spaces, tensors in any order, misaligned data, empty tensors), not by our writer.

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "fixtures.hpp"
#include "format/safetensors.hpp"

using dyndnn::FormatError;
using dyndnn::format::DType;
using dyndnn::format::SafetensorsFile;
using nlohmann::json;

namespace {

// 8-byte little-endian header length, the header (padded with `pad` spaces), then the data section.
std::string writeFile(const std::string& name, const std::string& header, const std::vector<std::uint8_t>& data,
                      std::size_t pad = 0) {
  const std::string text = header + std::string(pad, ' ');
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  const auto path = dyndnn::test::tempDir() + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return path;
}

template <class T>
void append(std::vector<std::uint8_t>& data, const std::vector<T>& values) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(values.data());
  data.insert(data.end(), bytes, bytes + values.size() * sizeof(T));
}

void expectFormatError(const std::string& header, const std::vector<std::uint8_t>& data, const std::string& says) {
  const auto path = writeFile("bad.safetensors", header, data);
  INFO("header " << header << ", expecting: " << says);
  try {
    SafetensorsFile::open(path);
    FAIL("opened a broken file");
  } catch (const FormatError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path));
    CHECK_THAT(e.what(), Catch::Contains(says));
  }
}

}  // namespace

TEST_CASE("safetensors: tensors of every layout read back exactly, zero-copy where aligned", "[format]") {
  // Random values, so a reader that mixed up offsets, order or dtype would read different numbers.
  at::manual_seed(3);
  const auto w = at::randn({2, 3});
  const auto idx = at::randint(-1000, 1000, {3}, at::kLong);
  std::vector<float> w_values(w.data_ptr<float>(), w.data_ptr<float>() + 6);
  std::vector<std::int64_t> idx_values(idx.data_ptr<std::int64_t>(), idx.data_ptr<std::int64_t>() + 3);
  std::vector<std::uint8_t> data;
  append(data, std::vector<std::uint8_t>{7});  // one byte first: the float tensor after it is misaligned
  const std::uint64_t w_begin = data.size();
  append(data, w_values);
  const std::uint64_t idx_begin = data.size();
  append(data, idx_values);
  const std::uint64_t end = data.size();
  json header = {{"__metadata__", {{"source", "hand-written"}}},
                 {"z.idx", {{"dtype", "I64"}, {"shape", {3}}, {"data_offsets", {idx_begin, end}}}},
                 {"b", {{"dtype", "U8"}, {"shape", {1}}, {"data_offsets", {0, 1}}}},
                 {"a.weight", {{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {w_begin, idx_begin}}}},
                 {"empty", {{"dtype", "F16"}, {"shape", {0, 4}}, {"data_offsets", {end, end}}}}};
  const auto path = writeFile("ok.safetensors", header.dump(), data, 5);

  const auto file = SafetensorsFile::open(path);
  REQUIRE(file.entries().size() == 4);
  CHECK(file.entries().front().name == "a.weight");  // sorted by name
  CHECK(file.metadata().at("source") == "hand-written");
  const auto* a = file.find("a.weight");
  REQUIRE(a != nullptr);
  CHECK(a->dtype == DType::F32);
  CHECK(a->shape == std::vector<std::int64_t>{2, 3});
  CHECK(a->numel() == 6);
  CHECK(at::equal(file.tensor(*a), w));  // misaligned: copied, same values
  CHECK(at::equal(file.tensor(*file.find("z.idx")), idx));
  CHECK(file.tensor(*file.find("b")).item<std::uint8_t>() == 7);
  CHECK(file.tensor(*file.find("empty")).numel() == 0);
  CHECK(file.find("nope") == nullptr);
  CHECK(file.dataBytes() == data.size());
  CHECK(std::memcmp(file.dataSection(), data.data(), data.size()) == 0);
  CHECK_THAT(file.tableString(), Catch::StartsWith(fmt::format("a.weight|F32|2,3|{}|{}\n", w_begin, idx_begin)));
}

TEST_CASE("safetensors: every malformed field is a FormatError naming the file and the field", "[format]") {
  std::vector<std::uint8_t> data(16, 0);
  auto one = [](const json& entry) { return json{{"t", entry}}.dump(); };
  expectFormatError(one({{"dtype", "F8"}, {"shape", {4}}, {"data_offsets", {0, 4}}}), data, "unknown dtype 'F8'");
  expectFormatError(one({{"shape", {4}}, {"data_offsets", {0, 16}}}), data, "dtype");
  expectFormatError(one({{"dtype", "F32"}, {"shape", {-1}}, {"data_offsets", {0, 16}}}), data, "not a valid dimension");
  expectFormatError(one({{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 16}}}), data, "needs 12");
  expectFormatError(one({{"dtype", "F32"}, {"shape", {8}}, {"data_offsets", {0, 32}}}), data, "past the data section");
  expectFormatError(one({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {8, 4}}}), data, "begin 8 > end 4");
  expectFormatError(one({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {-4, 0}}}), data, "non-negative");
  expectFormatError(one({{"dtype", "F32"}, {"shape", {1099511627776, 1099511627776, 16}}, {"data_offsets", {0, 16}}}), data,
                    "overflows");
  expectFormatError(json{{"t", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                         {"u", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}}}}
                        .dump(),
                    data, "overlaps");
  expectFormatError("{\"t\": [1, 2]}", data, "not a JSON object");
  expectFormatError("{\"__metadata__\": {\"k\": 3}}", data, "is not a string");
  expectFormatError("{not json", data, "not valid JSON");
  expectFormatError("[]", data, "not a JSON object");

  // The header length itself: past the end of the file, and a file too short to hold it.
  const auto path = writeFile("short.safetensors", "{}", {});
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const std::uint8_t huge[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    f.write(reinterpret_cast<const char*>(huge), 8);
  }
  CHECK_THROWS_WITH(SafetensorsFile::open(path), Catch::Contains("runs past the end of the file"));
  const auto tiny = dyndnn::test::tempDir() + "/tiny.safetensors";
  std::ofstream(tiny, std::ios::binary).write("abc", 3);
  CHECK_THROWS_WITH(SafetensorsFile::open(tiny), Catch::Contains("shorter than the 8-byte header length"));
  CHECK_THROWS_AS(SafetensorsFile::open(dyndnn::test::tempDir() + "/missing.safetensors"), dyndnn::IoError);
}
