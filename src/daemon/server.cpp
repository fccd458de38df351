// dyndnnd's loop: accept, read frames, validate, arbitrate, push grants, expire leases.

#include "daemon/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <vector>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::daemon {
namespace {

constexpr std::size_t kMaxPendingOut = 1 << 20;  // a client that stops reading is dropped, not buffered for
constexpr int kMaxClients = 256;
constexpr auto kRefusalLinger = std::chrono::milliseconds(500);  // a refused client's time to read why

std::unique_ptr<hw::Governor> deviceGovernor(const ServerOptions& o) {
  hw::GovernorOptions g;
  g.root = o.root;
  g.state_file = o.state_file;
  std::vector<std::unique_ptr<hw::Governor>> parts;
  std::string why;
  try {
    parts.push_back(hw::makeCpufreqGovernor(g));
  } catch (const HardwareError& e) {
    why += std::string(" cpufreq: ") + e.what();
  }
  try {
    parts.push_back(hw::makeDevfreqGovernor(g));
  } catch (const HardwareError& e) {
    why += std::string(" devfreq: ") + e.what();
  }
  if (parts.empty())
    throw HardwareError(fmt::format("dyndnnd: no DVFS knob under {} to arbitrate;{}", o.root, why));
  return hw::makeCompositeGovernor(std::move(parts));
}

void setNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      policy_(options_.policy_file.empty() ? Policy::rootOnly() : Policy::load(options_.policy_file)) {
  if (options_.lease_ms < 10) throw InvalidArgument("dyndnnd: --lease-ms must be at least 10");
  if (options_.socket.size() >= sizeof(sockaddr_un::sun_path))
    throw InvalidArgument(fmt::format("dyndnnd: socket path {} is too long", options_.socket));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, options_.socket.c_str(), sizeof addr.sun_path - 1);
  // First of all: is a live daemon serving this socket? Then nothing here may touch its knobs or state file.
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (probe >= 0) close(probe);
  if (live) throw HardwareError(fmt::format("dyndnnd: another daemon listens on {}; stop it first", options_.socket));
  // A daemon killed with SIGKILL left its originals in the state file: put them back before anything else.
  if (!options_.state_file.empty() && access(options_.state_file.c_str(), F_OK) == 0) {
    const int n = hw::restoreFromStateFile(options_.state_file);
    log(fmt::format("restored {} knob file(s) a previous daemon left changed ({})", n, options_.state_file));
  }
  governor_ = deviceGovernor(options_);
  for (const auto& k : governor_->knobs()) knobs_[k.name] = k;
  found_ = governor_->current();

  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw HardwareError(fmt::format("dyndnnd: socket(): {}", std::strerror(errno)));
  unlink(options_.socket.c_str());  // a socket file left by a daemon that died
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 64) != 0) {
    const std::string err = std::strerror(errno);
    close(listen_fd_);
    listen_fd_ = -1;
    throw HardwareError(fmt::format("dyndnnd: cannot listen on {}: {}", options_.socket, err));
  }
  chmod(options_.socket.c_str(), static_cast<mode_t>(options_.socket_mode));
  setNonBlocking(listen_fd_);
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw HardwareError("dyndnnd: pipe() failed");
}

Server::~Server() {
  for (auto& [fd, c] : connections_) close(fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(options_.socket.c_str());
  }
  for (int fd : wake_)
    if (fd >= 0) close(fd);
  try {
    governor_->restore();
  } catch (const std::exception& e) {
    std::cerr << "dyndnnd: restoring the knobs failed: " << e.what() << "\n";
  }
}

void Server::stop() noexcept {
  const char c = 1;
  [[maybe_unused]] ssize_t n = write(wake_[1], &c, 1);
}

void Server::log(const std::string& line) const {
  if (options_.verbose) std::cerr << "dyndnnd: " << line << std::endl;
}

void Server::run() {
  log(fmt::format("listening on {} (governor {}, lease {} ms)", options_.socket, governor_->name(), options_.lease_ms));
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& [fd, c] : connections_)
      fds.push_back({fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    // Wake for the earliest lease to run out (or a refused client's linger to end).
    const auto now = std::chrono::steady_clock::now();
    int timeout = options_.lease_ms;
    for (const auto& [fd, c] : connections_) {
      const auto left = (c.closing ? c.closing_since + kRefusalLinger
                                   : c.last_seen + std::chrono::milliseconds(options_.lease_ms)) - now;
      timeout = std::min<int>(timeout, static_cast<int>(std::max<long long>(
                                           1, std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1)));
    }
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
      throw HardwareError(fmt::format("dyndnnd: poll(): {}", std::strerror(errno)));
    if (fds[0].revents) return;  // stop()
    if (fds[1].revents & POLLIN) accept();
    for (std::size_t i = 2; i < fds.size(); ++i) {
      auto it = connections_.find(fds[i].fd);
      if (it == connections_.end()) continue;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) readFrom(it->second);
      it = connections_.find(fds[i].fd);
      if (it != connections_.end() && (fds[i].revents & POLLOUT)) flush(it->second);
    }
    std::vector<int> expired, closing;
    const auto t = std::chrono::steady_clock::now();
    for (const auto& [fd, c] : connections_) {
      // A refused client is closed once it has had time to read why (closing at once could reset the connection
      // before the refusal is read); it ends sooner when it closes first.
      if (c.closing && c.out.empty() && t - c.closing_since > kRefusalLinger) closing.push_back(fd);
      else if (c.closing) continue;
      else if (t - c.last_seen > std::chrono::milliseconds(options_.lease_ms)) expired.push_back(fd);
    }
    for (int fd : closing) drop(fd, "refused");
    for (int fd : expired) drop(fd, fmt::format("lease of {} ms ran out", options_.lease_ms));
  }
}

void Server::accept() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN: nothing more waiting
    Connection c;
    c.fd = fd;
    c.last_seen = std::chrono::steady_clock::now();
    try {
      c.peer = peerOf(fd);
    } catch (const std::exception& e) {
      log(e.what());
      close(fd);
      continue;
    }
    auto& conn = connections_.emplace(fd, std::move(c)).first->second;
    const auto permission = policy_.permissionFor(conn.peer);
    if (!permission || connections_.size() > static_cast<std::size_t>(kMaxClients)) {
      DaemonMessage m;
      m.type = DaemonMessage::Type::Denied;
      m.what = !permission ? fmt::format("dyndnnd: user {} (uid {}) is not allowed by the policy {}; ask the "
                                         "administrator for a rule", userName(conn.peer.uid), conn.peer.uid,
                                         options_.policy_file.empty() ? "(none: only root)" : options_.policy_file)
                           : fmt::format("dyndnnd: {} clients connected already (at most {})", kMaxClients, kMaxClients);
      send(conn, m);
      conn.closing = true;
      conn.closing_since = std::chrono::steady_clock::now();
      log(fmt::format("refused uid {} pid {}", conn.peer.uid, conn.peer.pid));
      continue;
    }
    conn.permission = *permission;
  }
}

void Server::readFrom(Connection& c) {
  const int fd = c.fd;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return drop(fd, "closed its connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      return drop(fd, std::strerror(errno));
    }
    if (c.closing) continue;  // refused: what it sends is not read
    c.last_seen = std::chrono::steady_clock::now();
    try {
      c.reader.feed(buf, static_cast<std::size_t>(n));
      while (auto body = c.reader.next()) {
        handle(c, *body);
        if (!connections_.count(fd)) return;
      }
    } catch (const ProtocolError& e) {  // no resynchronising a byte stream: say why, then close
      DaemonMessage m;
      m.type = DaemonMessage::Type::Denied;
      m.what = std::string("dyndnnd: ") + e.what();
      send(c, m);
      c.closing = true;
      c.closing_since = std::chrono::steady_clock::now();
      if (c.claim) {  // what it held is free at once, not after the linger
        c.claim.reset();
        rearbitrate();
      }
      return;
    }
  }
}

void Server::handle(Connection& c, const std::string& body) {
  ClientMessage m;
  try {
    m = decodeClient(body);
  } catch (const ProtocolError&) {
    throw;
  } catch (const std::exception& e) {
    throw ProtocolError(e.what());
  }
  using T = ClientMessage::Type;
  auto deny = [&](const std::string& what) {
    DaemonMessage d;
    d.type = DaemonMessage::Type::Denied;
    d.what = "dyndnnd: " + what;
    send(c, d);
  };
  switch (m.type) {
    case T::Ping: {
      DaemonMessage d;
      d.type = DaemonMessage::Type::Pong;
      send(c, d);
      return;
    }
    case T::Status: {
      DaemonMessage d;
      d.type = DaemonMessage::Type::Status;
      d.status = status();
      send(c, d);
      return;
    }
    case T::Bye: return drop(c.fd, "said bye");
    case T::Hello: {
      if (c.hello) return deny("hello twice on one connection (one connection is one client)");
      if (m.priority > c.permission.max_priority)
        return deny(fmt::format("priority {} is above the {} the policy allows user {}", m.priority,
                                c.permission.max_priority, userName(c.peer.uid)));
      for (const auto& [fd, o] : connections_)
        if (o.hello && o.name == m.name) return deny(fmt::format("a client named '{}' is connected already", m.name));
      c.hello = true;
      c.id = next_id_++;
      c.name = m.name;
      c.priority = m.priority;
      DaemonMessage d;
      d.type = DaemonMessage::Type::Welcome;
      d.welcome.id = c.id;
      d.welcome.lease_ms = options_.lease_ms;
      for (const auto& [name, k] : knobs_)
        if (c.permission.allows(name)) d.welcome.knobs.push_back(k);
      send(c, d);
      log(fmt::format("client {} '{}' (uid {}, pid {}, priority {})", c.id, c.name, c.peer.uid, c.peer.pid, c.priority));
      return;
    }
    case T::Claim:
    case T::Need: {
      if (!c.hello) return deny("say hello before claiming");
      Claim claim = m.type == T::Claim ? m.claim : c.claim.value_or(Claim{});
      if (m.type == T::Need) claim.shared = m.claim.shared;
      try {
        checkClaim(c, claim);
      } catch (const InvalidArgument& e) {
        return deny(e.what());
      }
      c.claim = std::move(claim);
      if (m.type == T::Claim) c.must_answer = true;
      rearbitrate();
      return;
    }
  }
}

void Server::send(Connection& c, const DaemonMessage& m) {
  c.out += frame(encode(m));
  flush(c);
}

void Server::flush(Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      c.out.clear();
      c.closing = true;  // gone: dropped by the loop
      c.closing_since = {};
      return;
    }
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  if (c.out.size() > kMaxPendingOut) {
    c.out.clear();
    c.closing = true;
    c.closing_since = {};
  }
}

void Server::drop(int fd, const std::string& why) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  const bool had_claim = it->second.claim.has_value();
  if (it->second.hello) log(fmt::format("client {} '{}' gone: {}", it->second.id, it->second.name, why));
  close(fd);
  connections_.erase(it);
  if (had_claim) rearbitrate();  // its cores and its share of the frequency are free now
}

DaemonStatus Server::status() const {
  DaemonStatus s;
  s.governor = governor_->name();
  s.applied = applied_;
  for (const auto& [fd, c] : connections_) {
    if (!c.hello) continue;
    ClientInfo info;
    info.id = c.id;
    info.name = c.name;
    info.priority = c.priority;
    info.uid = c.peer.uid;
    info.pid = c.peer.pid;
    info.grant = c.sent;
    s.clients.push_back(std::move(info));
  }
  std::sort(s.clients.begin(), s.clients.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return s;
}

}  // namespace dyndnn::daemon
