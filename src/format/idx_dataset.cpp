#include "dyndnn/tools/idx_dataset.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn {
namespace {

// gzread reads gzip and, transparently, uncompressed files.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (f_ == nullptr) throw IoError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  ~GzFile() { gzclose(f_); }
  void read(void* dst, std::size_t n) {
    auto* p = static_cast<std::uint8_t*>(dst);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
      const int got = gzread(f_, p, chunk);
      if (got <= 0) throw InvalidArgument(fmt::format("{}: truncated or corrupt IDX file", path_));
      p += got;
      n -= static_cast<std::size_t>(got);
    }
  }
  std::uint32_t be32() {
    std::uint8_t b[4];
    read(b, 4);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  }

 private:
  std::string path_;
  gzFile f_;
};

void expectMagic(GzFile& f, std::uint32_t want, const std::string& path, const char* what) {
  const auto magic = f.be32();
  if (magic != want)
    throw InvalidArgument(fmt::format("{}: magic {} is not that of an IDX {} file ({})", path, magic, what, want));
}

}  // namespace

IdxImages readIdxImages(const std::string& path) {
  GzFile f(path);
  expectMagic(f, 2051, path, "images");
  IdxImages out;
  const auto count = f.be32(), rows = f.be32(), cols = f.be32();
  if (count > 10'000'000 || rows == 0 || cols == 0 || rows > 4096 || cols > 4096 ||
      std::uint64_t{count} * rows * cols > (std::uint64_t{1} << 32))
    throw InvalidArgument(fmt::format("{}: implausible dimensions {}x{}x{}", path, count, rows, cols));
  out.count = static_cast<int>(count);
  out.rows = static_cast<int>(rows);
  out.cols = static_cast<int>(cols);
  out.pixels.resize(std::size_t{count} * rows * cols);
  f.read(out.pixels.data(), out.pixels.size());
  return out;
}

std::vector<std::uint8_t> readIdxLabels(const std::string& path) {
  GzFile f(path);
  expectMagic(f, 2049, path, "labels");
  const auto count = f.be32();
  if (count > 10'000'000) throw InvalidArgument(fmt::format("{}: implausible label count {}", path, count));
  std::vector<std::uint8_t> labels(count);
  f.read(labels.data(), labels.size());
  return labels;
}

}  // namespace dyndnn
