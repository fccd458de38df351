#pragma once
// Real processes for dyndnnd's tests: the daemon binary started on a fake sysfs tree, and client processes
// (forked children running dyndnn::daemon::Client) that report every grant on a pipe.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace dyndnn::daemon::test {

/// A directory others may traverse (the socket lives there, so a client running as nobody can reach it).
class SocketDir {
 public:
  SocketDir();
  ~SocketDir();
  std::string socket() const { return dir_ + "/dyndnn.sock"; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

class DaemonProcess {
 public:
  /// Starts dyndnnd with `args` and waits (up to 5 s) until its socket accepts connections.
  DaemonProcess(const std::string& socket, std::vector<std::string> args);
  ~DaemonProcess();
  pid_t pid() const { return pid_; }
  /// Sends `signal` and waits for the exit; returns the wait status.
  int stop(int signal);
  /// Open file descriptors and resident memory (kB) of the daemon, from /proc.
  int openFds() const;
  long rssKb() const;
  /// What it printed on stderr so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

/// A forked client: `body` runs in the child and writes lines with report(); the parent reads them.
class ClientProcess {
 public:
  using Body = std::function<int(int report_fd)>;
  explicit ClientProcess(Body body, bool as_nobody = false);
  ~ClientProcess();
  /// The next line the child reported, or "" after `timeout`.
  std::string line(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// The first reported line that contains `text` ("" after `timeout`).
  std::string waitFor(const std::string& text, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  int kill(int signal);  // returns the wait status
  int wait();            // waits for a normal exit; returns the wait status
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string pending_;
};

/// Writes one line to the parent.
void report(int fd, const std::string& line);

}  // namespace dyndnn::daemon::test
