// Broken packages: every kind of damage gives a FormatError that names the file and the field; nothing
// crashes, nothing allocates absurd amounts, no weights are silently wrong.

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "dyndnn/dyndnn.hpp"
#include "fixtures.hpp"
#include "format/package_writer.hpp"

using dyndnn::FormatError;
using nlohmann::json;

namespace {

std::vector<std::uint8_t> readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string writeBytes(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  auto path = dyndnn::test::tempDir() + "/" + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  return path;
}

// A copy of the small fixture package, rewritten after `edit` with a valid checksum, so the damage
// reaches the validation behind the checksum.
std::string rewritten(const std::function<void(json& header, json& meta, std::vector<std::uint8_t>& data)>& edit,
                      bool keep_checksum = false, const std::string& source = "fmnist.dyn") {
  json header;
  std::vector<std::uint8_t> data;
  dyndnn::format::readPackageFile(dyndnn::test::fixture(source), header, data);
  const auto original = header["__metadata__"]["dyndnn"].get<std::string>();
  json meta = json::parse(original);
  edit(header, meta, data);
  if (header["__metadata__"]["dyndnn"] == original) header["__metadata__"]["dyndnn"] = meta.dump();
  auto path = dyndnn::test::tempDir() + "/edited.dyn";
  dyndnn::format::writePackageFile(path, header, data, keep_checksum);
  return path;
}

void expectFormatError(const std::string& path, const std::string& says) {
  INFO("expecting FormatError containing: " << says);
  try {
    dyndnn::DynamicModel::load(path);
    FAIL("loaded a broken package");
  } catch (const FormatError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path));
    CHECK_THAT(e.what(), Catch::Contains(says));
  }
}

}  // namespace

TEST_CASE("the fixture package itself loads", "[format]") {
  REQUIRE_NOTHROW(dyndnn::DynamicModel::load(dyndnn::test::fixture("fmnist.dyn")));
  // a freshly rewritten copy with a recomputed checksum loads too (the writer agrees with Python's)
  REQUIRE_NOTHROW(dyndnn::DynamicModel::load(rewritten([](json&, json&, std::vector<std::uint8_t>&) {})));
}

TEST_CASE("truncated packages", "[format]") {
  const auto bytes = readBytes(dyndnn::test::fixture("fmnist.dyn"));
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  std::vector<std::size_t> cuts = {0, 1, 7, 8, 9, 100, 8 + header_len - 1, 8 + header_len, 8 + header_len + 1,
                                   bytes.size() / 2, bytes.size() - 1};
  for (std::size_t step = 1; step < bytes.size(); step += bytes.size() / 37) cuts.push_back(step);
  for (auto cut : cuts) {
    INFO("truncated to " << cut << " of " << bytes.size() << " bytes");
    auto path = writeBytes({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)}, "truncated.dyn");
    CHECK_THROWS_AS(dyndnn::DynamicModel::load(path), FormatError);
  }
  expectFormatError(writeBytes({bytes.begin(), bytes.begin() + 5}, "t5.dyn"), "shorter than the 8-byte header");
  expectFormatError(writeBytes({bytes.begin(), bytes.begin() + 100}, "t100.dyn"), "runs past the end");
}

TEST_CASE("header length past the end or absurdly large", "[format]") {
  auto bytes = readBytes(dyndnn::test::fixture("fmnist.dyn"));
  for (std::uint64_t len : {std::uint64_t{1} << 62, ~std::uint64_t{0}, std::uint64_t(bytes.size())}) {
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(len >> (8 * i));
    expectFormatError(writeBytes(bytes, "len.dyn"), "header length");
  }
}

TEST_CASE("invalid JSON and wrong JSON types", "[format]") {
  auto bytes = readBytes(dyndnn::test::fixture("fmnist.dyn"));
  bytes[8] = '[';
  expectFormatError(writeBytes(bytes, "json.dyn"), "not valid JSON");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["format_version"] = "one"; }), "'format_version'");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["arch"]["width_mult"] = "wide"; }), "width_mult");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["input"]["mean"] = 3; }), "'input'");
  expectFormatError(rewritten([](json& h, json&, auto&) { h["__metadata__"]["dyndnn"] = "{not json"; }),
                    "__metadata__.dyndnn is not valid JSON");
}

TEST_CASE("tensor table damage", "[format]") {
  expectFormatError(rewritten([](json& h, json&, auto&) { h["classifier.bias"]["dtype"] = "F33"; }),
                    "tensor 'classifier.bias' field 'dtype': unknown dtype 'F33'");
  expectFormatError(rewritten([](json& h, json&, auto&) { h["classifier.bias"]["data_offsets"][0] = -8; }),
                    "tensor 'classifier.bias' field 'data_offsets'");
  expectFormatError(rewritten([](json& h, json&, auto& data) {
                      h["classifier.bias"]["data_offsets"] = {data.size() - 20, data.size() + 20};
                    }),
                    "past the data section");
  expectFormatError(rewritten([](json& h, json&, auto&) {
                      h["first_conv.bn.bias"]["data_offsets"] = h["first_conv.bn.weight"]["data_offsets"];
                    }),
                    "overlaps tensor");
  expectFormatError(rewritten([](json& h, json&, auto&) { h["classifier.bias"]["shape"] = {11}; }),
                    "bytes, but shape [11]");
  // consistent table entry, but a shape the architecture does not have
  expectFormatError(rewritten([](json& h, json&, auto&) {
                      auto& e = h["classifier.bias"];
                      e["shape"] = {5};
                      e["data_offsets"][1] = e["data_offsets"][0].get<std::uint64_t>() + 20;
                    }),
                    "tensor 'classifier.bias': shape [5] disagrees with the architecture spec, which needs [10]");
  expectFormatError(rewritten([](json& h, json&, auto&) {
                      auto& e = h["classifier.bias"];
                      e["dtype"] = "F16";
                      e["shape"] = {20};
                    }),
                    "dtype F16 where F32 is required");
  expectFormatError(rewritten([](json& h, json&, auto&) { h.erase("classifier.weight"); }),
                    "missing tensor 'classifier.weight'");
  expectFormatError(rewritten([](json& h, json&, auto&) {
                      h["stowaway"] = {{"dtype", "U8"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
                    }),
                    "unexpected tensor 'stowaway'");
}

TEST_CASE("unknown family, version and impossible operating points", "[format]") {
  expectFormatError(rewritten([](json&, json& m, auto&) { m["family"] = "resnet_ofa"; }), "unknown family 'resnet_ofa'");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["format_version"] = 99; }), "version 99 is not supported");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["operating_points"][1]["config"]["ks"] = 9; }),
                    "'ks'[0] = 9 is not one of");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["operating_points"][1]["config"]["r"] = 1000; }),
                    "'r' = 1000 is not a supported resolution");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["operating_points"][2]["name"] = m["operating_points"][1]["name"]; }),
                    "appears twice");
  // claims per-subnet BN statistics it does not have
  expectFormatError(rewritten([](json&, json& m, auto&) {
                      auto& ops = m["operating_points"];
                      for (auto& op : ops) op["bn_stats"] = true;
                    }),
                    "missing tensor 'op.0.");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["arch"]["stages"][0]["act"] = "gelu"; }),
                    "unknown activation");
  expectFormatError(rewritten([](json&, json& m, auto&) { m["input"]["channels"] = 3; }), "'input'");
}

TEST_CASE("NaN weights are refused", "[format]") {
  expectFormatError(rewritten([](json& h, json&, auto& data) {
                      auto begin = h["classifier.bias"]["data_offsets"][0].get<std::size_t>();
                      const float nan = std::numeric_limits<float>::quiet_NaN();
                      std::memcpy(&data[begin], &nan, 4);
                    }),
                    "tensor 'classifier.bias': holds NaN or Inf");
}

TEST_CASE("negative batch-norm variance is refused", "[format]") {
  expectFormatError(rewritten([](json& h, json&, auto& data) {
                      auto begin = h["first_conv.bn.running_var"]["data_offsets"][0].get<std::size_t>();
                      const float negative = -1.f;
                      std::memcpy(&data[begin], &negative, 4);
                    }),
                    "tensor 'first_conv.bn.running_var': negative variance");
}

TEST_CASE("any flipped bit is caught: checksum over table, metadata and data", "[format]") {
  const auto bytes = readBytes(dyndnn::test::fixture("fmnist.dyn"));
  std::mt19937_64 rng(7);
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < 64; ++i) positions.push_back(i);  // length field and the start of the header
  for (int i = 0; i < 200; ++i) positions.push_back(rng() % bytes.size());
  for (auto pos : positions) {
    auto copy = bytes;
    copy[pos] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    INFO("flipped a bit of byte " << pos);
    CHECK_THROWS_AS(dyndnn::DynamicModel::load(writeBytes(copy, "flipped.dyn")), FormatError);
  }
  expectFormatError(rewritten([](json&, json&, auto& data) { data[data.size() / 2] ^= 1; }, /*keep_checksum=*/true),
                    "checksum mismatch");
  expectFormatError(rewritten([](json& h, json&, auto&) { h["__metadata__"].erase("dyndnn_crc32"); }, true),
                    "no 'dyndnn_crc32' checksum");
}

TEST_CASE("missing files and directories are IoError", "[format]") {
  CHECK_THROWS_AS(dyndnn::DynamicModel::load("/nonexistent/model.dyn"), dyndnn::IoError);
  CHECK_THROWS_AS(dyndnn::DynamicModel::load(dyndnn::test::tempDir()), dyndnn::IoError);
}

TEST_CASE("group_cnn packages: damage the family checks", "[format][group_cnn]") {
  auto edited = [](const std::string& source, auto edit) {
    return rewritten([&](json& h, json& m, std::vector<std::uint8_t>& d) { edit(h, m, d); }, false, source);
  };
  const std::string tri = "group_cnn_tri.dyn", grouped = "group_cnn_grouped.dyn";
  REQUIRE_NOTHROW(dyndnn::DynamicModel::load(edited(tri, [](json&, json&, auto&) {})));
  // A weight where group 1 of layer 1 would read a later group's input: pruning would change the outputs.
  expectFormatError(edited(tri,
                           [](json& h, json&, std::vector<std::uint8_t>& d) {
                             const auto& e = h["layers.1.weight"];
                             const auto in = e["shape"][1].get<std::size_t>(), taps = std::size_t{25};
                             const auto at = e["data_offsets"][0].get<std::size_t>() + (in - 1) * taps * 4;
                             const float one = 1.0f;
                             std::memcpy(d.data() + at, &one, 4);  // row 0, last input channel
                           }),
                    "tensor 'layers.1.weight': group 1 has non-zero weights on inputs of later groups");
  expectFormatError(edited(tri, [](json&, json& m, auto&) { m["arch"]["layers"][1]["widths"] = {6, 6, 12}; }),
                    "'widths' must list the channels of each of the 4 groups");
  expectFormatError(edited(grouped, [](json&, json& m, auto&) { m["arch"]["layers"][0]["widths"] = {8, 4, 2, 2}; }),
                    "grouped connectivity needs equal groups");
  expectFormatError(edited(tri, [](json&, json& m, auto&) { m["arch"]["layers"][2]["kernel"] = 1 << 30; }),
                    "'kernel' = 1073741824 must be in 1..64");
  expectFormatError(edited(tri, [](json&, json& m, auto&) { m["arch"]["connectivity"] = "dense"; }),
                    "must be \"grouped\" or \"triangular\"");
  expectFormatError(edited(tri, [](json&, json& m, auto&) { m["operating_points"][0]["config"]["g"] = 9; }),
                    "operating point 'g1': config field 'g' = [9]: must be one integer in 1..4");
  expectFormatError(edited(tri, [](json&, json& m, auto&) { m["input"]["resolutions"] = {28, 32}; }),
                    "a group_cnn runs at its one resolution");
  expectFormatError(edited(tri, [](json&, json& m, auto&) { m["family"] = "group_rnn"; }),
                    "unknown family 'group_rnn' (this build knows: ofa_mbv3, group_cnn, elastic_vit, static_graph)");
}

TEST_CASE("elastic_vit packages: damage the family checks", "[format][elastic_vit]") {
  auto edited = [](auto edit) {
    return rewritten([&](json& h, json& m, std::vector<std::uint8_t>& d) { edit(h, m, d); }, false, "vit_small.dyn");
  };
  REQUIRE_NOTHROW(dyndnn::DynamicModel::load(edited([](json&, json&, auto&) {})));
  expectFormatError(edited([](json&, json& m, auto&) { m["arch"]["widths"] = {16, 24, 40}; }),
                    "tensor 'blocks.0.attn.k.weight'");  // every tensor's shape follows the widest choice
  expectFormatError(edited([](json&, json& m, auto&) { m["arch"]["patch"] = 5; }),
                    "'resolution' = 28 is not a multiple of 'patch' = 5");
  expectFormatError(edited([](json&, json& m, auto&) { m["arch"].erase("ln_eps"); }), "'ln_eps' must be a positive number");
  expectFormatError(edited([](json&, json& m, auto&) { m["arch"]["head_dim"] = 16384; }),
                    "3 heads of 16384 make an attention width over 16384");
  expectFormatError(edited([](json&, json& m, auto&) { m["arch"]["heads"] = json::array(); }),
                    "'heads' must be a non-empty list of integers");
  expectFormatError(edited([](json&, json& m, auto&) { m["operating_points"][2]["config"]["d"] = 9; }),
                    "operating point 'op2': config field 'd' = 9: allowed values [1, 2, 3]");
  expectFormatError(edited([](json&, json& m, auto&) { m["input"]["resolutions"] = {24, 28}; }),
                    "an elastic_vit runs at its one resolution");
  expectFormatError(edited([](json& h, json&, std::vector<std::uint8_t>& d) {  // a fourth layer norm of its own
                      h["blocks.0.ln3.weight"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {d.size(), d.size() + 4}}};
                      d.resize(d.size() + 4);
                    }),
                    "unexpected tensor 'blocks.0.ln3.weight'");
}
