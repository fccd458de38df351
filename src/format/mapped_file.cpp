#include "format/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::format {

// Writable copy-on-write pages: a stray in-place write into a weight view copies a page instead of
// crashing the host; the file itself is never modified.
std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw IoError(fmt::format("{}: cannot open: {} (check the path and read permission)", path,
                              std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = errno;
    ::close(fd);
    throw IoError(fmt::format("{}: not a regular file{}{}", path, err ? ": " : "", err ? std::strerror(err) : ""));
  }
  auto size = static_cast<std::size_t>(st.st_size);
  const std::uint8_t* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw IoError(fmt::format("{}: cannot memory-map {} bytes: {}", path, size, std::strerror(err)));
    }
    data = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);  // the mapping stays valid after the descriptor is closed
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
}

void MappedFile::dropResidentPages() const {
  if (data_ != nullptr) ::madvise(const_cast<std::uint8_t*>(data_), size_, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

}  // namespace dyndnn::format
