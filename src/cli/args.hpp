#pragma once
// Minimal argument parsing for the dyndnn verbs: positionals, --flag and --key VALUE (or --key=VALUE).

#include <map>
#include <set>
#include <string>
#include <vector>

namespace dyndnn::cli {

class Args {
 public:
  /// `flags` take no value, `options` take one. Unknown --names are an InvalidArgument.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& flags,
       const std::set<std::string>& options);
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& name) const { return flags_.count(name) || values_.count(name); }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  int getInt(const std::string& name, int fallback) const;

 private:
  std::vector<std::string> positional_;
  std::set<std::string> flags_;
  std::map<std::string, std::string> values_;
};

}  // namespace dyndnn::cli
