#include "cli/args.hpp"

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& flags,
           const std::set<std::string>& options) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    auto eq = a.find('=');
    auto name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (flags.count(name)) {
      flags_.insert(name);
    } else if (options.count(name)) {
      if (eq != std::string::npos) {
        values_[name] = a.substr(eq + 1);
      } else if (i + 1 < argv.size()) {
        values_[name] = argv[++i];
      } else {
        throw InvalidArgument(fmt::format("option --{} needs a value", name));
      }
    } else {
      throw InvalidArgument(fmt::format("unknown option --{} (see --help)", name));
    }
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int Args::getInt(const std::string& name, int fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    std::size_t used = 0;
    int v = std::stoi(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw InvalidArgument(fmt::format("option --{}: '{}' is not an integer", name, it->second));
}

}  // namespace dyndnn::cli
