#pragma once
// dyndnnd's core: one poll() loop over a Unix socket. It owns the device's DVFS governors (and their restore
// journal), knows each client by its peer credentials, checks every claim against the policy, and arbitrates:
// higher priority first, each client gets its best placement nobody else holds; every shared knob goes to the
// highest level any client needs; changed grants are pushed. A client's claims end when its socket closes or its
// lease runs out.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/policy.hpp"
#include "daemon/protocol.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/hw/governor.hpp"

namespace dyndnn::daemon {

struct ServerOptions {
  std::string socket = kDefaultSocket;
  std::string root = "/";          // stands for "/" (a fake sysfs tree in tests)
  std::string policy_file;         // "" = only root may connect
  std::string state_file = "/run/dyndnn.state";  // originals of changed knobs, for restore after SIGKILL
  int lease_ms = 5000;
  unsigned socket_mode = 0666;     // who may connect at all; the policy decides what they may do
  bool verbose = false;            // one line per connect, claim and grant on stderr
};

class Server {
 public:
  /// Restores what a killed daemon left (the state file), opens the governors, binds the socket.
  /// Throws HardwareError (no DVFS knob under the root, socket in use) or InvalidArgument (policy).
  explicit Server(ServerOptions options);
  /// Restores every knob and removes the socket.
  ~Server();
  /// Serves until stop() (async-signal-safe) is called.
  void run();
  void stop() noexcept;
  const hw::Governor& governor() const { return *governor_; }

 private:
  struct Connection {
    int fd = -1;
    Peer peer;
    Permission permission;
    FrameReader reader;
    std::string out;
    bool hello = false, closing = false;
    int id = 0;
    std::string name;
    int priority = 0;
    std::optional<Claim> claim;
    Grant sent;               // the last grant pushed
    bool must_answer = false;  // a claim came: answer it with a grant even if nothing changed
    std::chrono::steady_clock::time_point last_seen, closing_since;
  };
  ServerOptions options_;
  Policy policy_;
  std::unique_ptr<hw::Governor> governor_;
  std::map<std::string, hw::Knob> knobs_;  // the governor's, by name
  hw::HardwareState found_;                // each knob as it was when the daemon started
  hw::HardwareState applied_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::map<int, Connection> connections_;  // by fd
  int next_id_ = 1;

  void accept();
  void readFrom(Connection& c);
  void handle(Connection& c, const std::string& body);
  void checkClaim(const Connection& c, const Claim& claim) const;
  void rearbitrate();
  void send(Connection& c, const DaemonMessage& m);
  void flush(Connection& c);
  void drop(int fd, const std::string& why);
  DaemonStatus status() const;
  void log(const std::string& line) const;
};

}  // namespace dyndnn::daemon
