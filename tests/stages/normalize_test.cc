// normalize: TTL / hop-limit set and clamps, and IPv4 ID zero / random / sequential, over a grid
// of TTLs and IDs on IPv4 (plain, VLAN, options, DF clear, first and later fragments) and IPv6
// (plain, extension headers), against scapy-built frames; fragments keep their ID; random and
// sequential IDs checked for their properties; match, probability, bad params.
#include <algorithm>
#include <functional>
#include <set>

#include "harness.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("normalize_frames.json");
  return f;
}

// The grid of gen_normalize.py.
const std::vector<unsigned> kTtls = {1, 31, 32, 64, 128, 129, 255};
const std::vector<unsigned> kIds = {0x0000, 0x1234, 0xfffe};
const std::vector<std::string> kWhole4 = {"plain4", "vlan4", "opts4", "nodf4"};
const std::vector<std::string> kFragments4 = {"firstfrag4", "laterfrag4"};
const std::vector<std::string> kIp6 = {"plain6", "ext6"};

std::string key(const std::string& variant, unsigned ttl, unsigned id) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s/%u/%04x", variant.c_str(), ttl, id);
  return buf;
}

size_t l3_of(const Bytes& f) { return f.at(12) == 0x81 ? 18 : 14; }
uint16_t ip_id_of(const Bytes& f) {
  return static_cast<uint16_t>(f.at(l3_of(f) + 4) << 8 | f.at(l3_of(f) + 5));
}

struct Cell {
  std::string variant;
  unsigned ttl, id;
  bool v4, fragment;
};
std::vector<Cell> grid() {
  std::vector<Cell> g;
  for (const auto& v : kWhole4)
    for (unsigned t : kTtls)
      for (unsigned i : kIds) g.push_back({v, t, i, true, false});
  for (const auto& v : kFragments4)
    for (unsigned t : kTtls)
      for (unsigned i : kIds) g.push_back({v, t, i, true, true});
  for (const auto& v : kIp6)
    for (unsigned t : kTtls) g.push_back({v, t, 0, false, false});
  return g;
}

struct Totals {
  uint64_t raised = 0, lowered = 0, ids = 0, fragments = 0;
};

// Runs the whole grid as one burst; `oracle` gives the (ttl, id) each cell must come out with.
Totals check_grid(StageRun& s,
                  const std::function<std::pair<unsigned, unsigned>(const Cell&)>& oracle) {
  const auto g = grid();
  std::vector<Bytes> in;
  for (const auto& c : g) in.push_back(frames().get(key(c.variant, c.ttl, c.id)));
  const auto out = s.run(in);
  Totals t;
  for (size_t i = 0; i < g.size(); ++i) {
    const auto [ttl, id] = oracle(g[i]);
    const std::string what = key(g[i].variant, g[i].ttl, g[i].id);
    EXPECT_EQ(out[i].verdict, kPass) << what;
    EXPECT_EQ(to_hex(out[i].bytes), to_hex(frames().get(key(g[i].variant, ttl, id)))) << what;
    EXPECT_TRUE(checksums_ok(out[i].bytes)) << what;
    t.raised += ttl > g[i].ttl;
    t.lowered += ttl < g[i].ttl;
    t.ids += id != g[i].id;
  }
  return t;
}

TEST(Normalize, TtlSet) {
  StageRun s("normalize", "ttl: {set: 64}");
  const Totals t = check_grid(s, [](const Cell& c) { return std::pair{64u, c.id}; });
  EXPECT_EQ(t.raised, 3u * (6 * 3 + 2));  // 1, 31, 32 on every variant
  EXPECT_EQ(t.lowered, 3u * (6 * 3 + 2));
  EXPECT_EQ(s.action("ttl_raised"), t.raised);
  EXPECT_EQ(s.action("ttl_lowered"), t.lowered);
  EXPECT_FALSE(s.stage().stateful());
}

TEST(Normalize, TtlClamps) {
  const std::pair<const char*, std::function<unsigned(unsigned)>> clamps[] = {
      {"ttl: {min: 32, max: 128}", [](unsigned t) { return std::clamp(t, 32u, 128u); }},
      {"ttl: {min: 32}", [](unsigned t) { return std::max(t, 32u); }},
      {"ttl: {max: 128}", [](unsigned t) { return std::min(t, 128u); }},
  };
  for (const auto& [yaml, f] : clamps) {
    StageRun s("normalize", yaml);
    const Totals t = check_grid(s, [&f = f](const Cell& c) { return std::pair{f(c.ttl), c.id}; });
    EXPECT_EQ(s.action("ttl_raised"), t.raised) << yaml;
    EXPECT_EQ(s.action("ttl_lowered"), t.lowered) << yaml;
    EXPECT_GT(t.raised + t.lowered, 0u) << yaml;
  }
}

TEST(Normalize, IpIdZeroLeavesFragments) {
  StageRun s("normalize", "ip_id: zero");
  const Totals t = check_grid(s, [](const Cell& c) {
    return std::pair{c.ttl, c.v4 && !c.fragment ? 0u : c.id};
  });
  EXPECT_EQ(t.ids, 4u * 7 * 2);
  EXPECT_EQ(s.action("ip_id_zeroed"), t.ids);
  EXPECT_EQ(s.action("fragment_id_kept"), 2u * 7 * 3);
  EXPECT_EQ(s.action("ttl_raised") + s.action("ttl_lowered"), 0u);
}

TEST(Normalize, TtlAndIdTogether) {
  StageRun s("normalize", "ttl: {set: 128}\nip_id: zero");
  const Totals t = check_grid(s, [](const Cell& c) {
    return std::pair{128u, c.v4 && !c.fragment ? 0u : c.id};
  });
  EXPECT_EQ(s.action("ttl_raised"), t.raised);
  EXPECT_EQ(s.action("ttl_lowered"), t.lowered);
  EXPECT_EQ(s.action("ip_id_zeroed"), t.ids);
  EXPECT_EQ(s.action("fragment_id_kept"), 2u * 7 * 3);
}

// Everything but the ID and the header checksum is the input's.
Bytes without_id(Bytes f) {
  const size_t l3 = l3_of(f);
  for (size_t o : {4, 5, 10, 11}) f[l3 + o] = 0;
  return f;
}

std::vector<Bytes> whole4_frames() {
  std::vector<Bytes> in;
  for (const auto& v : kWhole4)
    for (unsigned t : kTtls)
      for (unsigned i : kIds) in.push_back(frames().get(key(v, t, i)));
  return in;
}

TEST(Normalize, IpIdRandom) {
  const auto in = whole4_frames();
  StageRun a("normalize", "ip_id: random\nseed: 5"), b("normalize", "ip_id: random\nseed: 5"),
      c("normalize", "ip_id: random\nseed: 6");
  const auto oa = a.run(in), ob = b.run(in), oc = c.run(in);
  std::set<uint16_t> ids;
  size_t differs_from_other_seed = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(to_hex(without_id(oa[i].bytes)), to_hex(without_id(in[i]))) << i;
    EXPECT_TRUE(checksums_ok(oa[i].bytes)) << i;
    EXPECT_EQ(oa[i].bytes, ob[i].bytes) << "same seed, same IDs: " << i;
    differs_from_other_seed += oa[i].bytes != oc[i].bytes;
    ids.insert(ip_id_of(oa[i].bytes));
  }
  EXPECT_GT(ids.size(), in.size() * 9 / 10);
  EXPECT_GT(differs_from_other_seed, in.size() * 9 / 10);
  EXPECT_EQ(a.action("ip_id_randomized"), in.size());
  const Bytes frag = frames().get(key("firstfrag4", 64, 0x1234));
  EXPECT_EQ(a.run1(frag).bytes, frag);
  EXPECT_EQ(a.action("fragment_id_kept"), 1u);
  EXPECT_FALSE(a.stage().stateful());
}

TEST(Normalize, IpIdSequential) {
  StageRun s("normalize", "ip_id: sequential\nseed: 9");
  EXPECT_TRUE(s.stage().stateful());
  const auto in = whole4_frames();
  auto out = s.run(in);
  const auto more = s.run({in[0], frames().get(key("laterfrag4", 64, 0x1234)), in[1]});
  out.push_back(more[0]);
  out.push_back(more[2]);
  EXPECT_EQ(more[1].bytes, frames().get(key("laterfrag4", 64, 0x1234)));
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(checksums_ok(out[i].bytes)) << i;
    if (i > 0) {
      EXPECT_EQ(ip_id_of(out[i].bytes), static_cast<uint16_t>(ip_id_of(out[i - 1].bytes) + 1)) << i;
    }
  }
  EXPECT_EQ(to_hex(without_id(out[0].bytes)), to_hex(without_id(in[0])));
  EXPECT_EQ(s.action("ip_id_sequenced"), in.size() + 2);
  EXPECT_EQ(s.action("fragment_id_kept"), 1u);
  // IPv6 has no ID to rewrite.
  const Bytes v6 = frames().get(key("ext6", 64, 0));
  EXPECT_EQ(s.run1(v6).bytes, v6);
}

TEST(Normalize, MatchNarrows) {
  const Bytes f = frames().get(key("plain4", 255, 0x1234));
  StageRun udp("normalize", "ttl: {set: 64}\nmatch: {proto: udp}");
  EXPECT_EQ(udp.run1(f).bytes, f);
  EXPECT_EQ(udp.run1(frames().get(key("vlan4", 255, 0x1234))).bytes,
            frames().get(key("vlan4", 64, 0x1234)));
  StageRun v6("normalize", "ttl: {max: 64}\nip_id: zero\nmatch: {ip: 6}");
  EXPECT_EQ(v6.run1(f).bytes, f);
  EXPECT_EQ(v6.run1(frames().get(key("ext6", 255, 0))).bytes, frames().get(key("ext6", 64, 0)));
  StageRun never("normalize", "ip_id: zero\nprobability: 0");
  EXPECT_EQ(never.run1(f).bytes, f);
  EXPECT_EQ(never.action("ip_id_zeroed"), 0u);
}

TEST(Normalize, ProbabilityIsSeeded) {
  const Bytes f = frames().get(key("plain4", 255, 0x1234));
  const std::vector<Bytes> burst(100, f);
  StageRun a("normalize", "ttl: {set: 64}\nprobability: 0.3\nseed: 1");
  StageRun b("normalize", "ttl: {set: 64}\nprobability: 0.3\nseed: 1");
  const auto oa = a.run(burst), ob = b.run(burst);
  uint64_t hit = 0;
  for (size_t i = 0; i < oa.size(); ++i) {
    EXPECT_EQ(oa[i].bytes, ob[i].bytes);
    if (oa[i].bytes != f) {
      EXPECT_EQ(oa[i].bytes, frames().get(key("plain4", 64, 0x1234)));
      ++hit;
    }
  }
  EXPECT_GT(hit, 10u);
  EXPECT_LT(hit, 55u);
  EXPECT_EQ(a.action("ttl_lowered"), hit);
}

TEST(Normalize, BadParams) {
  const char* forms = "expected {set: N}, {min: N}, {max: N} or {min: N, max: N}";
  const ParseCases cases = {
      {"", "test.yaml:1:1: stage.ttl: needs `ttl`, `ip_id` or both"},
      {"tll: {set: 1}", "test.yaml:1:1: stage.tll: unknown key"},
      {"ttl: 64", std::string("test.yaml:1:6: stage.ttl: ") + forms},
      {"ttl: {}", std::string("test.yaml:1:6: stage.ttl: ") + forms},
      {"ttl: {set: 0}", "test.yaml:1:12: stage.ttl.set: 0 is out of range 1..255"},
      {"ttl: {set: 256}", "test.yaml:1:12: stage.ttl.set: 256 is out of range 1..255"},
      {"ttl: {set: 64, max: 100}", "test.yaml:1:21: stage.ttl.max: cannot be combined with set"},
      {"ttl: {min: 100, max: 50}", "test.yaml:1:12: stage.ttl.min: 100 is above max 50"},
      {"ttl: {mix: 3}", "test.yaml:1:7: stage.ttl.mix: unknown key"},
      {"ip_id: shuffle", "test.yaml:1:8: stage.ip_id: 'shuffle' is not zero, random or sequential"},
  };
  expect_parse_errors("normalize", cases);
  EXPECT_EQ(parse_error("normalize", "ttl: {min: 1, max: 255}\nip_id: sequential\nseed: 2"), "");
}

}  // namespace
}  // namespace pathlab::test
