#pragma once
// Fake sysfs/procfs trees in temporary directories, laid out as the real boards lay them out (file names,
// units, formats), so backends run unchanged against them. Values come from FACTS sections 4 and 5.

#include <map>
#include <string>

namespace dyndnn::hw::test {

class FakeTree {
 public:
  FakeTree();
  ~FakeTree();
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }
  /// Creates parent directories as needed.
  void write(const std::string& rel, const std::string& content);
  std::string read(const std::string& rel) const;
  void symlink(const std::string& target_rel, const std::string& link_rel);
  void chmod(const std::string& rel, int mode);
  /// Every regular file and its content, by relative path.
  std::map<std::string, std::string> snapshot() const;

 private:
  std::string root_;
};

/// Jetson Xavier NX (L4T 32): 3 Carmel clusters (policy0/2/4), GPU devfreq, INA3221 iio rails, thermal zones.
void buildXavierNx(FakeTree& t);
/// Odroid XU3 (mainline): A7 policy0 (cpu0-3) and A15 policy4 (cpu4-7), no cpu_capacity, INA231 sensors.
void buildOdroidXu3(FakeTree& t);
/// x86 laptop with intel_pstate: 4 policies, no scaling_available_frequencies, no userspace governor, RAPL.
void buildIntelLaptop(FakeTree& t);

/// Runs `body` in a child process as user nobody (root ignores file modes); returns the child's exit status,
/// which is body's return value, or 100 + signal if it died.
int runAsNobody(int (*body)(const std::string&), const std::string& arg);

}  // namespace dyndnn::hw::test
