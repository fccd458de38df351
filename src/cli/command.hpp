#pragma once
// A verb's command line, declared once with CLI11 (Debian's libcli11-dev): the help text, the type and range
// checks and the unknown-option errors all come from the same declarations, so the help cannot drift from what
// is parsed. Errors keep the CLI's style: one line, what is wrong, and where to look (--help).

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dyndnn/model.hpp"

namespace dyndnn::cli {

/// Checks for option values, without the notes CLI11 would add to the value's name in the help ("N:POSITIVE"):
/// the option's description says what is allowed, and a bad value's error says it again.
CLI::Validator positive();      // > 0
CLI::Validator nonNegative();   // >= 0
CLI::Validator inRange(int lo, int hi);
inline CLI::Validator oneOf(std::vector<std::string> values) { return CLI::IsMember(std::move(values)).description(""); }

class Command {
 public:
  /// `usage` is the verb's synopsis after "dyndnn VERB", `description` the paragraph under it.
  Command(const std::string& verb, const std::string& usage, const std::string& description);

  CLI::App* operator->() { return &app_; }

  /// The package file every verb but `hw` takes first.
  CLI::Option* addFile(std::string& file);
  /// --op NAME or --config JSON (not both): the sub-network to run; choice.applyTo(model) switches to it.
  struct SubnetChoice {
    std::string op, config;
    void applyTo(DynamicModel& model) const;
  };
  void addSubnet(SubnetChoice& choice);
  /// --json, which every verb offers.
  CLI::Option* addJson(bool& json);
  /// --threads N (N >= 1), with the verb's default in the help.
  CLI::Option* addThreads(int& threads, const std::string& what);
  /// --backend NAME (ModelOptions::backend).
  CLI::Option* addBackend(std::string& backend);

  /// Parses `argv` (the arguments after the verb). Returns false when --help was asked for and printed (the verb
  /// then exits 0); throws dyndnn::InvalidArgument for anything CLI11 rejects.
  bool parse(const std::vector<std::string>& argv);

 private:
  CLI::App app_;
};

}  // namespace dyndnn::cli
