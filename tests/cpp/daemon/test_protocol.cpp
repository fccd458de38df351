// dyndnnd's wire protocol: every message survives a round trip, and every malformed or oversized input is
// refused with an error naming what was wrong (nothing a client sends is trusted).

#include <catch2/catch.hpp>

#include <string>

#include "daemon/protocol.hpp"

using namespace dyndnn::daemon;

namespace {

ClientMessage claimMessage() {
  ClientMessage m;
  m.type = ClientMessage::Type::Claim;
  m.claim.exclusive_knob = "affinity";
  m.claim.placements = {{{"affinity", 1}, {"threads", 1}}, {{"affinity", 2}, {"threads", 1}}};
  m.claim.shared = {{"cpufreq.policy0", 1400000}};
  return m;
}

std::string refusal(const std::string& body) {
  try {
    decodeClient(body);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("protocol: client and daemon messages survive a round trip", "[daemon]") {
  const ClientMessage c = claimMessage();
  const ClientMessage back = decodeClient(encode(c));
  CHECK(back.type == ClientMessage::Type::Claim);
  CHECK(back.claim.exclusive_knob == "affinity");
  CHECK(back.claim.placements == c.claim.placements);
  CHECK(back.claim.shared == c.claim.shared);

  ClientMessage hello;
  hello.type = ClientMessage::Type::Hello;
  hello.name = "camera-1";
  hello.priority = -7;
  const ClientMessage h = decodeClient(encode(hello));
  CHECK(h.type == ClientMessage::Type::Hello);
  CHECK(h.name == "camera-1");
  CHECK(h.priority == -7);

  DaemonMessage g;
  g.type = DaemonMessage::Type::Grant;
  g.grant.seq = 3;
  g.grant.placed = false;
  g.grant.floors = {{"cpufreq.policy0", 800000}};
  g.grant.applied = {{"cpufreq.policy0", 1400000}};
  const DaemonMessage gb = decodeDaemon(encode(g));
  CHECK(gb.grant.seq == 3);
  CHECK_FALSE(gb.grant.placed);
  CHECK(gb.grant.floors == g.grant.floors);
  CHECK(gb.grant.applied == g.grant.applied);

  DaemonMessage w;
  w.type = DaemonMessage::Type::Welcome;
  w.welcome.id = 9;
  w.welcome.lease_ms = 500;
  w.welcome.knobs.push_back({"cpufreq.policy0", "kHz", {200000, 1400000}, {}, true, ""});
  const DaemonMessage wb = decodeDaemon(encode(w));
  CHECK(wb.welcome.id == 9);
  REQUIRE(wb.welcome.knobs.size() == 1);
  CHECK(wb.welcome.knobs[0].levels == std::vector<std::int64_t>{200000, 1400000});
}

TEST_CASE("protocol: frames arrive in pieces and together", "[daemon]") {
  const std::string a = frame(encode(claimMessage())), b = frame(R"({"type":"ping"})");
  const std::string both = a + b;
  FrameReader r;
  for (char ch : both) r.feed(&ch, 1);  // one byte at a time
  auto first = r.next();
  REQUIRE(first);
  CHECK(decodeClient(*first).type == ClientMessage::Type::Claim);
  auto second = r.next();
  REQUIRE(second);
  CHECK(decodeClient(*second).type == ClientMessage::Type::Ping);
  CHECK_FALSE(r.next());
  CHECK(r.buffered() == 0);
}

TEST_CASE("protocol: a frame length of zero or over the limit closes the stream", "[daemon]") {
  FrameReader zero;
  zero.feed("\0\0\0\0", 4);
  CHECK_THROWS_WITH(zero.next(), Catch::Contains("frame length 0"));
  FrameReader huge;
  const char big[4] = {0x00, 0x01, 0x00, 0x01};  // 65537 bytes
  huge.feed(big, 4);
  CHECK_THROWS_WITH(huge.next(), Catch::Contains("frame length 65537"));
  CHECK_THROWS_AS(frame(std::string(kMaxFrame + 1, 'x')), ProtocolError);
}

TEST_CASE("protocol: malformed client messages are refused with the field named", "[daemon]") {
  CHECK_THAT(refusal("not json"), Catch::Contains("not valid JSON"));
  CHECK_THAT(refusal("[1,2]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(refusal(R"({"name":"x"})"), Catch::Contains("'type' missing"));
  CHECK_THAT(refusal(R"({"type":"reboot"})"), Catch::Contains("unknown message type 'reboot'"));
  CHECK_THAT(refusal(R"({"type":"hello","name":"../etc","priority":0})"), Catch::Contains("'name' must be"));
  CHECK_THAT(refusal(R"({"type":"hello","name":"a","priority":1001})"), Catch::Contains("out of range"));
  CHECK_THAT(refusal(R"({"type":"hello","name":"a","priority":18446744073709551615})"), Catch::Contains("out of range"));
  CHECK_THAT(refusal(R"({"type":"hello","name":"a","priority":"high"})"), Catch::Contains("wrong type"));
  CHECK_THAT(refusal(R"({"type":"hello","name":")" + std::string(65, 'a') + R"(","priority":0})"),
             Catch::Contains("'name' must be"));
  CHECK_THAT(refusal(R"({"type":"claim","exclusive_knob":"affinity","placements":[{"threads":1}],"shared":{}})"),
             Catch::Contains("lacks the exclusive knob 'affinity'"));
  CHECK_THAT(refusal(R"({"type":"claim","exclusive_knob":"","placements":[],"shared":{"cpufreq.policy0":1.5}})"),
             Catch::Contains("must be an integer"));
  CHECK_THAT(refusal(R"({"type":"need","shared":{"sys/../../etc/passwd":1}})"), Catch::Contains("knob name"));
  CHECK_THAT(refusal(std::string(20, '[') + std::string(20, ']')), Catch::Contains("nested deeper"));
  std::string many = R"({"type":"claim","exclusive_knob":"","placements":[)";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + "{}";
  CHECK_THAT(refusal(many + R"(],"shared":{}})"), Catch::Contains("65 placements"));
  std::string knobs = R"({"type":"need","shared":{)";
  for (int i = 0; i < 17; ++i) knobs += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
  CHECK_THAT(refusal(knobs + "}}"), Catch::Contains("17 knobs"));
  // What is well formed decodes.
  CHECK(refusal(encode(claimMessage())).empty());
}

TEST_CASE("protocol: names are short and of a safe alphabet", "[daemon]") {
  CHECK(validName("cpufreq.policy0"));
  CHECK(validName("nvml.gpu0.clock"));
  CHECK(validName("a:b-c_d"));
  CHECK_FALSE(validName(""));
  CHECK_FALSE(validName("a/b"));
  CHECK_FALSE(validName("a b"));
  CHECK_FALSE(validName(std::string(kMaxName + 1, 'a')));
}
