// dyndnnd: the device's hardware daemon. Owns the DVFS knobs, arbitrates them across processes (see
// dyndnn/daemon.hpp), restores every knob when it stops (SIGTERM, SIGINT) and, after a SIGKILL, when it starts.

#include <csignal>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/server.hpp"
#include "dyndnn/error.hpp"

namespace {
dyndnn::daemon::Server* g_server = nullptr;
void onSignal(int) {
  if (g_server) g_server->stop();  // write() to a pipe: async-signal-safe
}
}  // namespace

int main(int argc, char** argv) {
  dyndnn::daemon::ServerOptions o;
  CLI::App app{"dyndnnd: arbitrates DVFS and cores across the processes that run dyndnn models"};
  app.add_option("--socket", o.socket, "Unix socket to listen on")->capture_default_str();
  app.add_option("--policy", o.policy_file, "policy file (JSON: which users may claim which knobs); none: root only");
  app.add_option("--root", o.root, "directory that stands for / (a fake sysfs tree in tests)")->capture_default_str();
  app.add_option("--state-file", o.state_file, "originals of changed knobs, for restore after SIGKILL")
      ->capture_default_str();
  app.add_option("--lease-ms", o.lease_ms, "a client silent this long loses its claims")
      ->capture_default_str()->check(CLI::Range(10, 3600000));
  std::string mode = "0666";
  app.add_option("--socket-mode", mode, "permissions of the socket file, octal (who may connect at all)")
      ->capture_default_str()->check([](const std::string& s) {
        return s.find_first_not_of("01234567") == std::string::npos && s.size() <= 4 && !s.empty()
                   ? std::string() : std::string("must be octal permissions such as 0660");
      });
  app.add_flag("-v,--verbose", o.verbose, "one line per client, claim and grant on stderr");
  CLI11_PARSE(app, argc, argv);
  o.socket_mode = static_cast<unsigned>(std::stoul(mode, nullptr, 8));
  try {
    dyndnn::daemon::Server server(o);
    g_server = &server;
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    std::cerr << "dyndnnd: listening on " << o.socket << std::endl;
    server.run();
    g_server = nullptr;
    std::cerr << "dyndnnd: stopping; knobs restored" << std::endl;
    return 0;
  } catch (const dyndnn::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
