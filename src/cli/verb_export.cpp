#include <ATen/ATen.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {

int runExport(const std::vector<std::string>& argv) {
  Command cmd("export", "FILE (--op NAME | --config JSON) OUT [--json]",
              "Write one sub-network as a static package: its op graph and only the weights it reads, with its BN "
              "statistics baked in. OUT loads like any package (one operating point) and gives the same outputs; "
              "this is checked on a random input before the command succeeds.");
  std::string file, out;
  Command::SubnetChoice subnet;
  bool json = false;
  cmd.addFile(file);
  cmd->add_option("OUT", out, "the static package to write (replaced if it exists)")->required()->type_name("OUT");
  cmd.addSubnet(subnet);
  cmd.addJson(json);
  if (!cmd.parse(argv)) return 0;
  if (subnet.op.empty() && subnet.config.empty())
    throw InvalidArgument("say which sub-network to export: --op NAME (see `dyndnn info FILE`) or --config JSON");

  ModelOptions options;
  options.prefetch_operating_points = false;
  auto model = DynamicModel::load(file, options);
  if (!subnet.op.empty()) model.exportSubnet(subnet.op, out);
  else model.exportSubnet(SubnetConfig::fromJson(subnet.config), out);

  // The same input through both: the exported graph must compute what the sub-network computes here.
  subnet.applyTo(model);
  auto exported = DynamicModel::load(out, options);
  const auto r = exported.activeConfig().r;
  const auto x = at::randn({1, model.info().input.channels, r, r}, at::TensorOptions().dtype(at::kFloat));
  const auto want = model.infer(x), got = exported.infer(x);
  const double err = (got - want).abs().max().item<double>() / std::max(want.abs().max().item<double>(), 1e-30);
  if (!(err <= 1e-5))
    throw Error(fmt::format("{}: the exported sub-network's output differs from the original's by {:.2e} (relative) "
                            "on a random input; please report this",
                            out, err));
  const auto& op = exported.operatingPoints().front();
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"path", out},
                                      {"operating_point", op.name},
                                      {"file_bytes", exported.info().file_bytes},
                                      {"source_bytes", model.info().file_bytes},
                                      {"tensors", exported.info().num_tensors},
                                      {"macs", op.metrics.macs},
                                      {"params", op.metrics.params},
                                      {"max_relative_difference", err}}
                           .dump(2));
    return 0;
  }
  fmt::print("{}: static package of '{}' ({}), {:.2f} MB ({:.1f}% of {}), {} tensors, {:.1f} MMACs, {:.2f} Mparams\n",
             out, op.name, model.activeConfig().summary(), exported.info().file_bytes / 1e6,
             100.0 * static_cast<double>(exported.info().file_bytes) / static_cast<double>(model.info().file_bytes),
             file, exported.info().num_tensors, op.metrics.macs / 1e6, op.metrics.params / 1e6);
  fmt::print("  check: outputs on a random input agree within {:.1e} (relative)\n", err);
  return 0;
}

}  // namespace dyndnn::cli
