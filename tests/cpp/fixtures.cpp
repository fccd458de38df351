#include "fixtures.hpp"

#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <ftw.h>
#include <unistd.h>

#include "format/safetensors.hpp"

namespace dyndnn::test {

namespace {
// `variable`'s folder (ctest sets it), else the one compiled in, joined with `name`.
std::string under(const char* variable, const char* compiled_in, const std::string& name) {
  const char* dir = std::getenv(variable);
  if (dir == nullptr) dir = compiled_in;
  if (dir == nullptr) FAIL(variable << " is not set: run the tests through ctest");
  return std::string(dir) + "/" + name;
}
}  // namespace

std::string fixture(const std::string& name) {
#ifdef DYNDNN_FIXTURE_DIR_DEFAULT
  return under("DYNDNN_FIXTURE_DIR", DYNDNN_FIXTURE_DIR_DEFAULT, name);
#else
  return under("DYNDNN_FIXTURE_DIR", nullptr, name);
#endif
}

std::string sourceFile(const std::string& relative) {
#ifdef DYNDNN_SOURCE_DIR_DEFAULT
  return under("DYNDNN_SOURCE_DIR", DYNDNN_SOURCE_DIR_DEFAULT, relative);
#else
  return under("DYNDNN_SOURCE_DIR", nullptr, relative);
#endif
}

std::string tempDir() {
  namespace fs = std::filesystem;
  static int counter = 0;
  auto dir = fs::temp_directory_path() / ("dyndnn_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::create_directories(dir);
  // Removed at exit with nftw, not std::filesystem::remove_all: PyTorch's pip wheels export their own copy of
  // remove_all from libtorch.so, which jumps to address 0 when called during static destruction (seen with
  // LibTorch 2.11 on the GPU machine; PyTorch issue 133437).
  struct Cleanup {
    std::vector<fs::path> dirs;
    ~Cleanup() {
      auto remove_one = [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); };
      for (auto& d : dirs) ::nftw(d.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
  };
  static Cleanup cleanup;
  cleanup.dirs.push_back(dir);
  return dir.string();
}

at::Tensor loadTensor(const std::string& path, const std::string& name) {
  auto file = format::SafetensorsFile::open(path);
  const auto* e = file.find(name);
  if (e == nullptr) FAIL("no tensor " << name << " in " << path);
  return file.tensor(*e).clone();
}

double relativeError(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

}  // namespace dyndnn::test
