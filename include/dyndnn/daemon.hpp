#pragma once
/// \file daemon.hpp
/// Several applications, one device: the client side of `dyndnnd`, the daemon that owns the device's DVFS knobs
/// and arbitrates them, and the exclusive resources (cores, clusters), across processes. A client is unprivileged:
/// the daemon knows it by its socket's peer credentials and a policy file says which knobs it may claim and at
/// what priority at most.
///
/// One connection is one client (one model). It says hello (name, priority), then claims: the exclusive resources
/// it could use (placements, best first) and the levels of shared knobs it needs. The daemon gives each client,
/// higher priority first, its best placement no other client holds, sets every shared knob to the highest level
/// any client needs, and pushes a Grant to every client whose grant changed. Round trips happen when needs or
/// grants change, never per frame. A client must send something (ping) at least every lease_ms or it loses its
/// claims; a closed socket (exit, crash, SIGKILL) releases them at once.
///
/// Thread safety: a Client is not thread-safe; serialise calls on one (one thread per client, or a lock).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <map>
#include <mutex>

#include "dyndnn/hw/governor.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn::daemon {

using hw::HardwareState;

/// Where a board's daemon listens (the systemd unit's default).
inline constexpr char kDefaultSocket[] = "/run/dyndnn.sock";

struct Claim {
  /// The knob whose value in a placement is the exclusive resource (e.g. "affinity": a CPU mask); "" = none.
  std::string exclusive_knob;
  /// Alternative exclusive assignments, best first (each names exclusive_knob); empty: no exclusive resource.
  std::vector<HardwareState> placements;
  /// Shared knobs (a cluster's frequency) and the lowest level this client needs of each.
  HardwareState shared;
};

struct Grant {
  std::uint64_t seq = 0;    ///< increases with every grant the daemon sends this client
  bool placed = true;       ///< false: every placement the claim named is held by a higher-priority client
  HardwareState placement;  ///< the claim's placement granted ({} when it named none or none was free)
  HardwareState floors;     ///< per shared knob, the highest level the other clients need (the hardware runs there)
  HardwareState applied;    ///< what the daemon set the shared knobs to (the maximum over every client)
};

struct Welcome {
  int id = 0;                  ///< the daemon's number for this client (it names no other client)
  int lease_ms = 0;            ///< send something at least this often
  std::vector<hw::Knob> knobs; ///< the shared knobs the daemon drives, with their levels
};

struct ClientInfo {
  int id = 0;
  std::string name;
  int priority = 0;
  std::int64_t uid = -1, pid = -1;
  Grant grant;
};

struct DaemonStatus {
  std::string governor;         ///< the daemon's governor ("cpufreq", ...)
  HardwareState applied;        ///< what it set
  std::vector<ClientInfo> clients;
};

class Client {
 public:
  /// Connects and says hello. Throws HardwareError when no daemon listens at `socket` (what to start), and
  /// InvalidArgument with the daemon's reason when it refuses (policy, a bad name or priority).
  static std::unique_ptr<Client> connect(const std::string& socket, const std::string& name, int priority = 0,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Welcome& welcome() const { return welcome_; }
  /// Replaces this client's claim and waits for the grant that answers it. A claim naming a knob the policy does
  /// not give this user, or one the daemon does not drive, is refused: InvalidArgument with the daemon's reason.
  Grant claim(const Claim& claim);
  /// Changes only the shared levels (no wait: the new grant arrives through poll()).
  void need(const HardwareState& shared);
  /// Reads what the daemon pushed (waiting up to `wait` for something); the newest grant if a new one came.
  std::optional<Grant> poll(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  /// The last grant received.
  const Grant& grant() const { return grant_; }
  /// Keeps the lease (poll() does not send anything).
  void ping();
  /// Whether the daemon is still there (false once it closed the connection).
  bool connected() const { return fd_ >= 0; }

 private:
  explicit Client(int fd);
  struct Reader;
  int fd_ = -1;
  std::unique_ptr<Reader> reader_;
  Welcome welcome_;
  Grant grant_;
  void send(const std::string& body);
  void handle(const std::string& body);
  std::optional<std::string> receive(std::chrono::steady_clock::time_point deadline);
};

/// What the daemon at `socket` drives and granted (for `dyndnn hw`); nullopt when none listens there.
std::optional<DaemonStatus> queryDaemon(const std::string& socket = kDefaultSocket,
                                        std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

/// The device's dyndnnd as a runtime::Arbiter: a DynamicModel given it in RuntimeOptions::arbiter joins the
/// arbitration of every process on the device exactly as it joins an in-process HardwareArbiter. Each registered
/// model is one client (one connection). rearbitrate() claims for each model its placements, ranked best first by
/// the model's own manager (rankPlacements), and the shared levels of its decision there, and waits for the
/// grants; decide() reads pushed grants without blocking, decides within the grant (never below what the other
/// clients need), and sends a need only when the chosen entry's shared levels change; done() sends nothing (a
/// need lasts until it changes, not one frame). The daemon writes the shared knobs; the model's own governor
/// should hold only what is its own to set (hw::makeAffinityGovernor(): its threads' cores), so no root is needed.
/// When the daemon goes away, models keep their last placement without floors and reconnect (at most once a
/// second) from their next frames; a model idle past its lease reconnects the same way.
class RemoteArbiter : public runtime::Arbiter {
 public:
  explicit RemoteArbiter(std::string socket = kDefaultSocket);
  ~RemoteArbiter() override;
  /// Connects the model and says hello. Throws HardwareError (no daemon) or InvalidArgument (refused).
  int add(Registration registration) override;
  void remove(int id) override;
  /// Throws InvalidArgument when the daemon could place some model nowhere (its placements are all held by
  /// higher-priority clients) or refused a claim (the policy, a level the knob does not offer).
  void rearbitrate() override;
  runtime::Decision decide(int id) override;
  void done(int) override {}
  HardwareState granted(int id) const override;
  /// Whether model `id` is connected to the daemon now.
  bool connected(int id) const;
  const std::string& socket() const { return socket_; }

 private:
  struct Member;
  std::string socket_;
  mutable std::mutex mutex_;
  std::map<int, std::unique_ptr<Member>> members_;
  int next_id_ = 1;
  void claimLocked(Member& m);
};

/// A RemoteArbiter for the daemon at `socket`. Throws HardwareError when no daemon listens there (what to start).
std::shared_ptr<RemoteArbiter> connectArbiter(const std::string& socket = kDefaultSocket);

}  // namespace dyndnn::daemon
