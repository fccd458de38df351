// dyndnnd's decisions: what a claim may name (the policy, the governor's knobs and levels), and who gets what
// (placements by priority, shared knobs at the highest need, grants pushed where they changed).

#include <algorithm>
#include <iostream>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "daemon/server.hpp"
#include "dyndnn/error.hpp"

namespace dyndnn::daemon {

void Server::checkClaim(const Connection& c, const Claim& claim) const {
  auto allowed = [&](const std::string& knob) {
    if (!c.permission.allows(knob))
      throw InvalidArgument(fmt::format("user {} may not claim '{}' (policy {})", userName(c.peer.uid), knob,
                                        options_.policy_file.empty() ? "root only" : options_.policy_file));
  };
  if (!claim.exclusive_knob.empty()) allowed(claim.exclusive_knob);
  for (const auto& p : claim.placements)
    for (const auto& [k, v] : p) allowed(k);
  for (const auto& [k, v] : claim.shared) {
    allowed(k);
    auto it = knobs_.find(k);
    if (it == knobs_.end())
      throw InvalidArgument(fmt::format("'{}' is not a knob this daemon drives (it drives: {})", k, [&] {
        std::string s;
        for (const auto& [name, kn] : knobs_) s += (s.empty() ? "" : ", ") + name;
        return s;
      }()));
    const auto& levels = it->second.levels;
    if (std::find(levels.begin(), levels.end(), v) == levels.end())
      throw InvalidArgument(fmt::format("{} is not a level of '{}' ({} to {} {})", v, k, levels.front(), levels.back(),
                                        it->second.unit));
  }
}

void Server::rearbitrate() {
  std::vector<Connection*> order;
  for (auto& [fd, c] : connections_)
    if (c.hello && c.claim) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](const Connection* a, const Connection* b) {
    return a->priority != b->priority ? a->priority > b->priority : a->id < b->id;
  });
  // Placements: by priority, each client's best one whose exclusive resource nobody above it holds.
  std::set<std::pair<std::string, std::int64_t>> taken;
  std::map<int, Grant> next;
  for (Connection* c : order) {
    Grant& g = next[c->fd];
    const Claim& claim = *c->claim;
    g.placed = claim.placements.empty();
    for (const auto& p : claim.placements) {
      const auto key = claim.exclusive_knob.empty() ? std::pair<std::string, std::int64_t>{}
                                                    : std::pair{claim.exclusive_knob, p.at(claim.exclusive_knob)};
      if (!claim.exclusive_knob.empty() && taken.count(key)) continue;
      if (!claim.exclusive_knob.empty()) taken.insert(key);
      g.placement = p;
      g.placed = true;
      break;
    }
  }
  // Shared knobs: the highest level any client needs; a knob nobody needs goes back to what was found.
  hw::HardwareState want;
  for (Connection* c : order)
    for (const auto& [k, v] : c->claim->shared) want[k] = std::max(want.count(k) ? want[k] : v, v);
  hw::HardwareState apply = want;
  for (const auto& [k, v] : applied_)
    if (!want.count(k))
      if (auto f = found_.find(k); f != found_.end()) {
        const auto& levels = knobs_[k].levels;
        if (std::find(levels.begin(), levels.end(), f->second) != levels.end()) apply[k] = f->second;
      }
  try {
    if (want.empty()) {
      if (!applied_.empty()) governor_->restore();
      applied_.clear();
    } else {
      governor_->apply(apply);
      applied_ = want;
    }
  } catch (const std::exception& e) {
    std::cerr << "dyndnnd: setting " << apply.size() << " knob(s) failed: " << e.what() << "\n";
  }
  for (Connection* c : order) {
    Grant& g = next[c->fd];
    g.applied = applied_;
    for (Connection* o : order)
      if (o != c)
        for (const auto& [k, v] : o->claim->shared)
          if (applied_.count(k)) g.floors[k] = std::max(g.floors.count(k) ? g.floors[k] : v, v);
    const bool changed = c->must_answer || c->sent.seq == 0 || g.placed != c->sent.placed || g.placement != c->sent.placement ||
                         g.floors != c->sent.floors || g.applied != c->sent.applied;
    if (!changed) continue;
    g.seq = c->sent.seq + 1;
    c->sent = g;
    c->must_answer = false;
    DaemonMessage d;
    d.type = DaemonMessage::Type::Grant;
    d.grant = g;
    send(*c, d);
    log(fmt::format("grant {} to '{}': placed {}, {} shared knob(s) applied", g.seq, c->name, g.placed, g.applied.size()));
  }
}

}  // namespace dyndnn::daemon
