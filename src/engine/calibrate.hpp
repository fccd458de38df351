#pragma once
// Batch-norm recalibration on the op graph, as Once-for-All recalibrates each sub-network it keeps
// (set_running_statistics): the statistics a sub-network's BN layers see on real data, which its own operating
// point then stores. What `dyndnn search` runs for every candidate; works for any family's graph.

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "engine/graph.hpp"

namespace dyndnn::engine {

/// Per BatchNorm node name: (mean, biased variance) per channel.
using BatchNormStats = std::map<std::string, std::pair<at::Tensor, at::Tensor>>;

/// Runs every batch `next` returns ([N, ...] of the graph's input shape; an undefined tensor ends the data)
/// through `g` eagerly, each BatchNorm normalising with its own input's batch mean and biased variance over N, H
/// and W (train-mode BN without updating anything), and returns those statistics averaged over the batches,
/// weighted by batch size (OFA's average of per-batch statistics when the batches are equal). The graph must be
/// as lowered (BatchNorm nodes not folded yet). Throws InvalidArgument when there is no batch, a batch has the
/// wrong shape or a batch of one image would leave the variance of a 1x1 map meaningless.
BatchNormStats recalibrateBatchNorm(const Graph& g, const std::function<at::Tensor()>& next);

/// `g` with every BatchNorm node's statistics replaced by those `stats` holds under its name (what a
/// recalibrated candidate is evaluated and stored with). Throws InvalidArgument naming a BatchNorm node without
/// statistics, one whose statistics have the wrong channel count, or statistics of a node the graph lacks.
Graph withBatchNormStats(Graph g, const BatchNormStats& stats);

}  // namespace dyndnn::engine
