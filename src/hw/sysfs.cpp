// The one sysfs/procfs helper. Reads and writes use plain POSIX calls because sysfs attributes are read and
// written in one system call each; iostreams would buffer and hide errno, which is what tells the user the
// remedy (EACCES: root or udev rule; EINVAL: a value the driver does not accept).

#include "sysfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/affinity.hpp"  // formatCpuList

namespace dyndnn::hw {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool parseInt(const std::string& text, std::int64_t& out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || end != t.c_str() + t.size()) return false;
  out = v;
  return true;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string readError(const std::string& path, int err) {
  if (err == ENOENT)
    return fmt::format("{} does not exist: the kernel does not offer this file here (driver not loaded, or a "
                       "different board); choose another backend",
                       path);
  if (err == EACCES || err == EPERM)
    return fmt::format("permission denied reading {}: run as root or add a udev rule that makes it readable", path);
  return fmt::format("cannot read {}: {}", path, std::strerror(err));
}

}  // namespace

Sysfs::Sysfs(std::string root) : root_(std::move(root)) {
  if (root_.empty()) root_ = "/";
  if (root_.back() != '/') root_ += '/';
  struct stat st {};
  if (::stat(root_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw HardwareError(fmt::format("sysfs root {} is not a directory; pass an existing directory", root_));
}

std::string relativeSysPath(const std::string& rel) {
  std::size_t i = 0;
  while (i < rel.size() && rel[i] == '/') ++i;
  return rel.substr(i);
}

std::string Sysfs::path(const std::string& rel) const { return root_ + relativeSysPath(rel); }

bool Sysfs::exists(const std::string& rel) const { return ::access(path(rel).c_str(), F_OK) == 0; }

bool Sysfs::isDirectory(const std::string& rel) const {
  struct stat st {};
  return ::stat(path(rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Sysfs::writable(const std::string& rel) const { return ::access(path(rel).c_str(), W_OK) == 0; }

std::vector<std::string> Sysfs::list(const std::string& rel) const {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path(rel).c_str());
  if (!dir) return names;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::string> Sysfs::tryRead(const std::string& rel) const {
  const int fd = ::open(path(rel).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (1u << 20)) break;  // sysfs attributes are one page; a bigger file is not one
  }
  ::close(fd);
  return out;
}

std::string Sysfs::read(const std::string& rel) const {
  const std::string p = path(rel);
  if (auto content = tryRead(rel)) return *content;
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);  // again, to learn why
  const int err = fd < 0 ? errno : EIO;
  if (fd >= 0) ::close(fd);
  throw HardwareError(readError(p, err));
}

std::string Sysfs::readTrimmed(const std::string& rel) const { return trim(read(rel)); }

std::int64_t Sysfs::readInt(const std::string& rel) const {
  const std::string text = read(rel);
  std::int64_t v = 0;
  if (!parseInt(text, v))
    throw HardwareError(fmt::format("{} holds '{}', not an integer: the driver is not the one expected; choose "
                                    "another backend",
                                    path(rel), trim(text).substr(0, 64)));
  return v;
}

std::optional<std::int64_t> Sysfs::tryReadInt(const std::string& rel) const {
  auto text = tryRead(rel);
  std::int64_t v = 0;
  if (!text || !parseInt(*text, v)) return std::nullopt;
  return v;
}

std::vector<std::int64_t> Sysfs::readInts(const std::string& rel) const {
  std::vector<std::int64_t> values;
  for (const auto& word : readWords(rel)) {
    std::int64_t v = 0;
    if (!parseInt(word, v))
      throw HardwareError(fmt::format("{} holds '{}' where a list of integers was expected; choose another backend",
                                      path(rel), word.substr(0, 64)));
    values.push_back(v);
  }
  return values;
}

std::vector<std::string> Sysfs::readWords(const std::string& rel) const {
  std::istringstream in(read(rel));
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

void Sysfs::write(const std::string& rel, const std::string& value) const {
  const std::string p = path(rel);
  if (!isKnobPath(rel))
    throw HardwareError(fmt::format("refusing to write {}: not a known knob file (dyndnn writes only cpufreq, "
                                    "devfreq and INA231 enable files)",
                                    p));
  const int fd = ::open(p.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS)
      throw HardwareError(fmt::format("permission denied writing {}: run as root, or add a udev rule giving your "
                                      "group write access (see README, 'Hardware knobs and sensors')",
                                      p));
    if (err == ENOENT)
      throw HardwareError(fmt::format("{} does not exist: this kernel/driver does not offer the knob; choose another "
                                      "backend or frequency mode",
                                      p));
    throw HardwareError(fmt::format("cannot open {} for writing: {}", p, std::strerror(err)));
  }
  const char* data = value.data();
  std::size_t left = value.size();
  int err = 0;
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (err == EINVAL || err == EBUSY)
    throw HardwareError(fmt::format("the kernel rejected '{}' for {} ({}): the value is outside what the driver "
                                    "accepts now; pick one of the offered levels",
                                    trim(value), p, std::strerror(err)));
  if (err != 0) throw HardwareError(fmt::format("writing '{}' to {} failed: {}", trim(value), p, std::strerror(err)));
}

bool isKnobPath(const std::string& rel_in) {
  const std::string rel = relativeSysPath(rel_in);
  if (rel.find("..") != std::string::npos || rel.find("//") != std::string::npos) return false;
  static const char* const kCpufreqFiles[] = {"/scaling_governor", "/scaling_setspeed", "/scaling_min_freq",
                                              "/scaling_max_freq"};
  if (startsWith(rel, "sys/devices/system/cpu/") && rel.find("cpufreq/") != std::string::npos) {
    for (const char* f : kCpufreqFiles)
      if (endsWith(rel, f)) return true;
  }
  if (startsWith(rel, "sys/") && rel.find("/devfreq/") != std::string::npos) {
    for (const char* f : {"/governor", "/min_freq", "/max_freq", "/userspace/set_freq"})
      if (endsWith(rel, f)) return true;
  }
  if (startsWith(rel, "sys/bus/i2c/drivers/INA231/") && endsWith(rel, "/enable")) return true;
  return false;
}

std::vector<int> parseCpuList(const std::string& text) {
  std::vector<int> cpus;
  const std::string t = trim(text);
  if (t.empty()) return cpus;
  std::stringstream in(t);
  for (std::string part; std::getline(in, part, ',');) {
    int a = 0, b = 0;
    char dash = 0;
    std::istringstream p(part);
    if (!(p >> a)) throw HardwareError(fmt::format("bad CPU list '{}'", t));
    b = a;
    if (p >> dash) {
      if (dash != '-' || !(p >> b)) throw HardwareError(fmt::format("bad CPU list '{}'", t));
    }
    if (a < 0 || b < a || b > 4095) throw HardwareError(fmt::format("bad CPU list '{}'", t));
    for (int c = a; c <= b; ++c) cpus.push_back(c);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string formatCpuList(const std::vector<int>& cpus_in) {
  std::vector<int> cpus = cpus_in;
  std::sort(cpus.begin(), cpus.end());
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? std::to_string(cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace dyndnn::hw
