#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

}  // namespace

int runInfo(const std::vector<std::string>& argv) {
  Command cmd("info", "FILE [--json] [--graph OP]",
              "Validate a .dyn package (checksum, tensors against the architecture, operating points) and print its "
              "family, format version, input spec and operating points with config, MACs, params and accuracy.");
  std::string file, graph;
  bool json = false;
  cmd.addFile(file);
  cmd.addJson(json);
  cmd->add_option("--graph", graph,
                  "the op graph of operating point OP as this machine runs it: per node the op and its attributes, "
                  "fused post-ops, inputs, output shape, MACs, layer name and the kernel chosen")
      ->type_name("OP");
  if (!cmd.parse(argv)) return 0;
  auto model = DynamicModel::load(file);
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
