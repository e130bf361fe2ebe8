// ecn: every IP and TCP mode over a grid of ToS values and TCP flags, on IPv4 (plain, VLAN,
// options) and IPv6 (plain, extension headers, QinQ), against scapy-built frames; the headers a
// TCP action must not touch (later fragment, truncated, bad data offset); the conditions
// PATHspider's ecn plugin derives; drops counted by a chain; match, probability, bad params.

#include <functional>

#include "harness.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("ecn_frames.json");
  return f;
}

// The grid of gen_ecn.py.
const std::vector<uint8_t> kTos = {0x00, 0x01, 0x02, 0x03, 0xb8, 0xb9, 0xba, 0xbb, 0x28, 0x2b};
const std::vector<uint8_t> kFlags = {0x02, 0x12, 0x42, 0x82, 0xc2, 0x52,
                                     0xd2, 0x10, 0x50, 0x98, 0x18};
const std::vector<std::string> kTcpVariants = {"plain4", "vlan4", "opts4",
                                               "plain6", "ext6",  "qinq6"};
// No TCP header the stage may act on: UDP, ICMPv6, a later fragment, a truncated header, a data
// offset past the packet.
const std::vector<std::string> kOtherVariants = {"udp4",  "udp6",   "icmp6",
                                                 "frag4", "trunc4", "baddoff4"};

constexpr uint8_t S = 0x02, A = 0x10, E = 0x40, C = 0x80;

std::string key(const std::string& variant, uint8_t tos, uint8_t flags) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s/%02x/%02x", variant.c_str(), tos, flags);
  return buf;
}

struct Expect {
  uint8_t tos;
  uint8_t flags;
  uint8_t verdict = kPass;
};
// What the stage must do to a frame with this ToS and these flags; `tcp`: a TCP header it may act
// on.
using Oracle = std::function<Expect(uint8_t tos, uint8_t flags, bool tcp)>;

struct GridResult {
  uint64_t tos_changed = 0, flags_changed = 0, dropped = 0;
};

// Runs each variant's grid as one burst and compares every output with the scapy frame the
// oracle names (bytes and checksums) or the expected drop verdict.
GridResult check_grid(StageRun& s, const Oracle& oracle) {
  GridResult r;
  auto one_variant = [&](const std::string& v, bool tcp) {
    std::vector<Bytes> in;
    std::vector<std::pair<uint8_t, uint8_t>> grid;
    for (uint8_t t : kTos) {
      for (uint8_t f : tcp ? kFlags : std::vector<uint8_t>{0}) {
        in.push_back(frames().get(key(v, t, f)));
        grid.emplace_back(t, f);
      }
    }
    const auto out = s.run(in);
    for (size_t i = 0; i < out.size(); ++i) {
      const auto [t, f] = grid[i];
      const Expect e = oracle(t, f, tcp);
      const std::string what = key(v, t, f);
      ASSERT_EQ(out[i].verdict, e.verdict) << what;
      if (e.verdict != kPass) {
        ++r.dropped;
        continue;
      }
      EXPECT_EQ(to_hex(out[i].bytes), to_hex(frames().get(key(v, e.tos, e.flags)))) << what;
      EXPECT_TRUE(checksums_ok(out[i].bytes)) << what;
      r.tos_changed += e.tos != t;
      r.flags_changed += e.flags != f;
    }
  };
  for (const auto& v : kTcpVariants) one_variant(v, true);
  for (const auto& v : kOtherVariants) one_variant(v, false);
  return r;
}

Oracle ip_only(std::function<uint8_t(uint8_t)> f) {
  return [f](uint8_t t, uint8_t fl, bool) { return Expect{f(t), fl}; };
}
Oracle tcp_only(std::function<uint8_t(uint8_t)> f) {
  return [f](uint8_t t, uint8_t fl, bool tcp) { return Expect{t, tcp ? f(fl) : fl}; };
}

TEST(Ecn, Bleach) {
  StageRun s("ecn", "ip: bleach");
  const auto r = check_grid(s, ip_only([](uint8_t t) { return uint8_t(t & 0xfc); }));
  EXPECT_EQ(r.tos_changed, 7u * (6 * 11 + 6));  // 7 of the 10 ToS values carry ECN bits
  EXPECT_EQ(s.action("bleached"), r.tos_changed);
}

TEST(Ecn, SetCe) {
  StageRun s("ecn", "ip: set_ce");
  const auto r = check_grid(s, ip_only([](uint8_t t) { return uint8_t(t | 3); }));
  EXPECT_GT(r.tos_changed, 0u);
  EXPECT_EQ(s.action("ce_set"), r.tos_changed);
}

TEST(Ecn, RewriteByNameAndNumber) {
  StageRun s("ecn", "ip: {rewrite: {ect0: ect1, 3: not-ect}}");
  const auto r = check_grid(s, ip_only([](uint8_t t) {
                              const uint8_t ecn = t & 3;
                              return uint8_t((t & 0xfc) | (ecn == 2 ? 1 : ecn == 3 ? 0 : ecn));
                            }));
  EXPECT_GT(r.tos_changed, 0u);
  EXPECT_EQ(s.action("rewritten"), r.tos_changed);
}

TEST(Ecn, TosOverwrite) {
  for (const uint8_t value : {uint8_t{0x28}, uint8_t{0x00}}) {
    StageRun s("ecn", "ip: {tos_overwrite: " + std::to_string(value) + "}");
    const auto r = check_grid(s, ip_only([value](uint8_t) { return value; }));
    EXPECT_EQ(s.action("tos_overwritten"), r.tos_changed);
    EXPECT_EQ(s.action("bleached"), 0u);
  }
}

TEST(Ecn, DropEct) {
  StageRun s("ecn", "ip: drop_ect");
  const auto r = check_grid(s, [](uint8_t t, uint8_t f, bool) {
    return Expect{t, f, static_cast<uint8_t>((t & 3) != 0 ? 1 : kPass)};
  });
  EXPECT_EQ(r.dropped, (6u * 11 + 6u) * 7);  // 7 of the 10 ToS values carry ECT or CE
}

TEST(Ecn, StripSynFlags) {
  StageRun s("ecn", "tcp: strip_syn_flags");
  const auto r =
      check_grid(s, tcp_only([](uint8_t f) { return f & S ? uint8_t(f & ~(E | C)) : f; }));
  // Per ToS and variant: 42, 82, c2, 52, d2 lose their flags.
  EXPECT_EQ(r.flags_changed, 5u * 10 * 6);
  EXPECT_EQ(s.action("syn_flags_stripped"), r.flags_changed);
}

TEST(Ecn, StripFlagsOnEverySegment) {
  StageRun s("ecn", "tcp: strip_flags");
  const auto r = check_grid(s, tcp_only([](uint8_t f) { return uint8_t(f & ~(E | C)); }));
  EXPECT_EQ(r.flags_changed, 7u * 10 * 6);  // also 50 and 98
  EXPECT_EQ(s.action("flags_stripped"), r.flags_changed);
}

TEST(Ecn, Reflect) {
  StageRun s("ecn", "tcp: reflect");
  const auto r = check_grid(
      s, tcp_only([](uint8_t f) { return (f & (S | A)) == (S | A) ? uint8_t(f | E | C) : f; }));
  EXPECT_EQ(r.flags_changed, 2u * 10 * 6);  // 12 and 52
  EXPECT_EQ(s.action("reflected"), r.flags_changed);
}

TEST(Ecn, DropEcnSetupSyn) {
  StageRun s("ecn", "tcp: drop_ecn_setup_syn");
  const auto r = check_grid(s, [](uint8_t t, uint8_t f, bool tcp) {
    const bool setup = tcp && (f & (S | A | E | C)) == (S | E | C);
    return Expect{t, f, static_cast<uint8_t>(setup ? 2 : kPass)};
  });
  EXPECT_EQ(r.dropped, 10u * 6);  // only c2: not 42/82 (one flag), not d2 (an ACK)
}

TEST(Ecn, IpAndTcpTogether) {
  StageRun s("ecn", "ip: bleach\ntcp: strip_syn_flags");
  const auto r = check_grid(s, [](uint8_t t, uint8_t f, bool tcp) {
    return Expect{uint8_t(t & 0xfc), tcp && (f & S) ? uint8_t(f & ~(E | C)) : f};
  });
  EXPECT_EQ(s.action("bleached"), r.tos_changed);
  EXPECT_EQ(s.action("syn_flags_stripped"), r.flags_changed);
  // A drop wins over a rewrite of the same packet.
  StageRun d("ecn", "ip: drop_ect\ntcp: reflect");
  check_grid(d, [](uint8_t t, uint8_t f, bool tcp) {
    if (t & 3) return Expect{t, f, 1};
    return Expect{t, tcp && (f & (S | A)) == (S | A) ? uint8_t(f | E | C) : f};
  });
}

TEST(Ecn, NonIpUntouched) {
  StageRun s("ecn", "ip: set_ce\ntcp: reflect");
  const Out o = s.run1(frames().get("arp"));
  EXPECT_EQ(o.verdict, kPass);
  EXPECT_EQ(o.bytes, frames().get("arp"));
}

// PATHspider 2.0's ecn plugin: negotiation from the SYN-ACK's flags (& SAEC), marks from the
// return path's traffic class (& 3); connectivity from whether each connection got an answer.
std::string negotiation(uint8_t synack) {
  const uint8_t saec = synack & (S | A | E | C);
  if (saec == (S | A | E)) return "ecn.negotiation.succeeded";
  if (saec == (S | A | E | C)) return "ecn.negotiation.reflected";
  return "ecn.negotiation.failed";
}
uint8_t flags_of(const Bytes& frame) { return frame[14 + 20 + 13]; }  // plain4
uint8_t tos_of(const Bytes& frame) { return frame[15]; }

TEST(Ecn, PathspiderConditions) {
  const Bytes ecn_syn = frames().get("plain4/00/c2"), plain_syn = frames().get("plain4/00/02");
  const Bytes ecn_synack = frames().get("plain4/02/52"),
              plain_synack = frames().get("plain4/00/12");
  ASSERT_EQ(negotiation(flags_of(ecn_synack)), "ecn.negotiation.succeeded");

  {  // Forward path: the server never sees an ECN-setup SYN, answers a plain SYN-ACK.
    StageRun s("ecn", "tcp: strip_syn_flags\nmatch: {direction: ingress}");
    EXPECT_EQ(flags_of(s.run1(ecn_syn).bytes), S);
    // Return path: the server's ECN-setup SYN-ACK loses ECE.
    EXPECT_EQ(negotiation(flags_of(s.run1(ecn_synack).bytes)), "ecn.negotiation.failed");
  }
  {  // The ECN connection gets no answer, the plain one does: ecn.connectivity.broken.
    StageRun s("ecn", "tcp: drop_ecn_setup_syn");
    const auto out = s.run({ecn_syn, plain_syn, ecn_synack});
    EXPECT_EQ(out[0].verdict, 2);
    EXPECT_EQ(out[1].verdict, kPass);
    EXPECT_EQ(out[2].verdict, kPass);
  }
  {  // Both flags on the SYN-ACK, whether the server negotiated or not.
    StageRun s("ecn", "tcp: reflect");
    EXPECT_EQ(negotiation(flags_of(s.run1(ecn_synack).bytes)), "ecn.negotiation.reflected");
    EXPECT_EQ(negotiation(flags_of(s.run1(plain_synack).bytes)), "ecn.negotiation.reflected");
    EXPECT_EQ(s.run1(ecn_syn).bytes, ecn_syn);  // a SYN is not reflected
  }
  {  // ecn.ipmark.*: bleaching hides ECT(0); rewriting turns it into ECT(1); set_ce into CE.
    const Bytes ect0_data = frames().get("plain4/ba/10");
    StageRun bleach("ecn", "ip: bleach"), rewrite("ecn", "ip: {rewrite: {ect0: ect1}}"),
        ce("ecn", "ip: set_ce");
    EXPECT_EQ(tos_of(bleach.run1(ect0_data).bytes) & 3, 0);
    EXPECT_EQ(tos_of(rewrite.run1(ect0_data).bytes) & 3, 1);
    EXPECT_EQ(tos_of(ce.run1(ect0_data).bytes) & 3, 3);
  }
}

TEST(Ecn, DropReasonsCounted) {
  StageRun ect("ecn", "ip: drop_ect");
  EXPECT_EQ(passed(ect.run({frames().get("plain4/ba/10"), frames().get("plain6/b8/10"),
                     frames().get("plain6/03/10")})).size(),
            1u);
  EXPECT_EQ(ect.drop("ect"), 2u);
  EXPECT_EQ(ect.drop("ecn_setup_syn"), 0u);
  StageRun syn("ecn", "tcp: drop_ecn_setup_syn");
  EXPECT_EQ(passed(syn.run({frames().get("ext6/00/c2"), frames().get("vlan4/00/c2"),
                     frames().get("vlan4/00/02")})).size(),
            1u);
  EXPECT_EQ(syn.drop("ecn_setup_syn"), 2u);
}

// ecn_fallback: drop remembers the connections whose ECN-setup SYN it dropped and drops their
// retransmitted plain SYNs too (RFC 3168 6.1.1.1 fallback), so the ECN connection never comes up:
// PATHspider's ecn.connectivity.broken even against a client with fallback on.
TEST(Ecn, FallbackSynsOfADroppedConnection) {
  const Bytes ecn_syn = frames().get("plain4/00/c2"), fallback_syn = frames().get("plain4/00/02");
  StageRun c("ecn", "tcp: drop_ecn_setup_syn\necn_fallback: drop");
  EXPECT_EQ(passed(c.run({ecn_syn})).size(), 0u);
  EXPECT_EQ(passed(c.run({fallback_syn, frames().get("othersyn4"), frames().get("plain4/00/12"),
                   frames().get("plain6/00/02"), fallback_syn})).size(),
            3u);
  EXPECT_EQ(c.drop("ecn_setup_syn"), 1u);
  EXPECT_EQ(c.drop("ecn_fallback_syn"), 2u);
  EXPECT_TRUE(c.stage().stateful());
  // IPv6: the connection is its addresses, ports and ISN, with or without extension headers.
  StageRun c6("ecn", "tcp: drop_ecn_setup_syn\necn_fallback: drop");
  EXPECT_EQ(passed(c6.run({frames().get("ext6/00/c2"), frames().get("ext6/00/02"),
                    frames().get("plain6/00/02"), frames().get("plain4/00/02")})).size(),
            1u);
  EXPECT_EQ(c6.drop("ecn_fallback_syn"), 2u);

  // By default the fallback SYN passes: the connection comes up without ECN after the SYN timeout.
  StageRun plain("ecn", "tcp: drop_ecn_setup_syn");
  EXPECT_EQ(plain.run1(ecn_syn).verdict, 2);
  EXPECT_EQ(plain.run1(fallback_syn).verdict, kPass);
  EXPECT_FALSE(plain.stage().stateful());
}

TEST(Ecn, MatchNarrows) {
  const Bytes f = frames().get("plain4/ba/52");
  StageRun udp_only("ecn", "ip: bleach\ntcp: strip_syn_flags\nmatch: {proto: udp}");
  EXPECT_EQ(udp_only.run1(f).bytes, f);
  StageRun v6_only("ecn", "ip: bleach\nmatch: {ip: 6}");
  EXPECT_EQ(v6_only.run1(f).bytes, f);
  EXPECT_EQ(v6_only.run1(frames().get("plain6/ba/52")).bytes, frames().get("plain6/b8/52"));
  StageRun synack_ece("ecn", "tcp: reflect\nmatch: {proto: tcp, tcp_flags: [syn, ack, ece]}");
  EXPECT_EQ(synack_ece.run1(frames().get("plain4/00/12")).bytes, frames().get("plain4/00/12"));
  EXPECT_EQ(synack_ece.run1(frames().get("plain4/00/52")).bytes, frames().get("plain4/00/d2"));
  StageRun other_port("ecn", "ip: bleach\nmatch: {port: p9}");
  EXPECT_EQ(other_port.run1(f).bytes, f);
  StageRun egress("ecn", "ip: bleach\nmatch: {direction: egress}");
  EXPECT_EQ(egress.run1(f).bytes, f);
  StageRun never("ecn", "ip: bleach\nprobability: 0");
  EXPECT_EQ(never.run1(f).bytes, f);
  EXPECT_EQ(never.action("bleached"), 0u);
}

TEST(Ecn, ProbabilityIsSeededAndCounted) {
  const Bytes f = frames().get("plain4/ba/10");
  const std::vector<Bytes> burst(200, f);
  StageRun a("ecn", "ip: bleach\nprobability: 0.5\nseed: 7");
  StageRun b("ecn", "ip: bleach\nprobability: 0.5\nseed: 7");
  const auto oa = a.run(burst), ob = b.run(burst);
  uint64_t hit = 0;
  for (size_t i = 0; i < oa.size(); ++i) {
    EXPECT_EQ(oa[i].bytes, ob[i].bytes) << i;
    if (oa[i].bytes != f) {
      EXPECT_EQ(oa[i].bytes, frames().get("plain4/b8/10"));
      ++hit;
    }
  }
  EXPECT_GT(hit, 60u);
  EXPECT_LT(hit, 140u);
  EXPECT_EQ(a.action("bleached"), hit);
}

TEST(Ecn, BadParams) {
  const ParseCases cases = {
      {"", "test.yaml:1:1: stage.ip: needs `ip`, `tcp` or both"},
      {"ip: sprinkle",
       "test.yaml:1:5: stage.ip: 'sprinkle' is not bleach, set_ce, drop_ect, {rewrite: {FROM: TO}} "
       "or {tos_overwrite: 0..255}"},
      {"ip: {bleach: true}", "test.yaml:1:6: stage.ip.bleach: unknown key"},
      {"ip: {rewrite: {ect0: ce}, tos_overwrite: 0}",
       "test.yaml:1:5: stage.ip: expected one of bleach, set_ce, drop_ect, {rewrite: {FROM: TO}} "
       "or {tos_overwrite: 0..255}"},
      {"ip: {rewrite: {ect2: ce}}",
       "test.yaml:1:16: stage.ip.rewrite.ect2: 'ect2' is not a codepoint (not-ect, ect0, ect1, ce "
       "or 0..3)"},
      {"ip: {rewrite: {ect0: 4}}",
       "test.yaml:1:22: stage.ip.rewrite.ect0: '4' is not a codepoint (not-ect, ect0, ect1, ce or "
       "0..3)"},
      {"ip: {rewrite: {ect0: ect1, 2: ce}}",
       "test.yaml:1:28: stage.ip.rewrite.2: codepoint listed twice"},
      {"ip: {rewrite: {}}",
       "test.yaml:1:15: stage.ip.rewrite: expected a map of codepoint to codepoint, e.g. {ect0: "
       "ect1}"},
      {"ip: {tos_overwrite: 256}",
       "test.yaml:1:21: stage.ip.tos_overwrite: 256 is out of range 0..255"},
      {"tcp: nope",
       "test.yaml:1:6: stage.tcp: 'nope' is not strip_syn_flags, strip_flags, drop_ecn_setup_syn "
       "or "
       "reflect"},
      {"ip: bleach\nbleach: true", "test.yaml:2:1: stage.bleach: unknown key"},
      {"ip: bleach\nprobability: 2", "test.yaml:2:14: stage.probability: 2 is not within 0..1"},
      {"tcp: reflect\necn_fallback: drop",
       "test.yaml:2:15: stage.ecn_fallback: only with tcp: drop_ecn_setup_syn"},
      {"ip: drop_ect\necn_fallback: drop",
       "test.yaml:2:15: stage.ecn_fallback: only with tcp: drop_ecn_setup_syn"},
      {"tcp: drop_ecn_setup_syn\necn_fallback: maybe",
       "test.yaml:2:15: stage.ecn_fallback: 'maybe' is not pass or drop"},
  };
  expect_parse_errors("ecn", cases);
  EXPECT_EQ(parse_error("ecn", "ip: {rewrite: {not-ect: ce, ect1: 0}}\ntcp: reflect\nseed: 3"), "");
}

}  // namespace
}  // namespace pathlab::test
