#include "api/search_front.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dyndnn::search {

double latency(const Candidate& c) { return c.measured_ms ? *c.measured_ms : c.predicted_ms.at(0); }

double rankAccuracy(const Candidate& c, bool full) { return full && c.accuracy ? *c.accuracy : c.screen_accuracy; }

namespace {

std::vector<std::size_t> byLatency(const std::vector<Candidate>& all, bool full) {
  std::vector<std::size_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (latency(all[a]) != latency(all[b])) return latency(all[a]) < latency(all[b]);
    return rankAccuracy(all[a], full) > rankAccuracy(all[b], full);
  });
  return order;
}

}  // namespace

std::vector<std::size_t> paretoFront(const std::vector<Candidate>& all, bool full) {
  std::vector<std::size_t> front;
  double best = -std::numeric_limits<double>::infinity();
  for (auto i : byLatency(all, full))
    if (rankAccuracy(all[i], full) > best) {
      best = rankAccuracy(all[i], full);
      front.push_back(i);
    }
  return front;
}

std::vector<std::size_t> nearFront(const std::vector<Candidate>& all, bool full, double tolerance) {
  // The front's accuracy at a latency is the best of everything no slower: a running maximum in latency order.
  std::vector<std::pair<double, std::size_t>> margin;  // (points below the front, index)
  double best = -std::numeric_limits<double>::infinity();
  const Candidate* previous = nullptr;
  for (auto i : byLatency(all, full)) {
    // Configs that differ only in knobs the network cannot tell apart (a kernel size on a map its padding
    // covers) come out with the same latency and accuracy: one of them stands for all. Without this, a crowd of
    // such twins on the front took every parent slot and every full evaluation, and the search never left the
    // front's fast end (seen: 8 of 16 full evaluations one network).
    if (previous && latency(*previous) == latency(all[i]) && rankAccuracy(*previous, full) == rankAccuracy(all[i], full))
      continue;
    previous = &all[i];
    best = std::max(best, rankAccuracy(all[i], full));
    const double below = best - rankAccuracy(all[i], full);
    if (below <= tolerance) margin.emplace_back(below, i);
  }
  std::stable_sort(margin.begin(), margin.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::size_t> out;
  for (const auto& m : margin) out.push_back(m.second);
  return out;
}

std::vector<std::size_t> chooseAlong(const std::vector<Candidate>& all, std::vector<std::size_t> front, int n) {
  std::sort(front.begin(), front.end(), [&](std::size_t a, std::size_t b) { return latency(all[a]) < latency(all[b]); });
  if (n <= 0 || static_cast<int>(front.size()) <= n) return front;
  // What leaving a point out costs: at its latency the runtime manager can only run the nearest kept point no
  // slower, so it loses the difference in accuracy. Keep both ends (the whole latency range), then, one at a
  // time, the point whose keeping leaves the smallest worst loss over the front (then the smallest sum). Spacing
  // the points evenly in latency instead had dropped one 3 accuracy points above its neighbour for 6% more time.
  std::vector<double> acc;
  for (auto i : front) acc.push_back(rankAccuracy(all[i], true));
  std::vector<bool> taken(front.size(), false);
  taken.front() = taken.back() = true;
  const auto losses = [&] {  // (worst, sum) of the loss over the front with `taken` kept
    double worst = 0, sum = 0, kept = acc.front();
    for (std::size_t j = 0; j < acc.size(); ++j) {
      if (taken[j]) kept = acc[j];
      worst = std::max(worst, acc[j] - kept);
      sum += acc[j] - kept;
    }
    return std::make_pair(worst, sum);
  };
  for (int k = 2; k < n; ++k) {
    std::size_t best = 0;
    std::pair<double, double> best_losses{std::numeric_limits<double>::infinity(), 0};
    for (std::size_t j = 1; j + 1 < front.size(); ++j) {
      if (taken[j]) continue;
      taken[j] = true;
      const auto l = losses();
      taken[j] = false;
      if (l < best_losses) {
        best = j;
        best_losses = l;
      }
    }
    taken[best] = true;
  }
  std::vector<std::size_t> out;
  for (std::size_t j = 0; j < front.size(); ++j)
    if (taken[j]) out.push_back(front[j]);
  return out;
}

SubnetConfig mutate(const nn::Supernet& net, const std::vector<int>& resolutions, SubnetConfig c, double p,
                    std::mt19937& rng) {
  std::bernoulli_distribution flip(p);
  auto pick = [&rng](const std::vector<int>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  for (const auto& k : net.searchSpace()) {
    auto& values = c.knobs[k.name];
    values.resize(static_cast<std::size_t>(k.count), k.choices.front());
    for (auto& v : values)
      if (flip(rng)) v = pick(k.choices);
  }
  if (flip(rng)) c.r = pick(resolutions);
  return net.normalise(c);
}

SubnetConfig crossover(const nn::Supernet& net, const SubnetConfig& a, const SubnetConfig& b, std::mt19937& rng) {
  std::bernoulli_distribution coin(0.5);
  SubnetConfig c = a;
  for (const auto& k : net.searchSpace()) {
    auto& values = c.knobs[k.name];
    const auto& other = b.knobs.at(k.name);
    for (std::size_t j = 0; j < values.size() && j < other.size(); ++j)
      if (coin(rng)) values[j] = other[j];
  }
  if (coin(rng)) c.r = b.r;
  return net.normalise(c);
}

}  // namespace dyndnn::search
