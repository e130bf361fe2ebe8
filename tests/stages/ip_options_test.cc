// ip_options: IPv4 strip (all, or all but an allow-list) against scapy frames, plain and
// VLAN-tagged, UDP and TCP, a later fragment; the transport segment (checksum included) is
// carried over byte for byte; the mbuf's l3_len and lengths after the shrink; drop and drop with
// an allow-list; malformed lists; IPv6 drop_hbh / drop_dstopts and options padded out (the
// transport checksum unchanged); malformed IPv6 option headers; bad params.
#include "harness.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("ip_options_frames.json");
  return f;
}

constexpr uint8_t kDropOptions = 1, kDropMalformed = 2, kDropHbh = 3, kDropDstopts = 4;

const char* const kScenarios[] = {"rr",     "ra",      "ra_rr", "ra_nop_rr", "rr_nop_ra",
                                  "nop_rr", "ts_lsrr", "nops",  "after_eol"};

// Every IPv4 frame name: {v4,vlan}/{udp,tcp}/scenario.
std::vector<std::string> ip4_names() {
  std::vector<std::string> out;
  for (const char* l2 : {"v4", "vlan"}) {
    for (const char* l4 : {"udp", "tcp"}) {
      for (const char* s : kScenarios) out.push_back(std::string(l2) + "/" + l4 + "/" + s);
    }
  }
  return out;
}

std::vector<std::string> ip6_names(const char* scenario) {
  std::vector<std::string> out;
  for (const char* l2 : {"v6", "vlan6"}) {
    for (const char* l4 : {"udp", "tcp"})
      out.push_back(std::string(l2) + "/" + l4 + "/" + scenario);
  }
  return out;
}

// The bytes after the IP header (the transport segment, its checksum included).
Bytes after_ip(const Bytes& frame) {
  rte_mbuf* m = make_mbuf(frame);
  const size_t off = m->l2_len + m->l3_len;
  rte_pktmbuf_free(m);
  return Bytes(frame.begin() + static_cast<long>(off), frame.end());
}

TEST(IpOptions, InputsAreValid) {
  for (const auto& n : ip4_names()) EXPECT_TRUE(checksums_ok(frames().get(n))) << n;
  for (const char* s : {"hbh", "dst", "hbh_dst", "rt_dst"}) {
    for (const auto& n : ip6_names(s)) EXPECT_TRUE(checksums_ok(frames().get(n))) << n;
  }
}

void expect_ip4(const std::string& params, const char* variant) {
  for (const auto& n : ip4_names()) {
    const std::string what = n + " with " + params;
    const Bytes in = frames().get(n);
    const Bytes want = frames().get(n, variant);
    StageRun s("ip_options", params);
    const MbufOut o = run_mbuf(s, in);
    expect_rewritten(o, want, what);
    rte_mbuf* ref = make_mbuf(want);
    EXPECT_EQ(o.l3_len, ref->l3_len) << what;
    rte_pktmbuf_free(ref);
    // The pseudo-header has no header length: the segment and its checksum are carried over.
    EXPECT_EQ(after_ip(o.bytes), after_ip(in)) << what;
    EXPECT_EQ(s.action("ip4_stripped"), want == in ? 0u : 1u) << what;
  }
}

TEST(IpOptions, StripAll) { expect_ip4("ipv4: strip", "none"); }

TEST(IpOptions, StripAllButAllowed) { expect_ip4("ipv4: strip\nallow: [ra]", "ra"); }

TEST(IpOptions, StripAllowByNumber) { expect_ip4("ipv4: strip\nallow: 148", "ra"); }

TEST(IpOptions, PlainPacketsUntouched) {
  for (const char* params : {"ipv4: strip", "ipv4: drop", "ipv4: strip\nallow: [rr]"}) {
    StageRun s("ip_options", params);
    for (const char* n : {"v4/udp/plain", "vlan/tcp/plain", "v6/udp/plain", "v6/tcp/hbh"}) {
      const Out o = s.run1(frames().get(n));
      EXPECT_EQ(o.verdict, kPass) << n;
      EXPECT_EQ(o.bytes, frames().get(n)) << n;
    }
    EXPECT_EQ(s.action("ip4_stripped"), 0u);
  }
}

TEST(IpOptions, Drop) {
  StageRun s("ip_options", "ipv4: drop");
  for (const auto& n : ip4_names()) EXPECT_EQ(s.run1(frames().get(n)).verdict, kDropOptions) << n;
  EXPECT_EQ(s.drop("ip4_options"), ip4_names().size());
}

TEST(IpOptions, DropAllButAllowed) {
  StageRun s("ip_options", "ipv4: drop\nallow: [ra, nop]");
  for (const auto& n : ip4_names()) {
    const Bytes in = frames().get(n);
    // Kept whole by allow: [ra] exactly when it passes here.
    const bool allowed = frames().get(n, "ra") == in;
    const uint64_t before = s.drop("ip4_options");
    const Out o = s.run1(in);
    EXPECT_EQ(o.verdict, allowed ? kPass : kDropOptions) << n;
    EXPECT_EQ(s.drop("ip4_options") - before, allowed ? 0u : 1u) << n;
    if (allowed) {
      EXPECT_EQ(o.bytes, in) << n;
    }
  }
}

TEST(IpOptions, LaterFragmentStripped) {
  StageRun s("ip_options", "ipv4: strip");
  const Out o = s.run1(frames().get("frag/rr"));
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get("frag/rr", "none")));
  EXPECT_TRUE(checksums_ok(o.bytes));
}

TEST(IpOptions, MalformedIpv4Lists) {
  std::vector<Bytes> in, stripped;
  for (const char* k : {"len1", "len0", "overrun", "truncated"}) {
    in.push_back(frames().get(std::string("malformed/") + k));
    stripped.push_back(frames().get(std::string("malformed/") + k, "none"));
  }
  for (const char* params : {"ipv4: strip\nallow: [ra]", "ipv4: drop\nallow: [ra, rr]"}) {
    StageRun pass("ip_options", params);
    const auto out = pass.run(in);
    for (size_t i = 0; i < in.size(); ++i) {
      EXPECT_EQ(out[i].verdict, kPass) << params << " #" << i;
      EXPECT_EQ(out[i].bytes, in[i]) << params << " #" << i;
    }
    EXPECT_EQ(pass.action("malformed_passed"), in.size());
    StageRun drop("ip_options", std::string(params) + "\nmalformed: drop");
    for (const auto& o : drop.run(in)) EXPECT_EQ(o.verdict, kDropMalformed) << params;
    EXPECT_EQ(drop.drop("malformed"), in.size()) << params;
    EXPECT_EQ(drop.drop("ip4_options"), 0u) << params;
  }
  // Without an allow-list nothing is parsed: the options go, or the packet does.
  StageRun strip("ip_options", "ipv4: strip\nmalformed: drop");
  const auto out = strip.run(in);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].verdict, kPass);
    EXPECT_EQ(to_hex(out[i].bytes), to_hex(stripped[i]));
    EXPECT_TRUE(checksums_ok(out[i].bytes));
  }
  StageRun drop("ip_options", "ipv4: drop");
  for (const auto& o : drop.run(in)) EXPECT_EQ(o.verdict, kDropOptions);
}

TEST(IpOptions, Ipv6DropHbh) {
  StageRun s("ip_options", "drop_hbh: true");
  for (const char* sc : {"hbh", "hbh_dst"}) {
    for (const auto& n : ip6_names(sc)) EXPECT_EQ(s.run1(frames().get(n)).verdict, kDropHbh) << n;
  }
  for (const char* sc : {"plain", "dst", "rt_dst"}) {
    for (const auto& n : ip6_names(sc))
      EXPECT_EQ(s.run1(frames().get(n)).bytes, frames().get(n)) << n;
  }
  EXPECT_EQ(s.run1(frames().get("malformed6/tlv")).verdict, kDropHbh);  // no need to parse it
  const Bytes v4 = frames().get("v4/udp/ra");
  EXPECT_EQ(s.run1(v4).bytes, v4);
  EXPECT_EQ(s.drop("hbh"), 2 * ip6_names("hbh").size() + 1);
  EXPECT_EQ(s.drop("dstopts"), 0u);
}

TEST(IpOptions, Ipv6DropDstopts) {
  StageRun s("ip_options", "drop_dstopts: true");
  for (const char* sc : {"dst", "hbh_dst", "rt_dst"}) {
    for (const auto& n : ip6_names(sc))
      EXPECT_EQ(s.run1(frames().get(n)).verdict, kDropDstopts) << n;
  }
  EXPECT_EQ(s.run1(frames().get("v6frag/dst")).verdict, kDropDstopts);
  EXPECT_EQ(s.drop("dstopts"), 3 * ip6_names("dst").size() + 1);
  for (const char* sc : {"plain", "hbh"}) {
    for (const auto& n : ip6_names(sc))
      EXPECT_EQ(s.run1(frames().get(n)).bytes, frames().get(n)) << n;
  }
  StageRun both("ip_options", "drop_hbh: true\ndrop_dstopts: true");
  EXPECT_EQ(both.run1(frames().get("v6/udp/hbh_dst")).verdict, kDropHbh);
  EXPECT_EQ(both.run1(frames().get("v6/udp/dst")).verdict, kDropDstopts);
}

TEST(IpOptions, Ipv6OptionsPaddedOut) {
  struct Case {
    const char* params;
    const char* scenario;
    const char* variant;  // "in": untouched
    uint64_t padded;
  };
  const Case cases[] = {
      {"ipv6_strip: [ra, 0x1e]", "hbh", "padded", 1},
      {"ipv6_strip: [ra, 0x1e]", "dst", "padded", 1},
      {"ipv6_strip: [ra, 0x1e]", "hbh_dst", "padded", 2},
      {"ipv6_strip: [ra, 0x1e]", "rt_dst", "padded", 1},
      {"ipv6_strip: ra", "hbh_dst", "padded_ra", 1},
      {"ipv6_strip: [30]", "dst", "padded", 1},
      {"ipv6_strip: [jumbo]", "hbh_dst", "in", 0},
      {"ipv6_strip: [ra]", "plain", "in", 0},
  };
  for (const auto& c : cases) {
    for (const auto& n : ip6_names(c.scenario)) {
      const std::string what = n + " with " + c.params;
      const Bytes in = frames().get(n);
      StageRun s("ip_options", c.params);
      const Out o = s.run1(in);
      EXPECT_EQ(o.verdict, kPass) << what;
      EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(n, c.variant))) << what;
      // Extension header contents are outside the transport checksum: it is unchanged and valid.
      EXPECT_TRUE(checksums_ok(o.bytes)) << what;
      EXPECT_EQ(Bytes(o.bytes.end() - 20, o.bytes.end()), Bytes(in.end() - 20, in.end())) << what;
      EXPECT_EQ(s.action("ip6_padded"), c.padded) << what;
    }
  }
}

TEST(IpOptions, MalformedIpv6Headers) {
  const Bytes tlv = frames().get("malformed6/tlv");
  const Bytes chain = frames().get("malformed6/chain");
  StageRun pad("ip_options", "ipv6_strip: [ra]");
  EXPECT_EQ(pad.run1(tlv).bytes, tlv);  // the RA before the bad option is not padded either
  EXPECT_EQ(pad.run1(chain).bytes, chain);
  EXPECT_EQ(pad.action("malformed_passed"), 2u);
  EXPECT_EQ(pad.action("ip6_padded"), 0u);
  StageRun pad_drop("ip_options", "ipv6_strip: [ra]\nmalformed: drop");
  EXPECT_EQ(pad_drop.run1(tlv).verdict, kDropMalformed);
  EXPECT_EQ(pad_drop.run1(chain).verdict, kDropMalformed);
  // drop_dstopts walks the chain but not the options inside.
  StageRun dst("ip_options", "drop_dstopts: true\nmalformed: drop");
  EXPECT_EQ(dst.run1(tlv).verdict, kPass);
  EXPECT_EQ(dst.run1(chain).verdict, kDropMalformed);
  // drop_hbh reads the first next-header value only.
  StageRun hbh("ip_options", "drop_hbh: true\nmalformed: drop");
  EXPECT_EQ(hbh.run1(chain).verdict, kPass);
  EXPECT_EQ(hbh.action("malformed_passed"), 0u);
}

TEST(IpOptions, MatchNarrows) {
  const Bytes in = frames().get("v4/udp/ra_rr");
  StageRun tcp_only("ip_options", "ipv4: strip\nmatch: {proto: tcp}");
  EXPECT_EQ(tcp_only.run1(in).bytes, in);
  EXPECT_EQ(to_hex(tcp_only.run1(frames().get("v4/tcp/ra_rr")).bytes),
            to_hex(frames().get("v4/tcp/ra_rr", "none")));
  StageRun never("ip_options", "ipv4: drop\nprobability: 0");
  EXPECT_EQ(never.run1(in).verdict, kPass);
  StageRun elsewhere("ip_options", "drop_hbh: true\nmatch: {port: p1}");
  EXPECT_EQ(elsewhere.run1(frames().get("v6/udp/hbh")).verdict, kPass);
  StageRun v4_only("ip_options", "drop_hbh: true\nipv4: drop\nmatch: {ip: 4}");
  EXPECT_EQ(v4_only.run1(frames().get("v6/udp/hbh")).verdict, kPass);
  EXPECT_EQ(v4_only.run1(in).verdict, kDropOptions);
}

TEST(IpOptions, BadParams) {
  const ParseCases cases = {
      {"ipv4: mangle", "test.yaml:1:7: stage.ipv4: 'mangle' is not strip or drop"},
      {"allow: [ra]", "test.yaml:1:8: stage.allow: allow needs ipv4: strip or ipv4: drop"},
      {"ipv4: strip\nallow: [ra, bogus]",
       "test.yaml:2:13: stage.allow[1]: 'bogus' is not an IPv4 option type (eol, nop, rr, qs, ts, "
       "traceroute, sec, lsrr, extsec, cipso, sid, ssrr, ra, ipim, or 0..255)"},
      {"ipv4: strip\nallow: 256",
       "test.yaml:2:8: stage.allow: '256' is not an IPv4 option type (eol, nop, rr, qs, ts, "
       "traceroute, sec, lsrr, extsec, cipso, sid, ssrr, ra, ipim, or 0..255)"},
      {"ipv6_strip: [hbh]",
       "test.yaml:1:14: stage.ipv6_strip[0]: 'hbh' is not an IPv6 option type (tunnel_limit, ra, "
       "calipso, smf_dpd, pdm, ioam, quickstart, rpl, jumbo, hao, ipim, or 0..255)"},
      {"ipv6_strip: [1]", "test.yaml:1:14: stage.ipv6_strip[0]: '1' is padding already"},
      {"drop_hbh: maybe", "test.yaml:1:11: stage.drop_hbh: expected true or false, got 'maybe'"},
      {"drop_hbh: false",
       "test.yaml:1:1: stage.ipv4: nothing to do: set ipv4, drop_hbh, "
       "drop_dstopts or ipv6_strip"},
      {"ipv4: drop\nmalformed: skip",
       "test.yaml:2:12: stage.malformed: 'skip' is not pass or drop"},
      {"ipv4: drop\nstrip: [rr]", "test.yaml:2:1: stage.strip: unknown key"},
      {"ipv4: drop\nallow: [ra, 7, 0x44]\nmalformed: drop", ""},
      {"drop_hbh: true\ndrop_dstopts: true\nipv6_strip: [0xc9, jumbo]", ""},
  };
  expect_parse_errors("ip_options", cases);
}

}  // namespace
}  // namespace pathlab::test
