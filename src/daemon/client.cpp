// The client side of dyndnnd: one Unix-socket connection per client, blocking with deadlines.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "daemon/protocol.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/error.hpp"

namespace dyndnn::daemon {
namespace {

using Clock = std::chrono::steady_clock;

int connectTo(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    throw InvalidArgument(fmt::format("dyndnnd socket path {} is too long", path));
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw HardwareError(fmt::format("socket(): {}", std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    close(fd);
    throw HardwareError(fmt::format("no dyndnnd listens on {} ({}); start it (`systemctl start dyndnnd`, or "
                                    "`dyndnnd --socket {}`) or run without a remote arbiter",
                                    path, std::strerror(err), path));
  }
  return fd;
}

}  // namespace

struct Client::Reader {
  FrameReader frames;
};

Client::Client(int fd) : fd_(fd), reader_(std::make_unique<Reader>()) {}

Client::~Client() {
  if (fd_ < 0) return;
  try {
    ClientMessage bye;
    bye.type = ClientMessage::Type::Bye;
    send(encode(bye));
  } catch (const std::exception&) {  // the daemon is gone: closing is all that is left
  }
  if (fd_ >= 0) close(fd_);
}

void Client::send(const std::string& body) {
  if (fd_ < 0) throw HardwareError("dyndnnd closed the connection; reconnect when it is back");
  const std::string f = frame(body);
  std::size_t done = 0;
  while (done < f.size()) {
    const ssize_t n = ::send(fd_, f.data() + done, f.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)  // the socket stays open: a refusal the daemon sent before closing may still be read
      throw HardwareError(fmt::format("sending to dyndnnd failed: {}", std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
}

std::optional<std::string> Client::receive(Clock::time_point deadline) {
  for (;;) {
    if (auto body = reader_->frames.next()) return body;
    if (fd_ < 0) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the daemon closed (or died, or reset the connection)
      close(fd_);
      fd_ = -1;
      continue;  // a last frame may still be buffered
    }
    reader_->frames.feed(buf, static_cast<std::size_t>(n));
  }
}

void Client::handle(const std::string& body) {
  const DaemonMessage m = decodeDaemon(body);
  switch (m.type) {
    case DaemonMessage::Type::Grant:
      if (m.grant.seq > grant_.seq) grant_ = m.grant;
      return;
    case DaemonMessage::Type::Denied: throw InvalidArgument(m.what);
    default: return;
  }
}

std::unique_ptr<Client> Client::connect(const std::string& socket, const std::string& name, int priority,
                                        std::chrono::milliseconds timeout) {
  if (!validName(name))
    throw InvalidArgument(fmt::format("dyndnnd client name '{}' must be 1 to {} characters of A-Z a-z 0-9 _ . : -",
                                      name.substr(0, kMaxName), kMaxName));
  std::unique_ptr<Client> c(new Client(connectTo(socket)));
  ClientMessage hello;
  hello.type = ClientMessage::Type::Hello;
  hello.name = name;
  hello.priority = priority;
  try {
    c->send(encode(hello));
  } catch (const HardwareError&) {
    // The daemon may have refused this peer and closed already: its reason is in the receive buffer.
  }
  const auto deadline = Clock::now() + timeout;
  while (auto body = c->receive(deadline)) {
    const DaemonMessage m = decodeDaemon(*body);
    if (m.type == DaemonMessage::Type::Denied) throw InvalidArgument(m.what);
    if (m.type == DaemonMessage::Type::Welcome) {
      c->welcome_ = m.welcome;
      return c;
    }
  }
  throw HardwareError(fmt::format("dyndnnd on {} did not answer hello within {} ms", socket, timeout.count()));
}

Grant Client::claim(const Claim& claim) {
  ClientMessage m;
  m.type = ClientMessage::Type::Claim;
  m.claim = claim;
  const std::uint64_t before = grant_.seq;
  send(encode(m));
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(welcome_.lease_ms, 1000));
  while (auto body = receive(deadline)) {
    handle(*body);  // a Denied throws here
    if (grant_.seq > before) return grant_;
  }
  throw HardwareError(fd_ < 0 ? "dyndnnd closed the connection before granting the claim"
                              : "dyndnnd did not answer the claim in time");
}

void Client::need(const HardwareState& shared) {
  ClientMessage m;
  m.type = ClientMessage::Type::Need;
  m.claim.shared = shared;
  send(encode(m));
}

std::optional<Grant> Client::poll(std::chrono::milliseconds wait) {
  const std::uint64_t before = grant_.seq;
  const auto deadline = Clock::now() + wait;
  while (auto body = receive(deadline)) {
    handle(*body);
    if (grant_.seq > before) {
      // Drain what else has arrived already: the newest grant is the one that counts.
      while (auto more = receive(Clock::now())) handle(*more);
      return grant_;
    }
  }
  return std::nullopt;
}

void Client::ping() {
  ClientMessage m;
  m.type = ClientMessage::Type::Ping;
  send(encode(m));
}

std::optional<DaemonStatus> queryDaemon(const std::string& socket, std::chrono::milliseconds timeout) {
  int fd = -1;
  try {
    fd = connectTo(socket);
  } catch (const HardwareError&) {
    return std::nullopt;
  }
  // A status query needs no hello: the connection is not a client, so the report lists nothing of ours.
  ClientMessage q;
  q.type = ClientMessage::Type::Status;
  const std::string f = frame(encode(q));
  if (::send(fd, f.data(), f.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(f.size())) {
    close(fd);
    throw HardwareError("sending to dyndnnd failed");
  }
  FrameReader reader;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto body = reader.next()) {
      close(fd);
      const DaemonMessage m = decodeDaemon(*body);
      if (m.type == DaemonMessage::Type::Denied) throw InvalidArgument(m.what);
      if (m.type != DaemonMessage::Type::Status) throw HardwareError("dyndnnd answered a status query with something else");
      return m.status;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reader.feed(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  throw HardwareError(fmt::format("dyndnnd on {} did not answer a status query within {} ms", socket, timeout.count()));
}

}  // namespace dyndnn::daemon
