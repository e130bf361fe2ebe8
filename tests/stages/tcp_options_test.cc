// tcp_options: strip by NOP and by removal against scapy frames on IPv4 (plain, VLAN, with IP
// options) and IPv6 (plain, VLAN, with HBH and DestOpts); allow-lists, `unknown`, TFO's two
// forms; SYN drops counted by reason; malformed lists passed or dropped, never overrun; fragments
// never shrink; the mbuf's lengths after a shrink; a bad checksum stays bad; bad params.
#include <memory>

#include "harness.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("tcp_options_frames.json");
  return f;
}

const char* const kCarriers[] = {"v4", "vlan", "v4opt", "v6", "v6ext", "v6vlan"};

// One frame through the stage, the mbuf's metadata read back before it is freed.
// The ones' complement sum over the pseudo-header and the segment: 0xffff when valid.
uint16_t tcp_residual(const Bytes& frame) {
  rte_mbuf* m = make_mbuf(frame);
  PktView v;
  EXPECT_TRUE(view_packet(m, v));
  const uint16_t r = l4_sum(v, v.l4_len);
  rte_pktmbuf_free(m);
  return r;
}

// Offset of the TCP header in a frame.
size_t tcp_offset(const Bytes& frame) {
  rte_mbuf* m = make_mbuf(frame);
  PktView v;
  EXPECT_TRUE(view_packet(m, v));
  const size_t off = static_cast<size_t>(v.l4 - rte_pktmbuf_mtod(m, uint8_t*));
  rte_pktmbuf_free(m);
  return off;
}

struct Row {
  const char* scenario;
  const char* params;
  const char* expect;  // the frame variant
  uint64_t options;    // options stripped
};

const Row kRows[] = {
    {"linux_syn", "strip: [sack_permitted, timestamp]", "nop", 2},
    {"linux_syn", "strip: [4, 0x08]\nhow: nop", "nop", 2},
    {"linux_syn", "strip: [sack_permitted, timestamp]\nhow: remove", "remove", 2},
    {"linux_syn", "allow: [mss, wscale]\nhow: remove", "remove", 2},
    {"ack_ts", "strip: timestamp", "nop", 1},
    {"ack_ts", "strip: timestamp\nhow: remove", "remove", 1},
    {"ack_ts_sack", "strip: [timestamp]", "nop", 1},
    {"ack_ts_sack", "strip: [timestamp]\nhow: remove", "remove", 1},
    {"ack_ts_sack", "strip: [sack]\nhow: remove", "sack_remove", 1},
    {"windows_syn", "allow: [mss, sack_permitted]", "nop", 1},
    {"windows_syn", "allow: [mss, sack_permitted]\nhow: remove", "remove", 1},
    {"many_syn", "allow: [mss, wscale, sack_permitted, timestamp]", "nop", 2},
    {"many_syn", "allow: [mss, wscale, sack_permitted, timestamp]\nhow: remove", "remove", 2},
    {"many_syn", "strip: [unknown]", "unknown_nop", 1},
    {"tfo_syn", "strip: [tfo]", "nop", 2},
    {"tfo_syn", "strip: [tfo]\nhow: remove", "remove", 2},
    {"tfo_syn", "strip: [254]", "exp_nop", 2},
    {"tfo_syn", "strip: [unknown]\nhow: remove", "unknown_remove", 1},
    {"eol_garbage", "strip: [mss]", "nop", 1},
    {"eol_garbage", "strip: [mss]\nhow: remove", "remove", 1},
};

TEST(TcpOptions, InputsAreValid) {
  for (const std::string& name :
       carrier_cases(kCarriers, {"linux_syn", "ack_ts", "ack_ts_sack", "windows_syn", "many_syn",
                                 "tfo_syn", "eol_garbage"})) {
    EXPECT_TRUE(checksums_ok(frames().get(name))) << name;
  }
}

TEST(TcpOptions, StripMatchesScapy) {
  for (const Row& r : kRows) {
    for (const char* c : kCarriers) {
      const std::string name = std::string(c) + "/" + r.scenario;
      const std::string what = name + " with " + r.params;
      const Bytes in = frames().get(name);
      const Bytes want = frames().get(name, r.expect);
      StageRun s("tcp_options", r.params);
      const MbufOut o = run_mbuf(s, in);
      // The mbuf agrees with the frame: one segment, headers where they were.
      expect_rewritten(o, want, what);
      const Bytes hdr_in(in.begin(), in.begin() + 14);
      EXPECT_EQ(Bytes(o.bytes.begin(), o.bytes.begin() + 14), hdr_in) << what;
      rte_mbuf* ref = make_mbuf(want);
      EXPECT_EQ(o.l2_len, ref->l2_len) << what;
      EXPECT_EQ(o.l3_len, ref->l3_len) << what;
      rte_pktmbuf_free(ref);
      EXPECT_EQ(s.action("stripped"), 1u) << what;
      EXPECT_EQ(s.action("options_stripped"), r.options) << what;
      EXPECT_EQ(s.action("shrunk"), want.size() < in.size() ? 1u : 0u) << what;
      // What is left has nothing more to strip.
      EXPECT_EQ(s.run1(want).bytes, want) << what;
      EXPECT_EQ(s.action("stripped"), 1u) << what;
    }
  }
}

TEST(TcpOptions, ShrinksOnlyWhatItMust) {
  // remove on a list it leaves alone is a no-op: same bytes, nothing counted.
  StageRun s("tcp_options", "strip: [mptcp]\nhow: remove");
  for (const char* c : kCarriers) {
    const Bytes in = frames().get(std::string(c) + "/linux_syn");
    EXPECT_EQ(s.run1(in).bytes, in) << c;
  }
  EXPECT_EQ(s.action("stripped"), 0u);
  EXPECT_EQ(s.action("shrunk"), 0u);
}

TEST(TcpOptions, DropSynWithKind) {
  const auto f = [](const char* n) { return frames().get(std::string("drop/") + n); };
  StageRun s("tcp_options", "drop_syn_with: [tfo]");
  const auto out =
      s.run({f("tfo_syn"), f("tfo_synack"), f("tfo_exp_syn"), f("tfo_ack"), f("plain_syn")});
  EXPECT_EQ(out[0].verdict, 1);  // syn_option
  EXPECT_EQ(out[1].verdict, 1);
  EXPECT_EQ(out[2].verdict, 1);
  EXPECT_EQ(out[3].verdict, kPass);
  EXPECT_EQ(out[3].bytes, f("tfo_ack"));
  EXPECT_EQ(out[4].verdict, kPass);
  EXPECT_EQ(out[4].bytes, f("plain_syn"));
  EXPECT_EQ(s.drop("syn_option"), 3u);
  EXPECT_EQ(s.drop("malformed"), 0u);

  StageRun chain("tcp_options", "drop_syn_with: [tfo]");
  const auto kept =
      passed(chain.run({f("tfo_syn"), f("tfo_ack"), f("tfo_exp_syn"), f("plain_syn")}));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0], f("tfo_ack"));
  EXPECT_EQ(kept[1], f("plain_syn"));
  EXPECT_EQ(chain.drop("syn_option"), 2u);
  EXPECT_EQ(chain.drop("malformed"), 0u);
}

TEST(TcpOptions, DropSynAndStripTogether) {
  const auto f = [](const char* n) { return frames().get(std::string("drop/") + n); };
  StageRun s("tcp_options", "drop_syn_with: mptcp\nstrip: timestamp");
  const auto out = s.run({f("mptcp_syn"), f("mptcp_ack_ts"), f("plain_syn")});
  EXPECT_EQ(out[0].verdict, 1);
  EXPECT_EQ(out[1].verdict, kPass);
  EXPECT_EQ(to_hex(out[1].bytes), to_hex(frames().get("drop/mptcp_ack_ts", "out")));
  EXPECT_TRUE(checksums_ok(out[1].bytes));
  EXPECT_EQ(out[2].verdict, kPass);
  EXPECT_EQ(s.action("stripped"), 2u);  // the ACK's and the plain SYN's timestamps
}

TEST(TcpOptions, MalformedListsPassOrDrop) {
  const char* const kinds[] = {"len1",     "len0",    "overrun",   "truncated",
                               "mss_len3", "ts_len8", "sack_len11"};
  std::vector<Bytes> in;
  for (const char* k : kinds) {
    in.push_back(frames().get(std::string("malformed/") + k));
    in.push_back(frames().get(std::string("malformed6/") + k));
  }
  for (const char* params : {"strip: [timestamp, mss]", "strip: [unknown]\nhow: remove",
                             "allow: []\nhow: remove", "drop_syn_with: [unknown]"}) {
    StageRun pass("tcp_options", params);
    const auto out = pass.run(in);
    for (size_t i = 0; i < in.size(); ++i) {
      EXPECT_EQ(out[i].verdict, kPass) << params << " #" << i;
      EXPECT_EQ(out[i].bytes, in[i]) << params << " #" << i;
    }
    EXPECT_EQ(pass.action("malformed_passed"), in.size()) << params;
    EXPECT_EQ(pass.action("stripped"), 0u) << params;

    const std::string dropping = std::string(params) + "\nmalformed: drop";
    StageRun drop("tcp_options", dropping);
    for (const auto& o : drop.run(in)) EXPECT_EQ(o.verdict, 2) << dropping;  // malformed
    EXPECT_EQ(drop.drop("malformed"), in.size()) << dropping;
    EXPECT_EQ(drop.action("malformed_passed"), 0u);
  }
  StageRun chain("tcp_options", "strip: [mss]\nmalformed: drop");
  EXPECT_TRUE(passed(chain.run(in)).empty());
  EXPECT_EQ(chain.drop("malformed"), in.size());
}

TEST(TcpOptions, TruncatedTcpHeaderUntouched) {
  const Bytes in = frames().get("short/tcp");
  for (const char* params : {"strip: [sack_permitted, timestamp]\nhow: remove",
                             "drop_syn_with: [mss]\nmalformed: drop"}) {
    StageRun s("tcp_options", params);
    const Out o = s.run1(in);
    EXPECT_EQ(o.verdict, kPass) << params;
    EXPECT_EQ(o.bytes, in) << params;
  }
}

TEST(TcpOptions, FragmentsAreNoppedNotShrunk) {
  for (const char* c : {"frag4/linux_syn", "frag6/linux_syn"}) {
    StageRun s("tcp_options", "strip: [sack_permitted, timestamp]\nhow: remove");
    const Out o = s.run1(frames().get(c));
    EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(c, "out"))) << c;
    EXPECT_TRUE(checksums_ok(o.bytes)) << c;
    EXPECT_EQ(s.action("stripped"), 1u) << c;
    EXPECT_EQ(s.action("shrunk"), 0u) << c;
  }
}

TEST(TcpOptions, ChecksumUpdatedNotRecomputed) {
  // A segment whose payload was corrupted before the box keeps a failing checksum: the update
  // carries the error over (a full recomputation would launder it).
  const std::pair<const char*, const char*> kModes[] = {
      {"strip: [timestamp]", "nop"}, {"strip: [timestamp]\nhow: remove", "remove"}};
  for (const char* c : {"v4/ack_ts", "v6ext/ack_ts"}) {
    for (const auto& [params, variant] : kModes) {
      Bytes in = frames().get(c);
      in.back() ^= 0x20;
      ASSERT_NE(tcp_residual(in), 0xffff);
      StageRun s("tcp_options", params);
      Bytes out = s.run1(in).bytes;
      EXPECT_EQ(tcp_residual(out), tcp_residual(in)) << c << " " << params;
      EXPECT_FALSE(checksums_ok(out)) << c << " " << params;
      // Every other byte is what scapy built.
      Bytes want = frames().get(c, variant);
      want.back() ^= 0x20;
      ASSERT_EQ(out.size(), want.size());
      const size_t ck = tcp_offset(want) + 16;
      out[ck] = want[ck] = out[ck + 1] = want[ck + 1] = 0;
      EXPECT_EQ(to_hex(out), to_hex(want)) << c << " " << params;
    }
  }
}

TEST(TcpOptions, MatchNarrows) {
  const Bytes in = frames().get("v4/ack_ts");
  StageRun other_port("tcp_options", "strip: timestamp\nmatch: {proto: tcp, dport: 443}");
  EXPECT_EQ(other_port.run1(in).bytes, in);
  StageRun v6_only("tcp_options", "strip: timestamp\nmatch: {ip: 6}");
  EXPECT_EQ(v6_only.run1(in).bytes, in);
  StageRun never("tcp_options", "strip: timestamp\nprobability: 0");
  EXPECT_EQ(never.run1(in).bytes, in);
  StageRun syn_only("tcp_options",
                    "strip: [sack_permitted, timestamp]\nmatch: {proto: tcp, tcp_flags: [syn]}");
  EXPECT_EQ(syn_only.run1(in).bytes, in);
  EXPECT_EQ(to_hex(syn_only.run1(frames().get("v4/linux_syn")).bytes),
            to_hex(frames().get("v4/linux_syn", "nop")));
  EXPECT_EQ(syn_only.action("stripped"), 1u);
}

TEST(TcpOptions, BadParams) {
  const ParseCases cases = {
      {"strip: [bogus]",
       "test.yaml:1:9: stage.strip[0]: 'bogus' is not a TCP option kind (mss, wscale, "
       "sack_permitted, sack, timestamp, md5, user_timeout, tcp_ao, mptcp, tfo, experimental, "
       "unknown, or 2..255)"},
      {"strip: [mss, 256]",
       "test.yaml:1:14: stage.strip[1]: '256' is not a TCP option kind (mss, wscale, "
       "sack_permitted, sack, timestamp, md5, user_timeout, tcp_ao, mptcp, tfo, experimental, "
       "unknown, or 2..255)"},
      {"strip: [nop]", "test.yaml:1:9: stage.strip[0]: 'nop' is padding: eol and nop always stay"},
      {"allow: [0]", "test.yaml:1:9: stage.allow[0]: '0' is padding: eol and nop always stay"},
      {"drop_syn_with: {a: 1}", "test.yaml:1:16: stage.drop_syn_with: expected a list, got a map"},
      {"strip: [mss]\nallow: [sack]",
       "test.yaml:2:8: stage.allow: strip and allow exclude each other"},
      {"how: remove", "test.yaml:1:6: stage.how: how needs strip or allow"},
      {"strip: [mss]\nhow: shrink", "test.yaml:2:6: stage.how: 'shrink' is not nop or remove"},
      {"strip: [mss]\nmalformed: maybe",
       "test.yaml:2:12: stage.malformed: 'maybe' is not pass or drop"},
      {"malformed: drop",
       "test.yaml:1:1: stage.strip: one of strip, allow or drop_syn_with is needed"},
      {"strip: [mss]\nbogus: 1", "test.yaml:2:1: stage.bogus: unknown key"},
      {"strip: [mss]\nprobability: 2", "test.yaml:2:14: stage.probability: 2 is not within 0..1"},
      {"drop_syn_with: tfo", ""},
      {"strip: [mss, 99, 0xfe, experimental]\nhow: remove\nmalformed: drop", ""},
      {"allow: []", ""},
      {"strip: mss\nmatch: {proto: tcp, dport: 80}", ""},
  };
  expect_parse_errors("tcp_options", cases);
}

}  // namespace
}  // namespace pathlab::test
