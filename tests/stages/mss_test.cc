// mss: clamp, clamp_to_mtu (per family, from the port MTU) and set against scapy frames on IPv4
// (plain, VLAN, with IP options) and IPv6 (plain, VLAN, with HBH and DestOpts); SYN and SYN-ACK
// only; every MSS option rewritten, also at an odd offset; add_if_missing (capped at the default
// MSS unless set) and where it cannot add; malformed lists; PATHspider's four observations.
#include <optional>

#include "harness.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("mss_frames.json");
  return f;
}

const char* const kCarriers[] = {"v4", "vlan", "v4opt", "v6", "v6ext", "v6vlan"};

bool is_v6(const std::string& carrier) { return carrier.rfind("v6", 0) == 0; }

StageSite site_with_mtu(uint16_t mtu) {
  StageSite s = StageRun::default_site();
  if (mtu != 0) s.port_mtu = mtu;
  return s;
}

// The value of the last MSS option (the one a receiver keeps), none when there is none.
std::optional<uint16_t> mss_of(const Bytes& frame) {
  rte_mbuf* m = make_mbuf(frame);
  PktView v;
  std::optional<uint16_t> mss;
  if (view_packet(m, v) && v.tcp_ok) {
    const unsigned end = (v.l4[12] >> 4) * 4u;
    for (unsigned off = 20; off < end && v.l4[off] != 0;) {
      if (v.l4[off] == 1) {
        ++off;
        continue;
      }
      if (v.l4[off] == 2) mss = static_cast<uint16_t>(v.l4[off + 2] << 8 | v.l4[off + 3]);
      off += v.l4[off + 1];
    }
  }
  rte_pktmbuf_free(m);
  return mss;
}

struct Row {
  const char* scenario;
  const char* params;
  uint16_t mtu;    // the port's; 0: the default 1500
  uint16_t want4;  // the MSS after the stage, IPv4 / IPv6; 0: the frame is untouched
  uint16_t want6;
  const char* field;  // "mss" (rewritten) or "added"
};

const Row kRows[] = {
    {"syn1460", "clamp: 1360", 0, 1360, 1360, "mss"},
    {"synack1460", "clamp: 1360", 0, 1360, 1360, "mss"},
    {"syn_odd", "clamp: 1360", 0, 1360, 1360, "mss"},
    {"two_mss", "clamp: 1360", 0, 1360, 1360, "mss"},
    {"syn1200", "clamp: 1360", 0, 0, 0, "mss"},
    {"ack_mss", "clamp: 1360", 0, 0, 0, "mss"},
    {"syn1460", "clamp_to_mtu: true", 1400, 1360, 1340, "mss"},
    {"syn1460", "clamp_to_mtu: true", 0, 0, 1440, "mss"},
    {"syn_odd", "clamp_to_mtu: true", 1400, 1360, 1340, "mss"},
    {"syn1460", "set: 9000", 0, 9000, 9000, "mss"},
    {"syn1200", "set: 9000", 0, 9000, 9000, "mss"},
    {"syn1460", "set: 536", 0, 536, 536, "mss"},
    {"synack1460", "set: 1200", 0, 1200, 1200, "mss"},
    {"syn1460", "set: 1460", 0, 0, 0, "mss"},
    {"ack_mss", "set: 9000", 0, 0, 0, "mss"},
    {"syn_nomss", "clamp: 1360", 0, 0, 0, "added"},
    {"syn_nomss", "clamp: 1360\nadd_if_missing: true", 0, 536, 1220, "added"},
    {"syn_bare", "clamp: 1360\nadd_if_missing: true", 0, 536, 1220, "added"},
    {"synack_nomss", "clamp: 1360\nadd_if_missing: true", 0, 536, 1220, "added"},
    {"syn_nomss", "clamp: 1200\nadd_if_missing: true", 0, 536, 1200, "added"},
    {"syn_nomss", "clamp_to_mtu: true\nadd_if_missing: true", 1400, 536, 1220, "added"},
    {"syn_nomss", "set: 9000\nadd_if_missing: true", 0, 9000, 9000, "added"},
    {"syn_bare", "set: 1460\nadd_if_missing: true", 0, 1460, 1460, "added"},
    {"syn1200", "set: 9000\nadd_if_missing: true", 0, 9000, 9000, "mss"},
};

TEST(Mss, InputsAreValid) {
  for (const std::string& name :
       carrier_cases(kCarriers, {"syn1460", "synack1460", "syn_odd", "syn1200", "two_mss",
                                 "ack_mss", "syn_nomss", "syn_bare", "synack_nomss",
                                 "syn_data_nomss", "syn_full_nomss"})) {
    EXPECT_TRUE(checksums_ok(frames().get(name))) << name;
  }
}

TEST(Mss, RewritesMatchScapy) {
  for (const Row& r : kRows) {
    for (const char* c : kCarriers) {
      const std::string name = std::string(c) + "/" + r.scenario;
      const std::string what = name + " with " + r.params;
      const uint16_t want_mss = is_v6(c) ? r.want6 : r.want4;
      const Bytes in = frames().get(name);
      const Bytes want =
          want_mss == 0 ? in : frames().get(name, r.field + std::to_string(want_mss));
      StageRun s("mss", r.params, site_with_mtu(r.mtu));
      const MbufOut o = run_mbuf(s, in);
      expect_rewritten(o, want, what);

      const bool added = want_mss != 0 && std::string(r.field) == "added";
      const auto sent = mss_of(in);
      const uint64_t options = std::string(r.scenario) == "two_mss" ? 2 : 1;
      const bool changed = want_mss != 0 && !added;
      EXPECT_EQ(s.action("lowered"), changed && want_mss < *sent ? options : 0u) << what;
      EXPECT_EQ(s.action("raised"), changed && want_mss > *sent ? options : 0u) << what;
      EXPECT_EQ(s.action("added"), added ? 1u : 0u) << what;
      EXPECT_EQ(s.action("not_added"), 0u) << what;
    }
  }
}

TEST(Mss, CannotAdd) {
  for (const char* c : kCarriers) {
    for (const char* sc : {"syn_data_nomss", "syn_full_nomss"}) {
      const std::string name = std::string(c) + "/" + sc;
      StageRun s("mss", "clamp: 1360\nadd_if_missing: true");
      const Bytes in = frames().get(name);
      EXPECT_EQ(s.run1(in).bytes, in) << name;
      EXPECT_EQ(s.action("not_added"), 1u) << name;
      EXPECT_EQ(s.action("added"), 0u) << name;
    }
  }
  StageRun s("mss", "set: 1400\nadd_if_missing: true");
  EXPECT_EQ(s.run1(frames().get("frag6/syn_bare")).bytes, frames().get("frag6/syn_bare"));
  EXPECT_EQ(s.action("not_added"), 1u);
}

TEST(Mss, FirstFragmentRewrittenInPlace) {
  StageRun s("mss", "clamp: 1360");
  const Out o = s.run1(frames().get("frag4/syn1460"));
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get("frag4/syn1460", "mss1360")));
  EXPECT_TRUE(checksums_ok(o.bytes));
}

TEST(Mss, MalformedListsPassOrDrop) {
  std::vector<Bytes> in;
  for (const char* k : {"mss_len3", "mss_len5", "overrun", "truncated", "len0"}) {
    in.push_back(frames().get(std::string("malformed/") + k));
  }
  for (const char* params : {"clamp: 100", "set: 9000\nadd_if_missing: true"}) {
    StageRun pass("mss", params);
    const auto out = pass.run(in);
    for (size_t i = 0; i < in.size(); ++i) {
      EXPECT_EQ(out[i].verdict, kPass) << params << " #" << i;
      EXPECT_EQ(out[i].bytes, in[i]) << params << " #" << i;
    }
    EXPECT_EQ(pass.action("malformed_passed"), in.size()) << params;
    EXPECT_EQ(pass.action("lowered") + pass.action("raised") + pass.action("added"), 0u);

    StageRun drop("mss", std::string(params) + "\nmalformed: drop");
    for (const auto& o : drop.run(in)) EXPECT_EQ(o.verdict, 1);  // malformed
    EXPECT_EQ(drop.drop("malformed"), in.size()) << params;
  }
}

// PATHspider's mss plugin compares the MSS the server saw with the one the client sent.
std::string observe(const Bytes& sent, const Bytes& seen) {
  const auto a = mss_of(sent), b = mss_of(seen);
  if (!b) return "absent";
  if (*b < *a) return "deflated";
  if (*b > *a) return "inflated";
  return "unchanged";
}

TEST(Mss, PathspiderObservations) {
  struct Case {
    const char* stage;
    const char* params;
    const char* scenario;
    const char* observed4;
    const char* observed6;
  };
  const Case cases[] = {
      {"mss", "clamp: 1360", "syn1460", "deflated", "deflated"},
      {"mss", "clamp: 1360", "syn1200", "unchanged", "unchanged"},
      {"mss", "clamp_to_mtu: true", "syn1460", "unchanged", "deflated"},  // MTU 1500: 1460 / 1440
      {"mss", "set: 9000", "syn1460", "inflated", "inflated"},
      {"mss", "set: 1460", "syn1460", "unchanged", "unchanged"},
      {"mss", "set: 1000", "syn1460", "deflated", "deflated"},
      {"tcp_options", "strip: [mss]", "syn1460", "absent", "absent"},
      {"tcp_options", "strip: [mss]\nhow: remove", "syn1460", "absent", "absent"},
      {"tcp_options", "allow: [sack_permitted, timestamp, wscale]", "syn_odd", "absent", "absent"},
  };
  for (const auto& c : cases) {
    for (const char* carrier : {"v4", "v6ext"}) {
      const Bytes in = frames().get(std::string(carrier) + "/" + c.scenario);
      StageRun s(c.stage, c.params);
      const Out o = s.run1(in);
      EXPECT_TRUE(checksums_ok(o.bytes)) << c.params;
      EXPECT_EQ(observe(in, o.bytes), is_v6(carrier) ? c.observed6 : c.observed4)
          << c.stage << ": " << c.params << " " << carrier;
    }
  }
}

TEST(Mss, MatchNarrows) {
  const Bytes in = frames().get("v4/syn1460");
  StageRun v6_only("mss", "clamp: 1000\nmatch: {ip: 6}");
  EXPECT_EQ(v6_only.run1(in).bytes, in);
  StageRun never("mss", "clamp: 1000\nprobability: 0");
  EXPECT_EQ(never.run1(in).bytes, in);
  StageRun synack_only("mss", "clamp: 1360\nmatch: {proto: tcp, tcp_flags: [syn, ack]}");
  EXPECT_EQ(synack_only.run1(in).bytes, in);
  EXPECT_EQ(to_hex(synack_only.run1(frames().get("v4/synack1460")).bytes),
            to_hex(frames().get("v4/synack1460", "mss1360")));
}

TEST(Mss, BadParams) {
  const ParseCases cases = {
      {"add_if_missing: true",
       "test.yaml:1:1: stage.clamp: one of clamp, clamp_to_mtu or set is needed"},
      {"clamp: 1360\nset: 9000",
       "test.yaml:2:6: stage.set: clamp, clamp_to_mtu and set exclude each other"},
      {"clamp_to_mtu: true\nclamp: 1360",
       "test.yaml:1:15: stage.clamp_to_mtu: clamp, clamp_to_mtu and set exclude each other"},
      {"clamp: 0", "test.yaml:1:8: stage.clamp: 0 is out of range 1..65535"},
      {"set: 70000", "test.yaml:1:6: stage.set: 70000 is out of range 1..65535"},
      {"clamp_to_mtu: false", "test.yaml:1:15: stage.clamp_to_mtu: only true is meaningful"},
      {"clamp: 1360\nmalformed: x", "test.yaml:2:12: stage.malformed: 'x' is not pass or drop"},
      {"clamp: 1360\nbogus: 1", "test.yaml:2:1: stage.bogus: unknown key"},
      {"clamp: 1360\nadd_if_missing: true\nmalformed: drop", ""},
      {"set: 9000\nmatch: {proto: tcp, tcp_flags: [syn, '!ack']}", ""},
  };
  expect_parse_errors("mss", cases);
}

}  // namespace
}  // namespace pathlab::test
