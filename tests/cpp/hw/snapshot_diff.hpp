#pragma once
// Which files differ between two snapshots of a fake tree, and how: so a test can assert that exactly the
// expected files changed to exactly the expected bytes.

#include <map>
#include <string>

#include <catch2/catch.hpp>

namespace Catch {
// Readable failures: print file maps as path = "content" lines.
template <>
struct StringMaker<std::map<std::string, std::string>> {
  static std::string convert(const std::map<std::string, std::string>& files) {
    std::string s = "{";
    for (const auto& [path, content] : files) s += "\n  " + path + " = " + ::Catch::Detail::stringify(content);
    return s + (files.empty() ? "}" : "\n}");
  }
};
}  // namespace Catch

namespace dyndnn::hw::test {

/// path -> new content, for every file whose content differs (or that appeared); "<gone>" for removed files.
inline std::map<std::string, std::string> changedFiles(const std::map<std::string, std::string>& before,
                                                       const std::map<std::string, std::string>& after) {
  std::map<std::string, std::string> changed;
  for (const auto& [path, content] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != content) changed[path] = content;
  }
  for (const auto& [path, content] : before)
    if (!after.count(path)) changed[path] = "<gone>";
  return changed;
}

}  // namespace dyndnn::hw::test
