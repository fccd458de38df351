#pragma once
// The dyndnn command-line verbs; each returns the process exit status.

#include <string>
#include <vector>

namespace dyndnn::cli {

int runInfo(const std::vector<std::string>& args);
int runInfer(const std::vector<std::string>& args);
int runBench(const std::vector<std::string>& args);
int runEval(const std::vector<std::string>& args);
int runHw(const std::vector<std::string>& args);
int runProfile(const std::vector<std::string>& args);
int runRun(const std::vector<std::string>& args);
int runExport(const std::vector<std::string>& args);
int runSearch(const std::vector<std::string>& args);

}  // namespace dyndnn::cli
