#include "daemon/daemon_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace dyndnn::daemon::test {

SocketDir::SocketDir() {
  char tmpl[] = "/tmp/dyndnnd-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0755);
}

SocketDir::~SocketDir() {
  const std::string cmd = "rm -rf '" + dir_ + "'";
  [[maybe_unused]] int r = std::system(cmd.c_str());
}

namespace {
bool accepts(const std::string& socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

DaemonProcess::DaemonProcess(const std::string& socket, std::vector<std::string> args) {
  log_path_ = socket + ".log." + std::to_string(::getpid()) + "." + std::to_string(std::rand());
  args.insert(args.begin(), {DYNDNN_DAEMON, "--socket", socket, "--verbose"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (posix_spawn(&pid_, DYNDNN_DAEMON, &actions, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start " + std::string(DYNDNN_DAEMON));
  posix_spawn_file_actions_destroy(&actions);
  for (int i = 0; i < 500; ++i) {
    if (accepts(socket)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("dyndnnd exited at start: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("dyndnnd did not listen within 5 s: " + log());
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) stop(SIGKILL);
  ::unlink(log_path_.c_str());
}

int DaemonProcess::stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int DaemonProcess::openFds() const {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

long DaemonProcess::rssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::string DaemonProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void report(int fd, const std::string& line) {
  const std::string l = line + "\n";
  [[maybe_unused]] ssize_t n = ::write(fd, l.data(), l.size());
}

ClientProcess::ClientProcess(Body body, bool as_nobody) {
  int p[2];
  if (::pipe(p) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::close(p[0]);
    if (as_nobody && ::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(99);
    int rc = 1;
    try {
      rc = body(p[1]);
    } catch (const std::exception& e) {
      report(p[1], std::string("error: ") + e.what());
    }
    ::_exit(rc);
  }
  ::close(p[1]);
  fd_ = p[0];
}

ClientProcess::~ClientProcess() {
  if (pid_ > 0) kill(SIGKILL);
  if (fd_ >= 0) ::close(fd_);
}

std::string ClientProcess::line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = pending_.find('\n'); nl != std::string::npos) {
      std::string l = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return l;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pf{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pf, 1, static_cast<int>(left.count())) <= 0) return "";
    char buf[512];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return "";
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

std::string ClientProcess::waitFor(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    const std::string l = line(left);
    if (l.empty()) return "";
    if (l.find(text) != std::string::npos) return l;
  }
}

int ClientProcess::kill(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  return wait();
}

int ClientProcess::wait() {
  int status = 0;
  if (pid_ > 0) ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

}  // namespace dyndnn::daemon::test
