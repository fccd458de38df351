// Encoding and validation of dyndnnd's messages. Decoding checks every field a message may carry and refuses
// anything else: the daemon runs with the rights to write cpufreq, so nothing a client sends is trusted.

#include "daemon/protocol.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dyndnn::daemon {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 6;  // the deepest message: {"placements":[{"k":v}]} and the status report's lists

// Nesting depth outside strings, checked before parsing so that no input makes the parser or the destructor of
// a deeply nested value recurse far.
void checkDepth(std::string_view body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) throw ProtocolError(fmt::format("message nested deeper than {} levels", kMaxDepth));
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

json parse(std::string_view body) {
  if (body.size() > kMaxFrame) throw ProtocolError(fmt::format("message of {} bytes (at most {})", body.size(), kMaxFrame));
  checkDepth(body);
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ProtocolError("message is not valid JSON");
  if (!j.is_object()) throw ProtocolError("message is not a JSON object");
  return j;
}

const json& field(const json& j, const char* key, json::value_t type, const char* what) {
  auto it = j.find(key);
  if (it == j.end()) throw ProtocolError(fmt::format("{}: field '{}' missing", what, key));
  const bool ok = it->type() == type ||
                  (type == json::value_t::number_integer && it->type() == json::value_t::number_unsigned) ||
                  (type == json::value_t::number_float && it->is_number());
  if (!ok) throw ProtocolError(fmt::format("{}: field '{}' has the wrong type ({})", what, key, it->type_name()));
  return *it;
}

std::string nameField(const json& j, const char* key, const char* what, bool may_be_empty = false) {
  const std::string s = field(j, key, json::value_t::string, what).get<std::string>();
  if (!(may_be_empty && s.empty()) && !validName(s))
    throw ProtocolError(fmt::format("{}: '{}' must be 1 to {} characters of A-Z a-z 0-9 _ . : -", what, key, kMaxName));
  return s;
}

std::int64_t intField(const json& j, const char* key, const char* what, std::int64_t lo, std::int64_t hi) {
  const json& v = field(j, key, json::value_t::number_integer, what);
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    throw ProtocolError(fmt::format("{}: '{}' out of range {}..{}", what, key, lo, hi));
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) throw ProtocolError(fmt::format("{}: '{}' = {} out of range {}..{}", what, key, x, lo, hi));
  return x;
}

HardwareState stateOf(const json& j, const char* what) {
  if (!j.is_object()) throw ProtocolError(fmt::format("{}: a hardware state must be an object of knob: level", what));
  if (j.size() > kMaxKnobs) throw ProtocolError(fmt::format("{}: {} knobs in one state (at most {})", what, j.size(), kMaxKnobs));
  HardwareState s;
  for (const auto& [k, v] : j.items()) {
    if (!validName(k)) throw ProtocolError(fmt::format("{}: knob name must be 1 to {} characters of A-Z a-z 0-9 _ . : -", what, kMaxName));
    if (!v.is_number_integer()) throw ProtocolError(fmt::format("{}: level of '{}' must be an integer", what, k));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
      throw ProtocolError(fmt::format("{}: level of '{}' out of range", what, k));
    s[k] = v.get<std::int64_t>();
  }
  return s;
}

json toJson(const HardwareState& s) {
  json j = json::object();
  for (const auto& [k, v] : s) j[k] = v;
  return j;
}

json toJson(const Grant& g) {
  return {{"seq", g.seq}, {"placed", g.placed}, {"placement", toJson(g.placement)}, {"floors", toJson(g.floors)},
          {"applied", toJson(g.applied)}};
}

Grant grantOf(const json& j) {
  Grant g;
  g.seq = static_cast<std::uint64_t>(intField(j, "seq", "grant", 0, INT64_MAX));
  g.placed = field(j, "placed", json::value_t::boolean, "grant").get<bool>();
  g.placement = stateOf(field(j, "placement", json::value_t::object, "grant"), "grant placement");
  g.floors = stateOf(field(j, "floors", json::value_t::object, "grant"), "grant floors");
  g.applied = stateOf(field(j, "applied", json::value_t::object, "grant"), "grant applied");
  return g;
}

}  // namespace

bool validName(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string encode(const ClientMessage& m) {
  using T = ClientMessage::Type;
  json j;
  switch (m.type) {
    case T::Hello: j = {{"type", "hello"}, {"name", m.name}, {"priority", m.priority}}; break;
    case T::Claim: {
      json placements = json::array();
      for (const auto& p : m.claim.placements) placements.push_back(toJson(p));
      j = {{"type", "claim"}, {"exclusive_knob", m.claim.exclusive_knob}, {"placements", placements},
           {"shared", toJson(m.claim.shared)}};
      break;
    }
    case T::Need: j = {{"type", "need"}, {"shared", toJson(m.claim.shared)}}; break;
    case T::Ping: j = {{"type", "ping"}}; break;
    case T::Status: j = {{"type", "status"}}; break;
    case T::Bye: j = {{"type", "bye"}}; break;
  }
  return j.dump();
}

ClientMessage decodeClient(std::string_view body) {
  const json j = parse(body);
  const std::string type = field(j, "type", json::value_t::string, "message").get<std::string>();
  ClientMessage m;
  using T = ClientMessage::Type;
  if (type == "hello") {
    m.type = T::Hello;
    m.name = nameField(j, "name", "hello");
    m.priority = static_cast<int>(intField(j, "priority", "hello", -kMaxPriority, kMaxPriority));
  } else if (type == "claim") {
    m.type = T::Claim;
    m.claim.exclusive_knob = nameField(j, "exclusive_knob", "claim", /*may_be_empty=*/true);
    const json& ps = field(j, "placements", json::value_t::array, "claim");
    if (ps.size() > kMaxPlacements)
      throw ProtocolError(fmt::format("claim: {} placements (at most {})", ps.size(), kMaxPlacements));
    for (const auto& p : ps) {
      m.claim.placements.push_back(stateOf(p, "claim placement"));
      if (!m.claim.exclusive_knob.empty() && !m.claim.placements.back().count(m.claim.exclusive_knob))
        throw ProtocolError(fmt::format("claim: a placement lacks the exclusive knob '{}'", m.claim.exclusive_knob));
    }
    m.claim.shared = stateOf(field(j, "shared", json::value_t::object, "claim"), "claim shared");
  } else if (type == "need") {
    m.type = T::Need;
    m.claim.shared = stateOf(field(j, "shared", json::value_t::object, "need"), "need shared");
  } else if (type == "ping") {
    m.type = T::Ping;
  } else if (type == "status") {
    m.type = T::Status;
  } else if (type == "bye") {
    m.type = T::Bye;
  } else {
    throw ProtocolError(fmt::format("unknown message type '{}'", type.substr(0, kMaxName)));
  }
  return m;
}

std::string encode(const DaemonMessage& m) {
  using T = DaemonMessage::Type;
  json j;
  switch (m.type) {
    case T::Welcome: {
      json knobs = json::array();
      for (const auto& k : m.welcome.knobs) knobs.push_back({{"name", k.name}, {"unit", k.unit}, {"levels", k.levels}});
      j = {{"type", "welcome"}, {"id", m.welcome.id}, {"lease_ms", m.welcome.lease_ms}, {"knobs", knobs}};
      break;
    }
    case T::Grant: j = {{"type", "grant"}, {"grant", toJson(m.grant)}}; break;
    case T::Denied: j = {{"type", "denied"}, {"what", m.what}}; break;
    case T::Pong: j = {{"type", "pong"}}; break;
    case T::Status: {
      json clients = json::array();
      for (const auto& c : m.status.clients)
        clients.push_back({{"id", c.id}, {"name", c.name}, {"priority", c.priority}, {"uid", c.uid}, {"pid", c.pid},
                           {"grant", toJson(c.grant)}});
      j = {{"type", "status"}, {"governor", m.status.governor}, {"applied", toJson(m.status.applied)},
           {"clients", clients}};
      break;
    }
  }
  return j.dump();
}

DaemonMessage decodeDaemon(std::string_view body) {
  const json j = parse(body);
  const std::string type = field(j, "type", json::value_t::string, "message").get<std::string>();
  DaemonMessage m;
  using T = DaemonMessage::Type;
  if (type == "welcome") {
    m.type = T::Welcome;
    m.welcome.id = static_cast<int>(intField(j, "id", "welcome", 1, INT32_MAX));
    m.welcome.lease_ms = static_cast<int>(intField(j, "lease_ms", "welcome", 1, INT32_MAX));
    for (const auto& k : field(j, "knobs", json::value_t::array, "welcome")) {
      hw::Knob knob;
      knob.name = nameField(k, "name", "welcome knob");
      knob.unit = field(k, "unit", json::value_t::string, "welcome knob").get<std::string>();
      for (const auto& v : field(k, "levels", json::value_t::array, "welcome knob")) {
        if (!v.is_number_integer()) throw ProtocolError("welcome knob: levels must be integers");
        knob.levels.push_back(v.get<std::int64_t>());
      }
      m.welcome.knobs.push_back(std::move(knob));
    }
  } else if (type == "grant") {
    m.type = T::Grant;
    m.grant = grantOf(field(j, "grant", json::value_t::object, "grant"));
  } else if (type == "denied") {
    m.type = T::Denied;
    m.what = field(j, "what", json::value_t::string, "denied").get<std::string>();
  } else if (type == "pong") {
    m.type = T::Pong;
  } else if (type == "status") {
    m.type = T::Status;
    m.status.governor = field(j, "governor", json::value_t::string, "status").get<std::string>();
    m.status.applied = stateOf(field(j, "applied", json::value_t::object, "status"), "status applied");
    for (const auto& c : field(j, "clients", json::value_t::array, "status")) {
      ClientInfo info;
      info.id = static_cast<int>(intField(c, "id", "status client", 1, INT32_MAX));
      info.name = nameField(c, "name", "status client");
      info.priority = static_cast<int>(intField(c, "priority", "status client", -kMaxPriority, kMaxPriority));
      info.uid = intField(c, "uid", "status client", -1, INT64_MAX);
      info.pid = intField(c, "pid", "status client", -1, INT64_MAX);
      info.grant = grantOf(field(c, "grant", json::value_t::object, "status client"));
      m.status.clients.push_back(std::move(info));
    }
  } else {
    throw ProtocolError(fmt::format("unknown message type '{}'", type.substr(0, kMaxName)));
  }
  return m;
}

std::string frame(const std::string& body) {
  if (body.empty() || body.size() > kMaxFrame)
    throw ProtocolError(fmt::format("a message of {} bytes cannot be sent (1 to {})", body.size(), kMaxFrame));
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string out;
  out.reserve(4 + body.size());
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out += body;
  return out;
}

void FrameReader::feed(const char* data, std::size_t n) {
  if (start_ > 0 && start_ == buffer_.size()) {  // everything handed out: start over rather than grow
    buffer_.clear();
    start_ = 0;
  }
  buffer_.append(data, n);
}

std::optional<std::string> FrameReader::next() {
  if (buffered() < 4) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + start_);
  const std::uint32_t n = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
  if (n == 0 || n > kMaxFrame)
    throw ProtocolError(fmt::format("frame length {} (must be 1 to {}); closing the connection", n, kMaxFrame));
  if (buffered() < 4 + n) return std::nullopt;
  std::string body = buffer_.substr(start_ + 4, n);
  start_ += 4 + n;
  if (start_ > kMaxFrame) {  // drop what was handed out so the buffer stays bounded
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return body;
}

}  // namespace dyndnn::daemon
