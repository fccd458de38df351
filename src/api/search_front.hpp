#pragma once
// The search's bookkeeping, free of data and timing so it is tested on its own: candidates, the accuracy /
// latency front, the points kept near it, the N chosen along it, and OFA-style evolution (mutation and
// crossover of configs, each entry of each knob independently).

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dyndnn/subnet_config.hpp"
#include "nn/family.hpp"

namespace dyndnn::search {

struct Candidate {
  SubnetConfig config;
  std::string key;  // config as JSON: identity of a sub-network
  std::int64_t macs = 0, params = 0;
  std::vector<double> predicted_ms;  // per thread count asked
  double screen_accuracy = 0;        // top-1 % on the screening images
  std::optional<double> accuracy;    // top-1 % on the full evaluation
  std::optional<double> measured_ms; // whole network, first thread count
  std::string origin;                // "anchor", "random", "mutation", "crossover"
};

/// Latency a candidate is ranked by: measured when it has been, else predicted (first thread count).
double latency(const Candidate& c);
/// Accuracy it is ranked by: the full evaluation when it has one and `full`, else the screening.
double rankAccuracy(const Candidate& c, bool full);

/// Indices of the candidates no other is both faster and more accurate than (ties: the first), by latency.
std::vector<std::size_t> paretoFront(const std::vector<Candidate>& all, bool full);
/// Indices of candidates at most `tolerance` points below the front's accuracy at their latency (the front's
/// best accuracy among points no slower), front included, best margin first.
std::vector<std::size_t> nearFront(const std::vector<Candidate>& all, bool full, double tolerance);
/// `n` of the front's indices (latency order): the fastest, the most accurate, and between them those that leave
/// the least accuracy lost where a point was left out (the kept point no slower runs in its place).
std::vector<std::size_t> chooseAlong(const std::vector<Candidate>& all, std::vector<std::size_t> front, int n);

/// Each entry of each knob (and the resolution) redrawn with probability `p`.
SubnetConfig mutate(const nn::Supernet& net, const std::vector<int>& resolutions, SubnetConfig c, double p,
                    std::mt19937& rng);
/// Each entry from either parent with probability 1/2.
SubnetConfig crossover(const nn::Supernet& net, const SubnetConfig& a, const SubnetConfig& b, std::mt19937& rng);

}  // namespace dyndnn::search
