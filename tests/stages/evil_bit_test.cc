// evil_bit: clear / set / drop_if_set against scapy frames, with and without VLAN tags and IPv4
// options; IPv6 untouched; the match narrows what is touched; bad params rejected.
#include "harness.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("evil_bit_frames.json");
  return f;
}

TEST(EvilBit, ClearRewritesFlagsAndChecksum) {
  for (const char* c : {"plain", "vlan", "options"}) {
    StageRun s("evil_bit", "action: clear");
    const Out o = s.run1(frames().get(c, "evil"));
    EXPECT_EQ(o.verdict, kPass) << c;
    EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(c, "good"))) << c;
    EXPECT_TRUE(checksums_ok(o.bytes)) << c;
    EXPECT_EQ(s.action("cleared"), 1u) << c;
    EXPECT_EQ(s.run1(frames().get(c, "good")).bytes, frames().get(c, "good")) << c;
    EXPECT_EQ(s.action("cleared"), 1u) << c;
  }
}

TEST(EvilBit, SetIsTheInverse) {
  StageRun s("evil_bit", "action: set");
  const Out o = s.run1(frames().get("plain", "good"));
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get("plain", "evil")));
  EXPECT_EQ(s.action("set"), 1u);
}

TEST(EvilBit, DropIfSet) {
  StageRun s("evil_bit", "action: drop_if_set");
  auto out = s.run({frames().get("plain", "evil"), frames().get("plain", "good"),
                    frames().get("v6", "in")});
  EXPECT_EQ(out[0].verdict, 1);
  EXPECT_EQ(out[1].verdict, kPass);
  EXPECT_EQ(out[2].verdict, kPass);
  EXPECT_EQ(out[2].bytes, frames().get("v6", "in"));
}

TEST(EvilBit, MatchNarrows) {
  StageRun tcp_only("evil_bit", "action: clear\nmatch: {proto: tcp}");
  EXPECT_EQ(tcp_only.run1(frames().get("plain", "evil")).bytes, frames().get("plain", "evil"));
  StageRun other_port("evil_bit", "action: clear\nmatch: {port: p9}");
  EXPECT_EQ(other_port.run1(frames().get("plain", "evil")).bytes, frames().get("plain", "evil"));
  StageRun never("evil_bit", "action: clear\nprobability: 0");
  EXPECT_EQ(never.run1(frames().get("plain", "evil")).bytes, frames().get("plain", "evil"));
}

TEST(EvilBit, BadParams) {
  EXPECT_EQ(parse_error("evil_bit", "action: maybe"),
            "test.yaml:1:9: stage.action: 'maybe' is not clear, set or drop_if_set");
  EXPECT_NE(parse_error("evil_bit", "action: clear\nbogus: 1"), "");
  EXPECT_NE(parse_error("evil_bit", "action: clear\nprobability: 2"), "");
  EXPECT_NE(parse_error("evil_bit", "action: clear\nmatch: {dport: 80}"), "");
  EXPECT_EQ(parse_error("evil_bit", "action: clear\nmatch: {proto: udp, dport: 53, src: 10.0.0.0/8}"), "");
}

}  // namespace
}  // namespace pathlab::test
