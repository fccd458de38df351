// libFuzzer target for dyndnnd's wire protocol: the frame reader and the decoders of both directions, on any
// bytes (a stream split at an arbitrary point, and the input as one message body). A ProtocolError is the
// expected outcome for bad input; anything else (another exception, a crash, a huge allocation) is a finding.

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/protocol.hpp"

using namespace dyndnn::daemon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    FrameReader reader;
    const std::size_t split = size ? data[0] % (size + 1) : 0;
    reader.feed(bytes.data(), split);
    reader.feed(bytes.data() + split, size - split);
    while (auto body = reader.next()) {
      try {
        decodeClient(*body);
      } catch (const ProtocolError&) {
      }
    }
  } catch (const ProtocolError&) {
  }
  for (bool daemon_side : {true, false}) {
    try {
      if (daemon_side) {
        const ClientMessage m = decodeClient(bytes);
        decodeClient(encode(m));  // what decodes re-encodes to something that decodes
      } else {
        const DaemonMessage m = decodeDaemon(bytes);
        decodeDaemon(encode(m));
      }
    } catch (const ProtocolError&) {
    }
  }
  return 0;
}
