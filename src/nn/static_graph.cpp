#include "nn/static_graph.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <set>

#include "dyndnn/error.hpp"
#include "dyndnn/version.hpp"
#include "engine/graph_io.hpp"
#include "nn/checked_tensor.hpp"

namespace dyndnn::nn {

StaticGraph::StaticGraph(format::Package& pkg) {
  const auto& path = pkg.path();
  const auto graph = pkg.arch.find("graph");
  if (graph == pkg.arch.end()) failPackage(path, "metadata field 'arch.graph' is missing (the exported op graph)");
  std::set<std::string> used;
  auto lookup = [&](const std::string& name, const std::string& role) {
    const auto* e = pkg.file.find(name);
    if (e == nullptr) failPackage(path, fmt::format("missing tensor '{}' ({})", name, role));
    used.insert(name);
    return checkedTensor(pkg, name, e->shape, role);  // F32 and finite; the graph's builders check the shape
  };
  try {
    graph_ = engine::graphFromJson(*graph, lookup);
  } catch (const InvalidArgument& e) {
    failPackage(path, fmt::format("metadata field 'arch.graph': {}", e.what()));
  }
  for (const auto& e : pkg.file.entries())
    if (!used.count(e.name))
      failPackage(path, fmt::format("unexpected tensor '{}': no node of the stored graph reads it", e.name));
  for (const auto& n : graph_.nodes()) {
    if (n.op == engine::Op::BatchNorm && !(n.var >= 0).all().item<bool>())
      failPackage(path, fmt::format("batch_norm node '{}': negative variance", n.name));
    for (const auto* t : {&n.weight, &n.bias})
      if (t->defined() && n.op != engine::Op::BatchNorm) metrics_.params += t->numel();
    if (n.op == engine::Op::BatchNorm) metrics_.params += n.weight.numel() + n.bias.numel();
  }
  const auto& in = graph_.inputShape();
  if (in.size() != 4 || in[2] != in[3])
    failPackage(path, fmt::format("metadata field 'arch.graph': input {} is not a square image [1, C, R, R]",
                                  engine::shapeText(in)));
  if (in[1] != pkg.input.channels)
    failPackage(path, fmt::format("metadata field 'input.channels' = {} disagrees with the graph's input {}",
                                  pkg.input.channels, engine::shapeText(in)));
  if (pkg.input.resolutions != std::vector<int>{static_cast<int>(in[2])})
    failPackage(path, fmt::format("metadata field 'input.resolutions' must be [{}], the graph's input resolution",
                                  in[2]));
  if (graph_.outputShape().size() != 2)
    failPackage(path, fmt::format("metadata field 'arch.graph': output {} is not [1, classes]",
                                  engine::shapeText(graph_.outputShape())));
  config_.r = static_cast<int>(in[2]);
  metrics_.macs = graph_.totalMacs();
  // The source family's own count when the exporter recorded it (a family may lower to more arithmetic than it
  // counts, e.g. zero blocks it keeps for pruning), so the numbers stay the ones the operating point had.
  const auto source = pkg.arch.find("source");
  if (source != pkg.arch.end() && source->is_object())
    for (auto [field, value] : {std::pair{"macs", &metrics_.macs}, std::pair{"params", &metrics_.params}}) {
      const auto it = source->find(field);
      if (it == source->end()) continue;
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
        failPackage(path, fmt::format("metadata field 'arch.source.{}': must be a non-negative integer", field));
      *value = it->get<std::int64_t>();
    }
  normaliseOperatingPoints(pkg, *this, "a static package bakes its BN statistics into the graph");
}

SubnetConfig StaticGraph::normalise(const SubnetConfig& c) const {
  if (!c.knobs.empty())
    throw InvalidArgument(fmt::format("config has knob '{}': a static package holds one sub-network and no knobs "
                                      "(use {{}} or {{\"r\": {}}})",
                                      c.knobs.begin()->first, config_.r));
  if (c.r != 0 && c.r != config_.r)
    throw InvalidArgument(fmt::format("config field 'r': {} where this static package runs only at {}", c.r, config_.r));
  return config_;
}

Metrics StaticGraph::cost(const SubnetConfig& config) const {
  (void)normalise(config);
  return metrics_;
}

engine::Graph StaticGraph::lower(const SubnetConfig& config, int /*operating_point*/) const {
  (void)normalise(config);
  return graph_;
}

nlohmann::json staticPackageMetadata(const nlohmann::json& graph, const InputSpec& input, const nlohmann::json& source,
                                     const OperatingPoint& op) {
  const auto r = graph["nodes"][0]["shape"][2].get<int>();
  nlohmann::json point = {{"name", op.name}, {"config", {{"r", r}}}};
  if (op.metrics.accuracy) point["metrics"] = {{"accuracy", *op.metrics.accuracy}};
  return {{"format_version", kFormatVersion},
          {"family", kStaticGraphFamily},
          {"arch", {{"graph", graph}, {"source", source}}},
          {"input",
           {{"channels", input.channels},
            {"mean", input.mean},
            {"std", input.std},
            {"resolutions", {r}},
            {"crop_ratio", input.crop_ratio}}},
          {"operating_points", {point}}};
}

}  // namespace dyndnn::nn
