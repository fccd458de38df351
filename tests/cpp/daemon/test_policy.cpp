// dyndnnd's policy: who may connect, which knobs each may claim, and the highest priority each may ask for.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include "daemon/policy.hpp"
#include "dyndnn/error.hpp"

using namespace dyndnn::daemon;

namespace {
Peer peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  Peer p;
  p.uid = uid;
  p.gid = gid;
  p.groups = groups;
  p.groups.push_back(gid);
  return p;
}
}  // namespace

TEST_CASE("policy: the first matching rule decides, by uid, group or anyone", "[daemon]") {
  const Policy p = Policy::parse(R"({"rules":[
      {"uid": 1000, "knobs": ["cpufreq.*", "affinity"], "max_priority": 10},
      {"gid": 44, "knobs": ["devfreq.gpu"]},
      {"user": "*", "knobs": ["affinity"], "max_priority": -1}]})", "test");
  auto a = p.permissionFor(peer(1000, 1000));
  REQUIRE(a);
  CHECK(a->allows("cpufreq.policy0"));
  CHECK(a->allows("cpufreq.policy4"));
  CHECK(a->allows("affinity"));
  CHECK_FALSE(a->allows("devfreq.gpu"));
  CHECK_FALSE(a->allows("cpufreq"));  // a prefix rule matches the prefix, not less
  CHECK(a->max_priority == 10);
  auto video = p.permissionFor(peer(1001, 1001, {44}));  // a supplementary group
  REQUIRE(video);
  CHECK(video->allows("devfreq.gpu"));
  CHECK_FALSE(video->allows("affinity"));
  CHECK(video->max_priority == 0);
  auto anyone = p.permissionFor(peer(4242, 4242));
  REQUIRE(anyone);
  CHECK(anyone->allows("affinity"));
  CHECK(anyone->max_priority == -1);

  const Policy strict = Policy::parse(R"({"rules":[{"uid": 1000, "knobs": ["*"]}]})", "test");
  CHECK_FALSE(strict.permissionFor(peer(1001, 1001)));
  CHECK(strict.permissionFor(peer(1000, 1000))->allows("anything.at.all"));
}

TEST_CASE("policy: without a file only root may connect", "[daemon]") {
  const Policy p = Policy::rootOnly();
  CHECK(p.permissionFor(peer(0, 0))->allows("cpufreq.policy0"));
  CHECK_FALSE(p.permissionFor(peer(1000, 1000)));
}

TEST_CASE("policy: a bad file is refused with the rule and field named", "[daemon]") {
  auto refusal = [](const std::string& text) {
    try {
      Policy::parse(text, "p.json");
    } catch (const dyndnn::InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(refusal("{}"), Catch::Contains("expected a JSON object {\"rules\""));
  CHECK_THAT(refusal(R"({"rules":[{"knobs":[]}]})"), Catch::Contains("rule 1: must name exactly one of"));
  CHECK_THAT(refusal(R"({"rules":[{"uid":0,"gid":0}]})"), Catch::Contains("exactly one"));
  CHECK_THAT(refusal(R"({"rules":[{"uid":0},{"user":"no-such-user-dyndnn"}]})"),
             Catch::Contains("rule 2: no user 'no-such-user-dyndnn'"));
  CHECK_THAT(refusal(R"({"rules":[{"group":"no-such-group-dyndnn"}]})"), Catch::Contains("no group"));
  CHECK_THAT(refusal(R"({"rules":[{"uid":-1}]})"), Catch::Contains("non-negative"));
  CHECK_THAT(refusal(R"({"rules":[{"uid":0,"knobs":["../x"]}]})"), Catch::Contains("not a knob name"));
  CHECK_THAT(refusal(R"({"rules":[{"uid":0,"max_priority":5000}]})"), Catch::Contains("max_priority"));
  CHECK_THAT(refusal(R"({"rules":[{"uid":0,"sudo":true}]})"), Catch::Contains("unknown field 'sudo'"));
}

TEST_CASE("policy: the example shipped with the systemd unit parses", "[daemon]") {
  const Policy p = Policy::load(std::string(DYNDNN_SOURCE_DIR) + "/src/daemon/dyndnnd-policy.json");
  auto anyone = p.permissionFor(peer(4242, 4242));
  REQUIRE(anyone);
  CHECK(anyone->allows("affinity"));
  CHECK_FALSE(anyone->allows("cpufreq.policy0"));
}

TEST_CASE("policy: peer credentials come from the kernel", "[daemon]") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  const Peer p = peerOf(sv[0]);
  CHECK(p.uid == getuid());
  CHECK(p.gid == getgid());
  CHECK(p.pid == getpid());
  close(sv[0]);
  close(sv[1]);
}
