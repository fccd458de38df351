// The daemon's policy: rules from a JSON file, names resolved once at load, matched against peer credentials.

#include "daemon/policy.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/protocol.hpp"
#include "dyndnn/error.hpp"

namespace dyndnn::daemon {

Peer peerOf(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    throw HardwareError(fmt::format("dyndnnd: cannot read the peer credentials of a client: {}", std::strerror(errno)));
  Peer p{cred.uid, cred.gid, cred.pid, {cred.gid}};
  // The user's supplementary groups, as the system's group database lists them (the peer's own list is not
  // available through the socket).
  if (const passwd* pw = getpwuid(cred.uid)) {
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (getgrouplist(pw->pw_name, cred.gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<std::size_t>(n));
      getgrouplist(pw->pw_name, cred.gid, groups.data(), &n);
    }
    groups.resize(static_cast<std::size_t>(std::max(n, 0)));
    p.groups = std::move(groups);
  }
  return p;
}

std::string userName(uid_t uid) {
  if (const passwd* pw = getpwuid(uid)) return pw->pw_name;
  return std::to_string(uid);
}

bool Permission::allows(const std::string& knob) const {
  for (const auto& k : knobs) {
    if (!k.empty() && k.back() == '*') {
      if (knob.compare(0, k.size() - 1, k, 0, k.size() - 1) == 0) return true;
    } else if (k == knob) {
      return true;
    }
  }
  return false;
}

Policy Policy::rootOnly() {
  Policy p;
  p.rules_.push_back({Rule::Kind::Uid, 0, Permission{{"*"}, kMaxPriority}});
  return p;
}

Policy Policy::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InvalidArgument(fmt::format("dyndnnd: cannot read the policy file {}: {}", path, std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Policy Policy::parse(const std::string& text, const std::string& where) {
  using nlohmann::json;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("rules") || !j["rules"].is_array())
    throw InvalidArgument(fmt::format("policy {}: expected a JSON object {{\"rules\": [...]}}", where));
  Policy p;
  int index = 0;
  for (const auto& r : j["rules"]) {
    ++index;
    auto bad = [&](const std::string& what) {
      return InvalidArgument(fmt::format("policy {}: rule {}: {}", where, index, what));
    };
    if (!r.is_object()) throw bad("must be an object");
    Rule rule;
    int who = 0;
    for (const auto& [key, value] : r.items()) {
      if (key == "user") {
        ++who;
        if (!value.is_string()) throw bad("'user' must be a name or \"*\"");
        const std::string name = value.get<std::string>();
        if (name == "*") {
          rule.kind = Rule::Kind::AnyUser;
        } else {
          const passwd* pw = getpwnam(name.c_str());
          if (!pw) throw bad(fmt::format("no user '{}' on this system", name));
          rule.kind = Rule::Kind::Uid;
          rule.id = pw->pw_uid;
        }
      } else if (key == "group") {
        ++who;
        if (!value.is_string()) throw bad("'group' must be a name");
        const group* gr = getgrnam(value.get<std::string>().c_str());
        if (!gr) throw bad(fmt::format("no group '{}' on this system", value.get<std::string>()));
        rule.kind = Rule::Kind::Gid;
        rule.id = gr->gr_gid;
      } else if (key == "uid" || key == "gid") {
        ++who;
        if (!value.is_number_unsigned()) throw bad(fmt::format("'{}' must be a non-negative integer", key));
        rule.kind = key == "uid" ? Rule::Kind::Uid : Rule::Kind::Gid;
        rule.id = value.get<unsigned>();
      } else if (key == "knobs") {
        if (!value.is_array()) throw bad("'knobs' must be a list of knob names (a trailing * matches any suffix)");
        for (const auto& k : value) {
          if (!k.is_string()) throw bad("'knobs' must hold strings");
          const std::string s = k.get<std::string>();
          const std::string stem = !s.empty() && s.back() == '*' ? s.substr(0, s.size() - 1) : s;
          if (!(stem.empty() && !s.empty()) && !validName(stem)) throw bad(fmt::format("'{}' is not a knob name", s));
          rule.permission.knobs.push_back(s);
        }
      } else if (key == "max_priority") {
        if (!value.is_number_integer() || value.get<long long>() < -kMaxPriority || value.get<long long>() > kMaxPriority)
          throw bad(fmt::format("'max_priority' must be an integer in {}..{}", -kMaxPriority, kMaxPriority));
        rule.permission.max_priority = value.get<int>();
      } else {
        throw bad(fmt::format("unknown field '{}' (user, uid, group, gid, knobs, max_priority)", key));
      }
    }
    if (who != 1) throw bad("must name exactly one of user, uid, group, gid");
    p.rules_.push_back(std::move(rule));
  }
  return p;
}

std::optional<Permission> Policy::permissionFor(const Peer& peer) const {
  for (const auto& r : rules_) {
    bool match = false;
    switch (r.kind) {
      case Rule::Kind::AnyUser: match = true; break;
      case Rule::Kind::Uid: match = peer.uid == r.id; break;
      case Rule::Kind::Gid:
        match = peer.gid == r.id || std::find(peer.groups.begin(), peer.groups.end(), r.id) != peer.groups.end();
        break;
    }
    if (match) return r.permission;
  }
  return std::nullopt;
}

}  // namespace dyndnn::daemon
