#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

#include "cli/command.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {
namespace {


nlohmann::json toJson(const DynamicModel& m) {
  const auto& i = m.info();
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : m.operatingPoints()) {
    ops.push_back({{"name", op.name},
                   {"config", nlohmann::json::parse(op.config.toJson())},
                   {"bn_stats", op.has_bn_stats},
                   {"macs", op.metrics.macs},
                   {"params", op.metrics.params},
                   {"accuracy", op.metrics.accuracy ? nlohmann::json(*op.metrics.accuracy) : nlohmann::json()}});
  }
  return {{"path", i.path},
          {"family", i.family},
          {"format_version", i.format_version},
          {"file_bytes", i.file_bytes},
          {"tensors", i.num_tensors},
          {"classes", i.num_classes},
          {"input",
           {{"channels", i.input.channels},
            {"mean", i.input.mean},
            {"std", i.input.std},
            {"resolutions", i.input.resolutions},
            {"crop_ratio", i.input.crop_ratio}}},
          {"operating_points", ops}};
}

// Over every operating point: how many nodes run on each kernel, and which run on reference code.
int printKernels(const DynamicModel& model, bool json) {
  std::map<std::string, int> count;
  nlohmann::json reference = nlohmann::json::array();
  for (const auto& op : model.operatingPoints())
    for (const auto& k : model.kernels(op.name)) {
      ++count[k.kernel];
      if (k.reference) reference.push_back({{"operating_point", op.name}, {"op", k.op}, {"layer", k.layer},
                                            {"kernel", k.kernel}});
    }
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"backend", model.backend()}, {"kernels", count}, {"reference", reference}}.dump(2));
    return 0;
  }
  fmt::print("kernels over {} operating point(s), backend {} for the active one:\n", model.operatingPoints().size(),
             model.backend());
  for (const auto& [kernel, n] : count) fmt::print("  {:>6}  {}\n", n, kernel);
  fmt::print("nodes on reference kernels: {}\n", reference.size());
  for (const auto& r : reference)
    fmt::print("  {} {} {} -> {}\n", r["operating_point"].get<std::string>(), r["op"].get<std::string>(),
               r["layer"].get<std::string>(), r["kernel"].get<std::string>());
  return 0;
}

}  // namespace

int runInfo(const std::vector<std::string>& argv) {
  Command cmd("info", "FILE [--json] [--graph OP | --kernels] [--backend NAME]",
              "Validate a .dyn package (checksum, tensors against the architecture, operating points) and print its "
              "family, format version, input spec and operating points with config, MACs, params and accuracy.");
  std::string file, graph;
  bool json = false, kernels = false;
  ModelOptions options;
  cmd.addFile(file);
  cmd.addJson(json);
  cmd->add_option("--graph", graph,
                  "the op graph of operating point OP as this machine runs it: per node the op and its attributes, "
                  "fused post-ops, inputs, output shape, MACs, layer name and the kernel chosen")
      ->type_name("OP");
  cmd->add_flag("--kernels", kernels,
                "per kernel, how many nodes of all operating points run on it, and every node that runs on a "
                "library's reference code");
  cmd.addBackend(options.backend);
  if (!cmd.parse(argv)) return 0;
  options.prefetch_operating_points = false;  // --kernels builds them in turn; no background work meanwhile
  auto model = DynamicModel::load(file, options);
  if (kernels) return printKernels(model, json);
  if (!graph.empty()) {
    fmt::print("{}", model.describeGraph(graph));
    return 0;
  }
  if (json) {
    fmt::print("{}\n", toJson(model).dump(2));
    return 0;
  }
  const auto& i = model.info();
  fmt::print("{}\n  family {}, format version {}, {:.1f} MB, {} tensors, checksum ok\n", i.path, i.family,
             i.format_version, i.file_bytes / 1e6, i.num_tensors);
  fmt::print("  input: {} channel(s), resolutions {}..{}, {} classes\n", i.input.channels, i.input.resolutions.front(),
             i.input.resolutions.back(), i.num_classes);
  fmt::print("  {} operating point(s):\n", model.operatingPoints().size());
  fmt::print("    {:<16} {:>9} {:>8} {:>8}  {}\n", "name", "MMACs", "Mparams", "top-1", "config");
  for (const auto& op : model.operatingPoints()) {
    fmt::print("    {:<16} {:>9.1f} {:>8.2f} {:>8}  {}{}\n", op.name, op.metrics.macs / 1e6, op.metrics.params / 1e6,
               op.metrics.accuracy ? fmt::format("{:.2f}%", *op.metrics.accuracy) : "-", op.config.summary(),
               op.has_bn_stats ? " (own BN stats)" : "");
  }
  return 0;
}

}  // namespace dyndnn::cli
