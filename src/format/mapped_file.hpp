#pragma once
// A read-only memory mapping of a whole file; tensors of a package point into it without copying.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dyndnn::format {

class MappedFile {
 public:
  /// Map `path` read-only. Throws IoError naming the path and the system's reason.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  /// Let the kernel drop the resident pages (they are clean file pages; touching them again re-reads them
  /// from the page cache). Called once validation has read every byte, so only the slices that plans
  /// actually read stay resident.
  void dropResidentPages() const;

 private:
  MappedFile(std::string path, const std::uint8_t* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace dyndnn::format
