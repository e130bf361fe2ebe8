// dscp: every mode over all 256 ToS / traffic-class values on IPv4 (TCP, VLAN UDP, options, a
// later fragment) and IPv6 (TCP with a flow label, extension headers, ICMPv6 in QinQ), against
// scapy-built frames; ECN bits kept or zeroed; the DSCP names; what PATHspider's dscp plugin
// reads back; match, probability, bad params.
#include <functional>

#include "harness.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("dscp_frames.json");
  return f;
}

const std::vector<std::string> kVariants = {"plain4", "vlan4", "opts4", "frag4",
                                            "plain6", "ext6",  "icmp6"};

std::string key(const std::string& variant, unsigned tos) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s/%02x", variant.c_str(), tos);
  return buf;
}

struct Changed {
  uint64_t dscp = 0, ecn = 0;
};

// Runs all 256 ToS values of every variant (one burst per variant) and compares each output with
// the scapy frame of the ToS `oracle` gives.
Changed check_all(StageRun& s, const std::function<uint8_t(uint8_t)>& oracle) {
  Changed c;
  for (const auto& v : kVariants) {
    std::vector<Bytes> in;
    for (unsigned t = 0; t < 256; ++t) in.push_back(frames().get(key(v, t)));
    const auto out = s.run(in);
    for (unsigned t = 0; t < 256; ++t) {
      const uint8_t want = oracle(static_cast<uint8_t>(t));
      EXPECT_EQ(out[t].verdict, kPass);
      EXPECT_EQ(to_hex(out[t].bytes), to_hex(frames().get(key(v, want)))) << key(v, t);
      EXPECT_TRUE(checksums_ok(out[t].bytes)) << key(v, t);
      c.dscp += (want >> 2) != (t >> 2);
      c.ecn += (want & 3) != (t & 3);
    }
  }
  return c;
}

TEST(Dscp, SetKeepsEcn) {
  StageRun s("dscp", "action: {set: ef}");
  const Changed c = check_all(s, [](uint8_t t) { return uint8_t(46 << 2 | (t & 3)); });
  EXPECT_EQ(c.dscp, 7u * 63 * 4);
  EXPECT_EQ(c.ecn, 0u);
  EXPECT_EQ(s.action("set"), c.dscp);
  EXPECT_EQ(s.action("ecn_zeroed"), 0u);
}

TEST(Dscp, SetWithEcnZero) {
  StageRun s("dscp", "action: {set: 10}\necn: zero");
  const Changed c = check_all(s, [](uint8_t) { return uint8_t(10 << 2); });
  EXPECT_EQ(s.action("set"), c.dscp);
  EXPECT_EQ(s.action("ecn_zeroed"), c.ecn);
  EXPECT_EQ(c.ecn, 7u * 64 * 3);
}

TEST(Dscp, Zero) {
  StageRun s("dscp", "action: zero");
  const Changed c = check_all(s, [](uint8_t t) { return uint8_t(t & 3); });
  EXPECT_EQ(s.action("zeroed"), c.dscp);
  EXPECT_EQ(c.dscp, 7u * 63 * 4);
}

TEST(Dscp, BleachPrecedence) {
  StageRun s("dscp", "action: bleach_precedence");
  const Changed c = check_all(s, [](uint8_t t) { return uint8_t(t & 0x1f); });
  EXPECT_EQ(s.action("precedence_bleached"), c.dscp);
  EXPECT_EQ(c.dscp, 7u * 56 * 4);  // every DSCP with a precedence bit: 8..63
}

TEST(Dscp, Map) {
  StageRun s("dscp", "action: {map: {ef: 0, af11: cs1, 63: le, 0: 2}}\necn: keep");
  const Changed c = check_all(s, [](uint8_t t) {
    const unsigned d = t >> 2;
    const unsigned to = d == 46 ? 0 : d == 10 ? 8 : d == 63 ? 1 : d == 0 ? 2 : d;
    return uint8_t(to << 2 | (t & 3));
  });
  EXPECT_EQ(s.action("mapped"), c.dscp);
  EXPECT_EQ(c.dscp, 7u * 4 * 4);
}

TEST(Dscp, Names) {
  const std::pair<const char*, unsigned> names[] = {
      {"cs0", 0},   {"cs1", 8},   {"cs2", 16},  {"cs3", 24},  {"cs4", 32},
      {"cs5", 40},  {"cs6", 48},  {"cs7", 56},  {"af11", 10}, {"af12", 12},
      {"af13", 14}, {"af21", 18}, {"af22", 20}, {"af23", 22}, {"af31", 26},
      {"af32", 28}, {"af33", 30}, {"af41", 34}, {"af42", 36}, {"af43", 38},
      {"ef", 46},   {"va", 44},   {"le", 1},    {"63", 63},   {"0", 0}};
  for (const auto& [name, value] : names) {
    StageRun s("dscp", std::string("action: {set: ") + name + "}");
    EXPECT_EQ(to_hex(s.run1(frames().get("plain6/5b")).bytes),
              to_hex(frames().get(key("plain6", value << 2 | 3))))
        << name;
  }
}

// PATHspider's dscp plugin: the first reverse-path packet's traffic class >> 2 is the reply
// mark (dscp.<X>.replymark:<N>); a remark never drops, so connectivity is unaffected.
TEST(Dscp, PathspiderReplymark) {
  auto replymark = [](const Bytes& f, size_t l3) { return f.at(l3 + 1) >> 2; };
  const Bytes marked4 = frames().get("plain4/04"), marked6 = frames().get("plain6/04");  // DSCP 1
  auto tc6 = [](const Bytes& f) { return ((f.at(14) & 0x0f) << 4 | f.at(15) >> 4) >> 2; };
  StageRun set("dscp", "action: {set: 46}"), zero("dscp", "action: zero"),
      prec("dscp", "action: bleach_precedence");
  EXPECT_EQ(replymark(set.run1(marked4).bytes, 14), 46);
  EXPECT_EQ(tc6(set.run1(marked6).bytes), 46);
  EXPECT_EQ(replymark(zero.run1(marked4).bytes, 14), 0);
  EXPECT_EQ(replymark(prec.run1(frames().get("plain4/b8")).bytes, 14), 46 & 7);
  EXPECT_EQ(set.run1(marked4).verdict, kPass);
}

TEST(Dscp, MatchNarrows) {
  const Bytes f = frames().get("plain4/b9");
  StageRun udp("dscp", "action: zero\nmatch: {proto: udp}");
  EXPECT_EQ(udp.run1(f).bytes, f);
  EXPECT_EQ(udp.run1(frames().get("vlan4/b9")).bytes, frames().get("vlan4/01"));
  StageRun dst("dscp", "action: zero\nmatch: {dst: 2001:db8:9::/48}");
  EXPECT_EQ(dst.run1(f).bytes, f);
  EXPECT_EQ(dst.run1(frames().get("plain6/b9")).bytes, frames().get("plain6/01"));
  StageRun never("dscp", "action: zero\nprobability: 0");
  EXPECT_EQ(never.run1(f).bytes, f);
  StageRun other_port("dscp", "action: zero\nmatch: {port: p1}");
  EXPECT_EQ(other_port.run1(f).bytes, f);
}

TEST(Dscp, ProbabilityIsSeeded) {
  const Bytes f = frames().get("plain6/b9");
  const std::vector<Bytes> burst(128, f);
  StageRun a("dscp", "action: zero\nprobability: 0.25\nseed: 11");
  StageRun b("dscp", "action: zero\nprobability: 0.25\nseed: 11");
  const auto oa = a.run(burst), ob = b.run(burst);
  uint64_t hit = 0;
  for (size_t i = 0; i < oa.size(); ++i) {
    EXPECT_EQ(oa[i].bytes, ob[i].bytes) << i;
    hit += oa[i].bytes != f;
  }
  EXPECT_GT(hit, 12u);
  EXPECT_LT(hit, 60u);
  EXPECT_EQ(a.action("zeroed"), hit);
}

TEST(Dscp, NonIpAndTruncatedUntouched) {
  StageRun s("dscp", "action: {set: ef}");
  Bytes arp = hex("02000000000102000000009908060001080006040001");
  EXPECT_EQ(s.run1(arp).bytes, arp);
  // An IPv4 header whose total length runs past the frame: not an IP packet the stage may touch.
  Bytes cut = frames().get("plain4/00");
  cut.resize(40);
  EXPECT_EQ(s.run1(cut).bytes, cut);
}

TEST(Dscp, BadParams) {
  const std::string forms = "0..63, cs0..cs7, af11..af43, ef, va or le";
  const std::string modes = "zero, bleach_precedence, {set: DSCP} or {map: {FROM: TO}}";
  const ParseCases cases = {
      {"", "test.yaml:1:1: stage.action: missing required key"},
      {"acton: zero", "test.yaml:1:1: stage.acton: unknown key"},
      {"action: paint", "test.yaml:1:9: stage.action: 'paint' is not " + modes},
      {"action: [zero]", "test.yaml:1:9: stage.action: expected one of " + modes},
      {"action: {set: 1, map: {1: 2}}", "test.yaml:1:9: stage.action: expected one of " + modes},
      {"action: {zero: true}", "test.yaml:1:10: stage.action.zero: unknown key"},
      {"action: {set: 64}", "test.yaml:1:15: stage.action.set: '64' is not a DSCP (" + forms + ")"},
      {"action: {set: af44}",
       "test.yaml:1:15: stage.action.set: 'af44' is not a DSCP (" + forms + ")"},
      {"action: {map: []}",
       "test.yaml:1:15: stage.action.map: expected a map of DSCP to DSCP, e.g. {ef: 0}"},
      {"action: {map: {ef: 0, 46: 1}}", "test.yaml:1:23: stage.action.map.46: DSCP listed twice"},
      {"action: {map: {ef: x}}",
       "test.yaml:1:20: stage.action.map.ef: 'x' is not a DSCP (" + forms + ")"},
      {"action: zero\necn: maybe", "test.yaml:2:6: stage.ecn: 'maybe' is not keep or zero"},
  };
  expect_parse_errors("dscp", cases);
  EXPECT_EQ(parse_error("dscp", "action: {map: {cs1: 0}}\necn: zero\nmatch: {ip: 6}"), "");
}

}  // namespace
}  // namespace pathlab::test
