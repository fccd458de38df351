#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include "api/export_subnet.hpp"
#include "dyndnn/error.hpp"
#include "engine/graph_io.hpp"
#include "format/package_writer.hpp"
#include "nn/static_graph.hpp"

namespace dyndnn {

void exportSubnet(const ModelCore& core, const ModelCore::Request& r, const std::string& path) {
  at::NoGradGuard no_grad;
  engine::NamedTensors tensors;
  const auto graph = engine::graphToJson(core.supernet().lower(r.config, r.operating_point), tensors);
  OperatingPoint op;
  op.name = r.name.empty() ? "exported" : r.name;
  if (r.operating_point >= 0) op.metrics.accuracy = core.operatingPoints()[static_cast<std::size_t>(r.operating_point)].metrics.accuracy;
  const nlohmann::json source = {{"family", core.info().family},
                                 {"package", core.info().path},
                                 {"operating_point", r.name.empty() ? nlohmann::json() : nlohmann::json(r.name)},
                                 {"config", nlohmann::json::parse(r.config.toJson())},
                                 {"macs", core.supernet().cost(r.config).macs},
                                 {"params", core.supernet().cost(r.config).params},
                                 {"bn_stats", r.operating_point >= 0 && core.operatingPoints()[static_cast<std::size_t>(r.operating_point)].has_bn_stats ? "operating point" : "supernet"}};
  // Written next to the destination and renamed over it: exporting onto the package being read cannot truncate it.
  format::writePackageAtomically(path, nn::staticPackageMetadata(graph, core.info().input, source, op), tensors);
}

}  // namespace dyndnn
