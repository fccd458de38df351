#include "engine/graph_io.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "dyndnn/error.hpp"

namespace dyndnn::engine {
namespace {

using nlohmann::json;

constexpr Op kOps[] = {Op::Input,   Op::Constant,  Op::Conv2d,        Op::Linear,  Op::MatMul,  Op::BatchNorm,
                       Op::GlobalAvgPool, Op::MaxPool, Op::AvgPool,   Op::Add,     Op::Mul,     Op::Activation,
                       Op::LayerNorm, Op::Softmax, Op::Reshape,       Op::Transpose, Op::Slice, Op::Concat};
constexpr Act kActs[] = {Act::ReLU, Act::ReLU6, Act::HSwish, Act::HSigmoid, Act::Sigmoid, Act::GELU};

std::string describe(std::size_t index, const std::string& op, const std::string& name) {
  return fmt::format("node #{} {}{}", index, op, name.empty() ? "" : " '" + name + "'");
}

// Names the tensors of a graph: views of the same memory get one name, so a weight two nodes share (or a view a
// later node re-reads) is stored once.
class TensorNamer {
 public:
  explicit TensorNamer(NamedTensors& out) : out_(out) {
    for (const auto& [name, t] : out_) taken_.insert(name);
  }

  std::string name(const at::Tensor& t, const Node& n, std::size_t index, const char* field) {
    const auto key = std::make_tuple(t.storage().data(), t.storage_offset(), t.sizes().vec(), t.strides().vec());
    auto it = seen_.find(key);
    if (it != seen_.end()) return it->second;
    std::string name = fmt::format("{}.{}", n.name.empty() ? fmt::format("node{}", index) : n.name, field);
    if (taken_.count(name)) name = fmt::format("node{}.{}", index, field);
    taken_.insert(name);
    seen_.emplace(key, name);
    out_.emplace_back(name, t.to(at::kCPU, at::kFloat).contiguous());
    return name;
  }

 private:
  NamedTensors& out_;
  std::set<std::string> taken_;
  std::map<std::tuple<const void*, std::int64_t, std::vector<std::int64_t>, std::vector<std::int64_t>>, std::string>
      seen_;
};

// Reads one node's description; every error names the node and the field.
class NodeReader {
 public:
  NodeReader(const json& j, std::size_t index, const TensorLookup& lookup) : j_(j), lookup_(lookup) {
    if (!j.is_object()) throw InvalidArgument(fmt::format("node #{}: must be an object", index));
    const auto op = j.find("op");
    if (op == j.end() || !op->is_string()) throw InvalidArgument(fmt::format("node #{}: 'op' must be a string", index));
    const auto name = j.find("name");
    if (name != j.end() && !name->is_string()) throw InvalidArgument(fmt::format("node #{}: 'name' must be a string", index));
    name_ = name == j.end() ? std::string() : name->get<std::string>();
    where_ = describe(index, op->get<std::string>(), name_);
    for (Op o : kOps)
      if (op->get<std::string>() == opName(o)) op_ = o;
    if (!op_) throw InvalidArgument(where_ + ": unknown op (this build knows the ops of engine/graph.hpp)");
  }

  Op op() const { return *op_; }
  const std::string& name() const { return name_; }
  const std::string& where() const { return where_; }

  std::int64_t integer(const char* field) const {
    const auto& v = at(field);
    if (!v.is_number_integer()) fail(field, "must be an integer");
    return v.get<std::int64_t>();
  }
  int small(const char* field) const {
    const auto v = integer(field);
    if (v < -4096 || v > 4096) fail(field, fmt::format("{} is out of range -4096..4096", v));
    return static_cast<int>(v);
  }
  double number(const char* field) const {
    const auto& v = at(field);
    if (!v.is_number()) fail(field, "must be a number");
    return v.get<double>();
  }
  bool flag(const char* field) const {
    auto it = j_.find(field);
    if (it == j_.end()) return false;
    if (!it->is_boolean()) fail(field, "must be true or false");
    return it->get<bool>();
  }
  std::vector<std::int64_t> list(const char* field) const {
    const auto& v = at(field);
    if (!v.is_array()) fail(field, "must be a list of integers");
    std::vector<std::int64_t> out;
    for (const auto& x : v) {
      if (!x.is_number_integer()) fail(field, "must be a list of integers");
      out.push_back(x.get<std::int64_t>());
    }
    return out;
  }
  // Inputs must be earlier nodes: the graph stays in topological order and has no cycles.
  std::vector<int> inputs(std::size_t index, std::size_t count) const {
    const auto ids = list("inputs");
    if (count && ids.size() != count) fail("inputs", fmt::format("has {} entries, {} takes {}", ids.size(), opName(*op_), count));
    std::vector<int> out;
    for (auto id : ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= index)
        fail("inputs", fmt::format("%{} is not an earlier node (0..{})", id, index == 0 ? 0 : index - 1));
      out.push_back(static_cast<int>(id));
    }
    return out;
  }
  Act act() const {
    const auto& v = at("act");
    if (v.is_string())
      for (Act a : kActs)
        if (v.get<std::string>() == actName(a)) return a;
    fail("act", "must be one of relu, relu6, hswish, hsigmoid, sigmoid, gelu");
  }
  at::Tensor tensor(const char* field, bool optional = false) const {
    auto it = j_.find(field);
    if (it == j_.end() && optional) return {};
    if (it == j_.end() || !it->is_string()) fail(field, "must name a tensor of the package");
    return lookup_(it->get<std::string>(), fmt::format("{} of {}", field, where_));
  }

  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw InvalidArgument(fmt::format("{}: '{}' {}", where_, field, what));
  }

 private:
  const json& at(const char* field) const {
    auto it = j_.find(field);
    if (it == j_.end()) fail(field, "is missing");
    return *it;
  }

  const json& j_;
  const TensorLookup& lookup_;
  std::optional<Op> op_;
  std::string name_, where_;
};

int build(Graph& g, const NodeReader& r, std::size_t index) {
  auto one = [&] { return r.inputs(index, 1)[0]; };
  switch (r.op()) {
    case Op::Input: {
      if (index != 0) r.fail("op", "an input is only allowed as node #0");
      return g.input(r.list("shape"));
    }
    case Op::Constant: return g.constant(r.tensor("weight"), r.name());
    case Op::Conv2d: {
      const int x = one();
      const int id = g.conv2d(x, r.tensor("weight"), r.tensor("bias", true), r.small("stride"), r.small("pad"), r.name());
      return r.flag("shareable") ? g.shareable(id) : id;
    }
    case Op::Linear: {
      const int x = one();
      const int id = g.linear(x, r.tensor("weight"), r.tensor("bias", true), r.name());
      return r.flag("shareable") ? g.shareable(id) : id;
    }
    case Op::MatMul: {
      const auto ab = r.inputs(index, 2);
      return g.matmul(ab[0], ab[1], r.flag("transpose_b"), r.name());
    }
    case Op::BatchNorm: {
      const int x = one();
      return g.batchNorm(x, r.tensor("weight"), r.tensor("bias"), r.tensor("mean"), r.tensor("var"), r.number("eps"),
                         r.name());
    }
    case Op::GlobalAvgPool: return g.globalAvgPool(one());
    case Op::MaxPool: {
      const int x = one();
      return g.maxPool(x, r.small("kernel"), r.small("stride"), r.small("pad"));
    }
    case Op::AvgPool: {
      const int x = one();
      return g.avgPool(x, r.small("kernel"), r.small("stride"), r.small("pad"));
    }
    case Op::Add: {
      const auto ab = r.inputs(index, 2);
      return g.add(ab[0], ab[1]);
    }
    case Op::Mul: {
      const auto ab = r.inputs(index, 2);
      return g.mul(ab[0], ab[1]);
    }
    case Op::Activation: {
      const int x = one();
      return g.activation(x, r.act());
    }
    case Op::LayerNorm: {
      const int x = one();
      return g.layerNorm(x, r.tensor("weight"), r.tensor("bias"), r.number("eps"), r.name());
    }
    case Op::Softmax: {
      const int x = one();
      return g.softmax(x, r.small("axis"));
    }
    case Op::Reshape: {
      const int x = one();
      return g.reshape(x, r.list("shape"));
    }
    case Op::Transpose: {
      const int x = one();
      return g.transpose(x, r.list("dims"));
    }
    case Op::Slice: {
      const int x = one();
      return g.slice(x, r.small("axis"), r.integer("start"), r.integer("length"));
    }
    case Op::Concat: {
      const auto xs = r.inputs(index, 0);
      return g.concat(xs, r.small("axis"));
    }
  }
  r.fail("op", "is not supported");
}

}  // namespace

json graphToJson(const Graph& graph, NamedTensors& tensors) {
  if (graph.optimised())
    throw InvalidArgument("graph: already optimised (fused or folded); write the graph as lowered");
  TensorNamer namer(tensors);
  json nodes = json::array();
  for (std::size_t i = 0; i < graph.nodes().size(); ++i) {
    const auto& n = graph.nodes()[i];
    json j = {{"op", opName(n.op)}, {"inputs", n.inputs}};
    if (!n.name.empty()) j["name"] = n.name;
    auto tensor = [&](const char* field, const at::Tensor& t) {
      if (t.defined()) j[field] = namer.name(t, n, i, field);
    };
    switch (n.op) {
      case Op::Input: j["shape"] = n.shape; break;
      case Op::Constant: tensor("weight", n.weight); break;
      case Op::Conv2d:
        j["stride"] = n.stride;
        j["pad"] = n.pad;
        [[fallthrough]];
      case Op::Linear:
        tensor("weight", n.weight);
        tensor("bias", n.bias);
        if (n.shareable) j["shareable"] = true;
        break;
      case Op::MatMul: j["transpose_b"] = n.transpose_b; break;
      case Op::BatchNorm:
        tensor("mean", n.mean);
        tensor("var", n.var);
        [[fallthrough]];
      case Op::LayerNorm:
        tensor("weight", n.weight);
        tensor("bias", n.bias);
        j["eps"] = n.eps;
        break;
      case Op::MaxPool:
      case Op::AvgPool:
        j["kernel"] = n.kernel;
        j["stride"] = n.stride;
        j["pad"] = n.pad;
        break;
      case Op::Activation: j["act"] = actName(n.act); break;
      case Op::Softmax:
      case Op::Concat: j["axis"] = n.axis; break;
      case Op::Reshape: j["shape"] = n.dims; break;
      case Op::Transpose: j["dims"] = n.dims; break;
      case Op::Slice:
        j["axis"] = n.axis;
        j["start"] = n.start;
        j["length"] = n.length;
        break;
      case Op::GlobalAvgPool:
      case Op::Add:
      case Op::Mul: break;
    }
    nodes.push_back(std::move(j));
  }
  return {{"nodes", std::move(nodes)}, {"output", graph.output()}};
}

Graph graphFromJson(const json& j, const TensorLookup& tensor) {
  if (!j.is_object() || !j.contains("nodes") || !j["nodes"].is_array() || j["nodes"].empty())
    throw InvalidArgument("graph: must be an object with a non-empty list 'nodes' and an integer 'output'");
  const auto& nodes = j["nodes"];
  Graph g;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    NodeReader r(nodes[i], i, tensor);
    if (i == 0 && r.op() != Op::Input) r.fail("op", "node #0 must be the input");
    try {
      build(g, r, i);
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      // The builders' own messages name the op and layer; say which stored node it was.
      if (what.rfind("node #", 0) == 0) throw;
      throw InvalidArgument(fmt::format("{}: {}", r.where(), what));
    }
  }
  const auto out = j.find("output");
  if (out == j.end() || !out->is_number_integer() || out->get<std::int64_t>() < 0 ||
      out->get<std::int64_t>() >= static_cast<std::int64_t>(nodes.size()))
    throw InvalidArgument(fmt::format("graph: 'output' must be the index of a node (0..{})", nodes.size() - 1));
  g.setOutput(static_cast<int>(out->get<std::int64_t>()));
  return g;
}

}  // namespace dyndnn::engine
