// dyndnn: command-line tool. Every error ends the process with status 1 and a one-line reason.

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace {

constexpr const char* kUsage = R"(usage: dyndnn <verb> [arguments]

verbs:
  info FILE [--json]                      package contents: family, operating points, MACs, params, accuracy
  infer FILE [--op NAME | --config JSON] [--image PATH] [--threads N] [--json]
                                          run one inference and print the top classes
  eval FILE --data DIR [--op NAME] [--limit N] [--json]
                                          top-1 of every operating point on an IDX test set
  bench FILE [--op NAME | --config JSON] [--threads N] [--runs N] [--json]
                                          latency (median/p90/p99) and GFLOP/s of one sub-network
  hw [--json] [--restore STATEFILE]       hardware knobs and sensors of this machine; restore after a crash
  profile FILE [-o PROFILE.json]          latency/power of every operating point x hardware state (runtime manager)
  run FILE --target-ms T [--min-acc A] [--power-w P] [--frames N] [--trace OUT.json]
                                          the runtime manager on the model's test frames
  export FILE (--op NAME | --config JSON) OUT
                                          one sub-network as a static package (only its weights)
  search FILE --data DIR --out OUT.dyn [--budget-minutes M] [--points N] [--plot PNG]
                                          operating points for this device and data (resumable)

dyndnn <verb> --help shows a verb's options; dyndnn --version prints the version.
)";

struct Verb {
  const char* name;
  int (*run)(const std::vector<std::string>&);
};

constexpr Verb kVerbs[] = {{"info", dyndnn::cli::runInfo}, {"infer", dyndnn::cli::runInfer},
                           {"bench", dyndnn::cli::runBench}, {"eval", dyndnn::cli::runEval}, {"hw", dyndnn::cli::runHw},
                           {"profile", dyndnn::cli::runProfile},
                           {"run", dyndnn::cli::runRun}, {"export", dyndnn::cli::runExport},
                           {"search", dyndnn::cli::runSearch}};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  if (args[0] == "--version") {
    fmt::print("dyndnn {}\n", dyndnn::version());
    return 0;
  }
  for (const auto& verb : kVerbs) {
    if (args[0] != verb.name) continue;
    try {
      return verb.run({args.begin() + 1, args.end()});
    } catch (const std::exception& e) {
      std::string what = e.what();  // LibTorch errors append a backtrace: keep the first line
      fmt::print(stderr, "dyndnn {}: error: {}\n", verb.name, what.substr(0, what.find('\n')));
      return 1;
    }
  }
  fmt::print(stderr, "dyndnn: unknown verb '{}'; run `dyndnn --help` for the list\n", args[0]);
  return 1;
}
