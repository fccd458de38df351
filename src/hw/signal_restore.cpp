// Opt-in SIGINT/SIGTERM restore. A library must not take over signals uninvited, so this is installed only
// when the host calls installSignalRestore(); afterwards the host's earlier handler still runs (or, when there
// was none, the signal's default action still ends the process), only after the knobs are back.

#include <signal.h>

#include <cerrno>
#include <mutex>

#include "dyndnn/hw/governor.hpp"
#include "restore_journal.hpp"

namespace dyndnn::hw {
namespace {

struct sigaction g_previous_int {};
struct sigaction g_previous_term {};

void onTerminatingSignal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  RestoreJournal::restoreAllFromSignal();
  const struct sigaction& previous = sig == SIGINT ? g_previous_int : g_previous_term;
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler == SIG_DFL) {
    // Re-raise with the default action: the signal is blocked while we run, so it is delivered on return
    // and the process ends "killed by signal" exactly as without us.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    raise(sig);
  } else if (previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  }
  errno = saved_errno;
}

}  // namespace

void installSignalRestore() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = onTerminatingSignal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGINT);  // one restore at a time, even if both signals arrive together
    sigaddset(&action.sa_mask, SIGTERM);
    sigaction(SIGINT, &action, &g_previous_int);
    sigaction(SIGTERM, &action, &g_previous_term);
  });
}

}  // namespace dyndnn::hw
