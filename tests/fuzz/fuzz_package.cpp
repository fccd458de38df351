// libFuzzer target for the package reader: container layout, JSON header, metadata, architecture spec,
// tensor table and operating points. The checksum is checked too, but validation also runs without it so
// mutations reach the checks behind it. Anything but a dyndnn::Error is a finding.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "dyndnn/error.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An in-memory file: the reader maps files, so give it one without touching the disk.
  static const int fd = memfd_create("dyndnn-fuzz", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  for (bool verify : {false, true}) {
    try {
      auto package = dyndnn::format::Package::open(path, verify);
      auto supernet = dyndnn::nn::openSupernet(package);
      for (std::size_t i = 0; i < package.operating_points.size(); ++i)
        supernet->lower(package.operating_points[i].config, static_cast<int>(i));
    } catch (const dyndnn::Error&) {
      // a clear error is the expected outcome for damaged input
    }
  }
  return 0;
}
