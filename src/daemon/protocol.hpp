#pragma once
// The wire protocol between dyndnnd and its clients: frames of a 4-byte big-endian length and a JSON object of
// at most kMaxFrame bytes. Every message is decoded into a plain struct and validated field by field (names,
// counts, ranges) before the daemon acts on it; anything else is a ProtocolError that names the field. The daemon
// parses only what clients send (decodeClient); clients parse only what the daemon sends (decodeDaemon).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dyndnn/daemon.hpp"
#include "dyndnn/error.hpp"

namespace dyndnn::daemon {

class ProtocolError : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

inline constexpr std::size_t kMaxFrame = 64 * 1024;   // a claim with 64 placements of 16 knobs fits with room
inline constexpr std::size_t kMaxName = 64;           // client and knob names
inline constexpr std::size_t kMaxPlacements = 64;
inline constexpr std::size_t kMaxKnobs = 16;          // knobs in one hardware state
inline constexpr int kMaxPriority = 1000;

/// What a client sends.
struct ClientMessage {
  enum class Type { Hello, Claim, Need, Ping, Status, Bye } type = Type::Ping;
  std::string name;  // hello
  int priority = 0;  // hello
  Claim claim;       // claim (need: claim.shared only)
};

/// What the daemon sends.
struct DaemonMessage {
  enum class Type { Welcome, Grant, Denied, Pong, Status } type = Type::Pong;
  Welcome welcome;
  Grant grant;
  std::string what;         // denied: the reason
  DaemonStatus status;      // status
};

std::string encode(const ClientMessage& m);
std::string encode(const DaemonMessage& m);
ClientMessage decodeClient(std::string_view body);
DaemonMessage decodeDaemon(std::string_view body);

/// The frame for `body`: its length (4 bytes, big-endian) and the body.
std::string frame(const std::string& body);

/// Collects bytes as they arrive and hands out whole frames. A length of 0 or over kMaxFrame is a ProtocolError
/// (the connection is then closed: there is no resynchronising a byte stream).
class FrameReader {
 public:
  void feed(const char* data, std::size_t n);
  /// The next whole frame's body, if one has arrived.
  std::optional<std::string> next();
  std::size_t buffered() const { return buffer_.size() - start_; }

 private:
  std::string buffer_;
  std::size_t start_ = 0;
};

/// Whether `name` may name a client or a knob: 1..kMaxName characters of [A-Za-z0-9_.:-].
bool validName(std::string_view name);

}  // namespace dyndnn::daemon
