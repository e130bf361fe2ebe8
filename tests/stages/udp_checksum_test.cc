// udp_checksum: drop_zero and fill on IPv4 (plain, VLAN, options), the IPv6 policy (pass, drop,
// fill; plain, extension headers, QinQ), against scapy-built frames; a computed 0 sent as 0xffff;
// a UDP length shorter than the IP payload; what fill leaves alone (fragments, bad lengths,
// truncated headers, existing checksums, TCP); PATHspider's udpzero outcomes; drop counters
// through a chain; match, probability, bad params.

#include "harness.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("udp_checksum_frames.json");
  return f;
}

const std::vector<std::string> kZero4 = {"plain4", "vlan4", "opts4", "ffff4", "shortlen4"};
const std::vector<std::string> kZero6 = {"plain6", "ext6", "qinq6"};
// Zero checksums fill cannot compute: a first fragment, UDP lengths past the packet or under 8.
const std::vector<std::string> kUnfillable4 = {"firstfrag4", "longlen4", "tinylen4"};
// No zero UDP checksum the stage can see: left alone whatever the mode.
const std::vector<std::pair<std::string, std::string>> kUntouched = {
    {"good4", "in"}, {"good6", "in"},    {"wrong4", "in"},
    {"tcp4", "in"},  {"trunc4", "zero"}, {"laterfrag4", "zero"}};

TEST(UdpChecksum, DropZero) {
  StageRun s("udp_checksum", "action: drop_zero");
  for (const auto& v : kZero4) EXPECT_EQ(s.run1(frames().get(v, "zero")).verdict, 1) << v;
  for (const auto& v : kUnfillable4) EXPECT_EQ(s.run1(frames().get(v, "zero")).verdict, 1) << v;
  for (const auto& v : kZero6) {  // IPv6 defaults to pass, counted
    const Out o = s.run1(frames().get(v, "zero"));
    EXPECT_EQ(o.verdict, kPass) << v;
    EXPECT_EQ(o.bytes, frames().get(v, "zero")) << v;
  }
  EXPECT_EQ(s.action("ipv6_zero_passed"), kZero6.size());
  EXPECT_EQ(s.action("filled"), 0u);
}

TEST(UdpChecksum, Fill) {
  StageRun s("udp_checksum", "action: fill");
  for (const auto& v : kZero4) {
    const Out o = s.run1(frames().get(v, "zero"));
    EXPECT_EQ(o.verdict, kPass) << v;
    EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(v, "filled"))) << v;
    // The harness sums the whole IP payload; shortlen4's checksum covers its 12 UDP bytes only.
    if (v != "shortlen4") {
      EXPECT_TRUE(checksums_ok(o.bytes)) << v;
    }
  }
  EXPECT_EQ(s.action("filled"), kZero4.size());
  for (const auto& v : kUnfillable4) {
    const Out o = s.run1(frames().get(v, "zero"));
    EXPECT_EQ(o.verdict, kPass) << v;
    EXPECT_EQ(o.bytes, frames().get(v, "zero")) << v;
  }
  EXPECT_EQ(s.action("fragment_not_filled"), 1u);
  EXPECT_EQ(s.action("bad_length_not_filled"), 2u);
  EXPECT_EQ(s.action("filled"), kZero4.size());
}

TEST(UdpChecksum, ComputedZeroIsSentAsFfff) {
  StageRun s("udp_checksum", "action: fill");
  const Bytes out = s.run1(frames().get("ffff4", "zero")).bytes;
  EXPECT_EQ(out.at(14 + 20 + 6), 0xff);
  EXPECT_EQ(out.at(14 + 20 + 7), 0xff);
}

TEST(UdpChecksum, Ipv6Policies) {
  StageRun drop("udp_checksum", "action: fill\nipv6_zero: drop");
  StageRun fill("udp_checksum", "action: drop_zero\nipv6_zero: fill");
  for (const auto& v : kZero6) {
    EXPECT_EQ(drop.run1(frames().get(v, "zero")).verdict, 2) << v;
    const Out o = fill.run1(frames().get(v, "zero"));
    EXPECT_EQ(o.verdict, kPass) << v;
    EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(v, "filled"))) << v;
    EXPECT_TRUE(checksums_ok(o.bytes)) << v;
  }
  EXPECT_EQ(fill.action("ipv6_filled"), kZero6.size());
  EXPECT_EQ(fill.action("filled"), 0u);
  EXPECT_EQ(fill.run1(frames().get("tinylen6", "zero")).bytes, frames().get("tinylen6", "zero"));
  EXPECT_EQ(fill.action("bad_length_not_filled"), 1u);
  EXPECT_EQ(drop.action("ipv6_zero_passed"), 0u);
}

TEST(UdpChecksum, LeavesTheRestAlone) {
  for (const char* yaml : {"action: drop_zero\nipv6_zero: drop", "action: fill\nipv6_zero: fill"}) {
    StageRun s("udp_checksum", yaml);
    for (const auto& [c, field] : kUntouched) {
      const Out o = s.run1(frames().get(c, field));
      EXPECT_EQ(o.verdict, kPass) << yaml << " " << c;
      EXPECT_EQ(o.bytes, frames().get(c, field)) << yaml << " " << c;
    }
    for (const char* counter : {"filled", "ipv6_filled", "ipv6_zero_passed", "fragment_not_filled",
                                "bad_length_not_filled"}) {
      EXPECT_EQ(s.action(counter), 0u) << yaml << " " << counter;
    }
  }
}

// PATHspider's udpzero sends the same DNS query twice, with a computed checksum and with 0:
// connectivity.broken when only the first is answered, works when both are.
TEST(UdpChecksum, PathspiderUdpzero) {
  const Bytes normal = frames().get("good4", "in"), zero = frames().get("plain4", "zero");
  StageRun drop("udp_checksum", "action: drop_zero");
  EXPECT_EQ(drop.run1(normal).verdict, kPass);
  EXPECT_EQ(drop.run1(zero).verdict, 1);  // broken
  StageRun fill("udp_checksum", "action: fill");
  EXPECT_EQ(fill.run1(normal).bytes, normal);
  const Bytes repaired = fill.run1(zero).bytes;  // works: the server sees a valid checksum
  EXPECT_TRUE(checksums_ok(repaired));
  EXPECT_NE(repaired.at(14 + 20 + 6) | repaired.at(14 + 20 + 7), 0);
}

TEST(UdpChecksum, DropReasonsCounted) {
  StageRun c("udp_checksum", "action: drop_zero\nipv6_zero: drop");
  EXPECT_EQ(passed(c.run({frames().get("plain4", "zero"), frames().get("ext6", "zero"),
                   frames().get("vlan4", "zero"), frames().get("good4", "in")})).size(),
            1u);
  EXPECT_EQ(c.drop("zero_checksum"), 2u);
  EXPECT_EQ(c.drop("ipv6_zero_checksum"), 1u);
}

TEST(UdpChecksum, MatchNarrows) {
  const Bytes zero = frames().get("plain4", "zero");
  StageRun other_port("udp_checksum", "action: drop_zero\nmatch: {proto: udp, dport: 5353}");
  EXPECT_EQ(other_port.run1(zero).verdict, kPass);
  StageRun dns("udp_checksum", "action: drop_zero\nmatch: {proto: udp, dport: 53}");
  EXPECT_EQ(dns.run1(zero).verdict, 1);
  StageRun v6("udp_checksum", "action: drop_zero\nipv6_zero: drop\nmatch: {ip: 6}");
  EXPECT_EQ(v6.run1(zero).verdict, kPass);
  EXPECT_EQ(v6.run1(frames().get("plain6", "zero")).verdict, 2);
  StageRun never("udp_checksum", "action: fill\nprobability: 0");
  EXPECT_EQ(never.run1(zero).bytes, zero);
}

TEST(UdpChecksum, ProbabilityIsSeeded) {
  const std::vector<Bytes> burst(100, frames().get("vlan4", "zero"));
  StageRun a("udp_checksum", "action: drop_zero\nprobability: 0.5\nseed: 3");
  StageRun b("udp_checksum", "action: drop_zero\nprobability: 0.5\nseed: 3");
  const auto oa = a.run(burst), ob = b.run(burst);
  size_t dropped = 0;
  for (size_t i = 0; i < oa.size(); ++i) {
    EXPECT_EQ(oa[i].verdict, ob[i].verdict) << i;
    dropped += oa[i].verdict == 1;
  }
  EXPECT_GT(dropped, 25u);
  EXPECT_LT(dropped, 75u);
}

TEST(UdpChecksum, BadParams) {
  const ParseCases cases = {
      {"", "test.yaml:1:1: stage.action: missing required key"},
      {"action: drop", "test.yaml:1:9: stage.action: 'drop' is not drop_zero or fill"},
      {"action: [fill]", "test.yaml:1:9: stage.action: expected a string, got a list"},
      {"action: fill\nipv6_zero: keep",
       "test.yaml:2:12: stage.ipv6_zero: 'keep' is not pass, drop or fill"},
      {"action: fill\nipv4_zero: pass", "test.yaml:2:1: stage.ipv4_zero: unknown key"},
      {"action: fill\nmatch: {dport: 53}",
       "test.yaml:2:16: stage.match.dport: ports need proto: tcp or proto: udp"},
  };
  expect_parse_errors("udp_checksum", cases);
  EXPECT_EQ(parse_error("udp_checksum", "action: fill\nipv6_zero: fill\nmatch: {proto: udp}"), "");
}

}  // namespace
}  // namespace pathlab::test
