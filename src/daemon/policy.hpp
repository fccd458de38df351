#pragma once
// Who may claim what from dyndnnd. The policy file is JSON:
//   {"rules": [{"user": "camera", "knobs": ["cpufreq.*", "affinity"], "max_priority": 10},
//              {"group": "video", "knobs": ["affinity"]}]}
// Each rule names one of "user" (a name, or "*" for anyone), "uid", "group" (the client's primary or a
// supplementary group) or "gid"; "knobs" lists the knobs it may claim (a trailing '*' matches any suffix);
// "max_priority" (default 0) caps the priority it may ask for. The first rule that matches a client decides;
// a client no rule matches is refused. Without a policy file only root may connect.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace dyndnn::daemon {

/// A connected process as the kernel vouches for it (SO_PEERCRED), with its user's supplementary groups.
struct Peer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;
};

/// The credentials of the process at the other end of a Unix socket. Throws HardwareError when unavailable.
Peer peerOf(int fd);
/// The user's name for messages (the number when the system has no name for it).
std::string userName(uid_t uid);

struct Permission {
  std::vector<std::string> knobs;  // names, or prefixes ending in '*'
  int max_priority = 0;
  bool allows(const std::string& knob) const;
};

class Policy {
 public:
  /// Only root, every knob, any priority.
  static Policy rootOnly();
  /// Reads a policy file. Throws InvalidArgument naming the file, the rule and the field.
  static Policy load(const std::string& path);
  /// `where` names the text in errors.
  static Policy parse(const std::string& text, const std::string& where);
  /// What the first matching rule grants, or nothing.
  std::optional<Permission> permissionFor(const Peer& peer) const;

 private:
  struct Rule {
    enum class Kind { AnyUser, Uid, Gid } kind = Kind::AnyUser;
    unsigned id = 0;
    Permission permission;
  };
  std::vector<Rule> rules_;
};

}  // namespace dyndnn::daemon
