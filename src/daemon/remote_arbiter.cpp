// RemoteArbiter: DynamicModel's way into dyndnnd. Claims go out when a model joins or its target changes; grants
// come back pushed and are read, without blocking, at the model's next decision.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "dyndnn/daemon.hpp"
#include "dyndnn/error.hpp"

namespace dyndnn::daemon {
namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kReconnectEvery = std::chrono::seconds(1);
constexpr auto kReconnectTimeout = std::chrono::milliseconds(200);
}  // namespace

struct RemoteArbiter::Member {
  Registration registration;
  std::unique_ptr<Client> client;
  // Per profile entry, its shared part: the knobs the daemon drives (from its welcome), never the exclusive one.
  // Worked out once per connection, so a frame compares with the last need and allocates nothing.
  std::vector<HardwareState> entry_shared;
  HardwareState shared_sent;               // the last need sent
  Grant grant;                             // the last grant applied
  std::vector<runtime::KnobFloor> floors;  // from grant.floors
  Clock::time_point last_sent{}, last_try{};

  void connect(const std::string& socket, std::chrono::milliseconds timeout) {
    client = Client::connect(socket, registration.name, registration.priority, timeout);
    const auto& knobs = client->welcome().knobs;
    entry_shared.clear();
    for (const auto& e : registration.manager->profile().entries) {
      HardwareState s;
      for (const auto& kv : e.hw) {
        const std::string& k = kv.first;  // a named reference: C++17 lambdas cannot capture a structured binding
        if (k != registration.exclusive_knob &&
            std::any_of(knobs.begin(), knobs.end(), [&](const hw::Knob& d) { return d.name == k; }))
          s[k] = kv.second;
      }
      entry_shared.push_back(std::move(s));
    }
    last_sent = Clock::now();
  }
  void apply(const Grant& g) {
    grant = g;
    if (g.placed) registration.manager->restrict(g.placement);  // not placed: keep the last placement
    floors.clear();
    for (const auto& [k, v] : g.floors) floors.push_back(runtime::KnobFloor{k, v, {}});
  }
  void disconnected() {
    client.reset();
    floors.clear();  // the daemon restored the knobs: nothing is held higher for us now
    shared_sent.clear();
  }
};

RemoteArbiter::RemoteArbiter(std::string socket) : socket_(std::move(socket)) {}
RemoteArbiter::~RemoteArbiter() = default;

std::shared_ptr<RemoteArbiter> connectArbiter(const std::string& socket) {
  if (socket.size() >= sizeof(sockaddr_un::sun_path))
    throw InvalidArgument(fmt::format("dyndnnd socket path {} is too long", socket));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  const bool listening = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!listening)
    throw HardwareError(fmt::format("connectArbiter: no dyndnnd listens on {} ({}); start it (`systemctl start "
                                    "dyndnnd` or `dyndnnd --socket {}`), or use a runtime::HardwareArbiter for the "
                                    "models of one process", socket, std::strerror(err), socket));
  return std::make_shared<RemoteArbiter>(socket);
}

int RemoteArbiter::add(Registration r) {
  if (!r.manager) throw InvalidArgument("remote arbiter: add() needs a RuntimeManager");
  auto m = std::make_unique<Member>();
  m->registration = std::move(r);
  m->connect(socket_, std::chrono::milliseconds(2000));
  // Every level the profile may ask of a daemon knob must be one it offers: said here, once, rather than as a
  // refused need in the middle of a run.
  for (const auto& k : m->client->welcome().knobs)
    for (const auto& e : m->registration.manager->profile().entries)
      if (auto it = e.hw.find(k.name); it != e.hw.end() &&
          std::find(k.levels.begin(), k.levels.end(), it->second) == k.levels.end())
        throw InvalidArgument(fmt::format("remote arbiter: the profile of '{}' asks {} = {} ({}), which dyndnnd "
                                          "does not offer ({} to {}); profile on this device's levels",
                                          m->registration.name, k.name, it->second, e.op, k.levels.front(),
                                          k.levels.back()));
  std::lock_guard<std::mutex> lock(mutex_);
  const int id = next_id_++;
  members_.emplace(id, std::move(m));
  return id;
}

void RemoteArbiter::remove(int id) {
  std::unique_ptr<Member> m;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = members_.find(id);
    if (it == members_.end()) return;
    m = std::move(it->second);
    members_.erase(it);
  }
  m->registration.manager->restrict({});
  // Destroying the client says bye: the daemon frees its claims and re-arbitrates the others.
}

void RemoteArbiter::claimLocked(Member& m) {
  const auto& reg = m.registration;
  Claim claim;
  claim.exclusive_knob = reg.exclusive_knob;
  const auto ranked = runtime::rankPlacements(*reg.manager, reg.placements);
  if (!reg.placements.empty() && ranked.empty())
    throw InvalidArgument(fmt::format("remote arbiter: no profile entry of '{}' fits any of its {} placements",
                                      reg.name, reg.placements.size()));
  for (const auto& [i, d] : ranked) claim.placements.push_back(reg.placements[i]);
  const runtime::Decision best = ranked.empty() ? reg.manager->evaluate({}) : ranked.front().second;
  claim.shared = m.entry_shared[static_cast<std::size_t>(best.entry)];
  const Grant g = m.client->claim(claim);
  m.shared_sent = claim.shared;
  m.last_sent = Clock::now();
  m.apply(g);
  if (!g.placed)
    throw InvalidArgument(fmt::format("dyndnnd: no free placement for '{}' (all {} held by higher-priority "
                                      "clients); give it more placements or lower another client's priority",
                                      reg.name, reg.placements.size()));
}

void RemoteArbiter::rearbitrate() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, m] : members_) {
    if (!m->client || !m->client->connected()) continue;  // reconnects, and claims, from its next frame
    try {
      claimLocked(*m);
    } catch (const HardwareError&) {
      m->disconnected();  // the daemon went away mid-claim
    }
  }
}

runtime::Decision RemoteArbiter::decide(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = members_.find(id);
  if (it == members_.end()) throw InvalidArgument(fmt::format("remote arbiter: no model with id {}", id));
  Member& m = *it->second;
  const auto now = Clock::now();
  try {
    if (m.client && m.client->connected()) {
      try {
        if (auto g = m.client->poll()) m.apply(*g);
      } catch (const InvalidArgument&) {
        // A refused need (not expected: add() checked the profile's levels, and the welcome lists only knobs this
        // user may claim): the hardware stays as last granted and the frame goes on.
      }
    }
    if (m.client && !m.client->connected()) m.disconnected();
    if (!m.client && now - m.last_try > kReconnectEvery) {  // the daemon is back, or our lease had run out
      m.last_try = now;
      try {
        m.connect(socket_, kReconnectTimeout);
        claimLocked(m);
      } catch (const Error&) {
        m.disconnected();
      }
    }
  } catch (const HardwareError&) {
    m.disconnected();
  }
  const runtime::Decision d = m.registration.manager->before(m.floors.data(), m.floors.size());
  if (m.client) {
    try {
      const HardwareState& shared = m.entry_shared[static_cast<std::size_t>(d.entry)];
      if (shared != m.shared_sent) {
        m.client->need(shared);
        m.shared_sent = shared;
        m.last_sent = now;
      } else if (now - m.last_sent > std::chrono::milliseconds(m.client->welcome().lease_ms / 3)) {
        m.client->ping();
        m.last_sent = now;
      }
    } catch (const HardwareError&) {
      m.disconnected();
    }
  }
  return d;
}

HardwareState RemoteArbiter::granted(int id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = members_.find(id);
  return it == members_.end() ? HardwareState{} : it->second->grant.placement;
}

bool RemoteArbiter::connected(int id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = members_.find(id);
  return it != members_.end() && it->second->client && it->second->client->connected();
}

}  // namespace dyndnn::daemon
