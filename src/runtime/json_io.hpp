#pragma once
// Whole-file text reads and atomic writes (temp file in the same directory, then rename) for profiles and traces.

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::runtime {

inline std::string readTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("cannot open {} for reading; check the path and permissions", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void writeFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(fmt::format("cannot write {}; check that the directory exists and is writable", tmp));
    out << text;
    if (!out.flush()) throw IoError(fmt::format("writing {} failed (disk full?)", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw IoError(fmt::format("cannot rename {} to {}", tmp, path));
}

}  // namespace dyndnn::runtime
