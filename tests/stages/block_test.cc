// block: drop with its reason; reject with ICMP/ICMPv6 administratively prohibited (source: the
// port address, quote cut at 576/1280 bytes) and with TCP RST (SYN, ACK, FIN, IPv6 extension
// headers), each compared byte for byte with scapy; ICMP errors and RSTs never answered; RFC
// refusals; no port address; rate limiting; VLAN tags dropped from replies; bad params.
#include "harness.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("block_frames.json");
  return f;
}

// Verdict of a drop reason, by name (index + 1 into the stage's drop table).
uint8_t reason(StageRun& s, std::string_view name) {
  const auto d = s.stage().drop_descs();
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i].name == name) return static_cast<uint8_t>(i + 1);
  }
  ADD_FAILURE() << "no drop reason " << name;
  return 0;
}

void expect_reply(StageRun& s, const std::string& c, const std::string& reply) {
  const Out o = s.run1(frames().get(c));
  EXPECT_EQ(o.verdict, kGenerated) << c;
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(c, reply))) << c;
  EXPECT_TRUE(checksums_ok(o.bytes)) << c;
}

TEST(Block, DropWithItsReason) {
  StageRun s("block", "match: {proto: udp, dport: 443}");
  const auto out = s.run(
      {frames().get("udp4"), frames().get("syn4"), frames().get("udp6"), frames().get("echo4")});
  EXPECT_EQ(out[0].verdict, reason(s, "blocked"));
  EXPECT_EQ(out[1].verdict, kPass);
  EXPECT_EQ(out[1].bytes, frames().get("syn4"));
  EXPECT_EQ(out[2].verdict, reason(s, "blocked"));
  EXPECT_EQ(out[3].verdict, kPass);
  EXPECT_EQ(s.action("icmp_sent"), 0u);
}

TEST(Block, DropEverythingIncludingErrorsAndResets) {
  StageRun s("block", "action: drop");
  for (const char* c : {"icmp_error4", "rst4", "later_fragment4", "udp6_ext"}) {
    EXPECT_EQ(s.run1(frames().get(c)).verdict, reason(s, "blocked")) << c;
  }
}

TEST(Block, RejectIcmp) {
  StageRun s("block", "action: reject");
  for (const char* c :
       {"udp4", "udp4_big", "udp4_options", "echo4", "syn4", "ack4", "tcp_first_fragment"}) {
    expect_reply(s, c, "icmp");
  }
  for (const char* c : {"udp6", "udp6_big", "udp6_ext", "syn6"}) expect_reply(s, c, "icmp");
  EXPECT_EQ(s.action("icmp_sent"), 7u);
  EXPECT_EQ(s.action("icmp6_sent"), 4u);
  EXPECT_EQ(s.action("rst_sent"), 0u);
}

TEST(Block, RejectTcpRst) {
  StageRun s("block", "action: reject\nreject_with: tcp_rst");
  for (const char* c : {"syn4", "ack4", "fin4", "syn6", "ack6"}) expect_reply(s, c, "rst");
  EXPECT_EQ(s.action("rst_sent"), 5u);
  // Not TCP, or not a whole segment: ICMP instead.
  for (const char* c : {"udp4", "tcp_first_fragment", "udp6"}) expect_reply(s, c, "icmp");
  EXPECT_EQ(s.action("icmp_sent"), 2u);
  EXPECT_EQ(s.action("icmp6_sent"), 1u);
}

TEST(Block, VlanTagsAreNotInReplies) {
  StageRun icmp("block", "action: reject");
  expect_reply(icmp, "vlan_udp4", "icmp");
  expect_reply(icmp, "vlan_udp6", "icmp");
  StageRun rst("block", "action: reject\nreject_with: tcp_rst");
  expect_reply(rst, "vlan_syn4", "rst");
}

TEST(Block, NeverAnswersErrorsOrResets) {
  StageRun s("block", "action: reject\nreject_with: tcp_rst");
  const auto out = s.run({frames().get("icmp_error4"), frames().get("icmp_error6"),
                          frames().get("rst4"), frames().get("rst6")});
  EXPECT_EQ(out[0].verdict, reason(s, "icmp_error"));
  EXPECT_EQ(out[1].verdict, reason(s, "icmp_error"));
  EXPECT_EQ(out[2].verdict, reason(s, "rst"));
  EXPECT_EQ(out[3].verdict, reason(s, "rst"));
  EXPECT_EQ(s.action("icmp_sent") + s.action("icmp6_sent") + s.action("rst_sent"), 0u);
}

TEST(Block, RefusedRepliesAreDropped) {
  StageRun s("block", "action: reject\nreject_with: tcp_rst");
  for (const char* c : {"later_fragment4", "zero_source4", "zero_source_syn4", "l2_multicast4",
                        "l2_multicast_syn6"}) {
    EXPECT_EQ(s.run1(frames().get(c)).verdict, reason(s, "no_reply")) << c;
  }
  // Refusals give their token back: a burst of 1 still answers.
  StageRun one("block", "action: reject\nrate: 1\nburst: 1");
  EXPECT_EQ(one.run1(frames().get("zero_source4")).verdict, reason(one, "no_reply"));
  EXPECT_EQ(one.run1(frames().get("udp4")).verdict, kGenerated);
}

TEST(Block, NoPortAddress) {
  StageSite site = StageRun::default_site();
  site.ip4.clear();
  StageRun s("block", "action: reject\nreject_with: tcp_rst", site);
  EXPECT_EQ(s.run1(frames().get("udp4")).verdict, reason(s, "no_source"));
  expect_reply(s, "syn4", "rst");  // a reset comes from the destination, not the port
  expect_reply(s, "udp6", "icmp");
  site.ip6.clear();
  StageRun none("block", "action: reject", site);
  EXPECT_EQ(none.run1(frames().get("udp6")).verdict, reason(none, "no_source"));
}

TEST(Block, RateLimited) {
  StageRun s("block", "action: reject\nrate: 1\nburst: 2");
  const auto out = s.run({frames().get("udp4"), frames().get("udp6"), frames().get("udp4"),
                          frames().get("icmp_error4")});
  EXPECT_EQ(out[0].verdict, kGenerated);
  EXPECT_EQ(out[1].verdict, kGenerated);
  EXPECT_EQ(out[2].verdict, reason(s, "rate_limited"));
  EXPECT_EQ(out[3].verdict, reason(s, "icmp_error"));  // judged before the bucket
  EXPECT_EQ(s.run1(frames().get("syn4")).verdict, reason(s, "rate_limited"));
  EXPECT_EQ(s.action("icmp_sent") + s.action("icmp6_sent"), 2u);
}

TEST(Block, MatchAndProbability) {
  StageRun s("block", "action: reject\nreject_with: tcp_rst\nmatch: {proto: tcp, dport: 80}");
  const auto out = s.run({frames().get("tcp_other4"), frames().get("syn4"), frames().get("udp4")});
  EXPECT_EQ(out[0].verdict, kPass);
  EXPECT_EQ(out[0].bytes, frames().get("tcp_other4"));
  EXPECT_EQ(out[1].verdict, kGenerated);
  EXPECT_EQ(to_hex(out[1].bytes), to_hex(frames().get("syn4", "rst")));
  EXPECT_EQ(out[2].verdict, kPass);
  StageRun never("block", "probability: 0");
  EXPECT_EQ(never.run1(frames().get("udp4")).verdict, kPass);
  StageRun elsewhere("block", "match: {port: p1}");
  EXPECT_EQ(elsewhere.run1(frames().get("udp4")).verdict, kPass);
}

TEST(Block, BadParams) {
  EXPECT_EQ(parse_error("block", "action: deny"),
            "test.yaml:1:9: stage.action: 'deny' is not drop or reject");
  EXPECT_EQ(parse_error("block", "action: reject\nreject_with: icmp-host"),
            "test.yaml:2:14: stage.reject_with: 'icmp-host' is not icmp or tcp_rst");
  EXPECT_EQ(parse_error("block", "reject_with: tcp_rst"),
            "test.yaml:1:14: stage.reject_with: needs action: reject");
  EXPECT_EQ(parse_error("block", "rate: 5"), "test.yaml:1:7: stage.rate: needs action: reject");
  EXPECT_NE(parse_error("block", "action: reject\nrate: 0"), "");
  EXPECT_NE(parse_error("block", "action: reject\nburst: 0"), "");
  EXPECT_NE(parse_error("block", "bogus: 1"), "");
  EXPECT_EQ(parse_error("block", ""), "");
  EXPECT_EQ(parse_error("block",
                        "action: reject\nreject_with: icmp\nrate: 10\nburst: 5\n"
                        "match: {proto: udp, dport: 443}\nprobability: 0.5\nseed: 2"),
            "");
}

}  // namespace
}  // namespace pathlab::test
