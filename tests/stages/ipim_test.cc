// ipim: one hop's writes against frames computed from docs/ipim.md by gen_ipim.py (scapy
// checksums): topology and performance stamps, triggered stamping at every arrival TTL, overflow,
// TTL' and evolution wrapping, the option after others, IPv6 alignment, malformed options passed
// or dropped under ipim/malformed, participate: false, the load rule, liars, and bad params.
#include <algorithm>

#include "harness.hpp"
#include "pathlab/ipim/wire.hpp"
#include "pathlab/net/addr.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("ipim_frames.json");
  return f;
}

constexpr Nanos kNow = 1'700'000'000'123'456'789;  // gen_ipim.py's T_NS
// Offsets within the frame of the option's fields (Ethernet 14 + IPv4 20).
constexpr size_t kOpt4 = 34;
const std::string kHop =
    "router_id: 10.255.0.1\nas: 64500\nevolution_offset: 0x01020304\ncapacity: 100mbit\n"
    "sample: 1\nseed: 1\n";

StageSite hop_site() {
  StageSite s = StageRun::default_site();
  s.egress = true;
  s.port_ip4 = {{*parse_ip4_prefix("192.0.2.1/24")}};
  s.port_ip6 = {{*parse_ip6_prefix("2001:db8:2::1/64")}};
  return s;
}

struct Hop {
  explicit Hop(const std::string& extra = "") : run("ipim", kHop + extra, hop_site()) {
    run.set_now(kNow);
  }
  StageRun run;
};

void expect_hop(const std::string& name, const std::string& extra = "") {
  Hop h(extra);
  const Bytes in = frames().get(name), want = frames().get(name, "out");
  ASSERT_TRUE(checksums_ok(in)) << name;
  const MbufOut o = run_mbuf(h.run, in);
  expect_rewritten(o, want, name);
  EXPECT_EQ(h.run.action("seen"), 1u) << name;
  EXPECT_EQ(h.run.action("accumulated"), 1u) << name;
}

TEST(Ipim, TopologyStampSampled) {
  for (const char* f : {"v4", "v6"}) {
    expect_hop(std::string(f) + "/topo_sampled");
  }
  Hop h;
  h.run.run1(frames().get("v4/topo_sampled"));
  EXPECT_EQ(h.run.action("stamped"), 1u);
  EXPECT_EQ(h.run.action("triggered"), 0u);
}

TEST(Ipim, TopologyStampTriggered) {
  for (const char* f : {"v4", "v6"}) expect_hop(std::string(f) + "/topo_triggered");
  Hop h;
  h.run.run1(frames().get("v6/topo_triggered"));
  EXPECT_EQ(h.run.action("triggered"), 1u);
  EXPECT_EQ(h.run.action("stamped"), 0u);
}

TEST(Ipim, AccumulateOnlyWhenNotAsked) {
  for (const char* f : {"v4", "v6"}) expect_hop(std::string(f) + "/accumulate_only");
}

// A packet from a port with no IPv4 address: the ingress is all-ones with its unavailable bit
// (docs/ipim.md), the egress still written, the checksum right.
TEST(Ipim, TopologyStampWithoutAnIngressAddress) {
  StageSite site = hop_site();
  site.port_ip4 = {{}};
  site.ip4 = {*parse_ip4_prefix("198.51.100.1/24")};
  StageRun s("ipim", kHop, site);
  s.set_now(kNow);
  const Out o = s.run1(frames().get("v4/topo_sampled"));
  ASSERT_EQ(o.verdict, kPass);
  const size_t slot = 14 + 20 + ipim::kOffSlots;
  EXPECT_EQ(o.bytes[slot + 1] & (ipim::kSlotWritten | ipim::kNoIngress | ipim::kNoEgress),
            ipim::kSlotWritten | ipim::kNoIngress);
  const Bytes ones(4, 0xff), egress = {198, 51, 100, 1};
  EXPECT_EQ(Bytes(o.bytes.begin() + slot + ipim::kTopoIngress, o.bytes.begin() + slot + ipim::kTopoIngress + 4), ones);
  EXPECT_EQ(Bytes(o.bytes.begin() + slot + ipim::kTopoIngress + 4, o.bytes.begin() + slot + ipim::kTopoIngress + 8), egress);
  EXPECT_TRUE(checksums_ok(o.bytes));
}

TEST(Ipim, PerformanceStampWithUnavailableValues) {
  for (const char* f : {"v4", "v6"}) expect_hop(std::string(f) + "/perf_sampled");
  expect_hop("v6/perf_second_slot");
}

TEST(Ipim, OverflowWhenNoSlotIsFree) {
  for (const char* f : {"v4", "v6"}) {
    Hop h;
    const std::string name = std::string(f) + "/overflow";
    expect_rewritten(run_mbuf(h.run, frames().get(name)), frames().get(name, "out"), name);
    EXPECT_EQ(h.run.action("overflow"), 1u);
  }
}

TEST(Ipim, TtlPrimeAndEvolutionWrap) {
  for (const char* f : {"v4", "v6"}) expect_hop(std::string(f) + "/ttlp_wraps");
}

TEST(Ipim, TriggeredAtEveryTtl) {
  for (const char* f : {"v4", "v6"}) {
    Hop h;
    for (int ttl = 1; ttl <= 255; ++ttl) {
      const std::string name = std::string(f) + "/trigger/" + std::to_string(ttl);
      expect_rewritten(run_mbuf(h.run, frames().get(name)), frames().get(name, "out"), name);
    }
    EXPECT_EQ(h.run.action("triggered"), 255u);
  }
}

TEST(Ipim, OptionAmongOthersAndAligned) {
  expect_hop("v4/after_ra");
  expect_hop("v6/after_padn");
}

TEST(Ipim, MalformedPassedUntouchedOrDropped) {
  for (const char* f : {"v4", "v6"}) {
    for (const char* c : {"bad_version", "bad_slot_size", "bad_pointer", "short"}) {
      const std::string name = std::string(f) + "/" + c;
      const Bytes in = frames().get(name);
      Hop pass;
      const MbufOut o = run_mbuf(pass.run, in);
      EXPECT_EQ(o.verdict, kPass) << name;
      EXPECT_EQ(o.bytes, in) << name;
      EXPECT_EQ(pass.run.action("malformed_passed"), 1u) << name;
      Hop drop("malformed: drop\n");
      EXPECT_EQ(drop.run.run1(in).verdict, 1u) << name;
      EXPECT_EQ(drop.run.drop("malformed"), 1u) << name;
    }
  }
  Hop h("malformed: drop\n");
  EXPECT_EQ(h.run.run1(frames().get("v4/truncated_list")).verdict, 1u);
}

TEST(Ipim, UntouchedWithoutAnOptionToRead) {
  for (const char* name : {"v4/later_fragment", "v6/no_hbh"}) {
    Hop h;
    const Bytes in = frames().get(name);
    const MbufOut o = run_mbuf(h.run, in);
    EXPECT_EQ(o.bytes, in) << name;
    EXPECT_EQ(h.run.action("seen"), 0u) << name;
  }
}

TEST(Ipim, LegacyHopPassesTheOptionUntouched) {
  StageRun s("ipim", "participate: false", hop_site());
  for (const char* name : {"v4/topo_sampled", "v6/topo_triggered"}) {
    const Bytes in = frames().get(name);
    EXPECT_EQ(run_mbuf(s, in).bytes, in) << name;
  }
  EXPECT_EQ(s.action("legacy_passed"), 2u);
  EXPECT_EQ(s.action("accumulated"), 0u);
}

// A sampling fraction stamps that fraction of the packets that ask, in bursts as the router runs
// them: 0.05 of 6400 is 320 (standard deviation 17.4); with a fixed seed the count is fixed, and
// within 4 standard deviations of the mean.
TEST(Ipim, SamplingStampsTheConfiguredFraction) {
  for (const char* seed : {"1", "2", "3"}) {
    StageRun s("ipim", std::string("sample: 0.05\nseed: ") + seed, hop_site());
    const std::vector<Bytes> burst(32, frames().get("v4/topo_sampled"));
    for (int k = 0; k < 200; ++k) s.run(burst);
    EXPECT_EQ(s.action("accumulated"), 6400u);
    EXPECT_GT(s.action("stamped"), 250u) << seed;
    EXPECT_LT(s.action("stamped"), 390u) << seed;
  }
}

// Replay restarts random streams per chunk (Stage::reseed): the same seed gives the same packets
// stamped, whatever ran before. Measuring its own tx rate makes the stage stateful.
TEST(Ipim, ReseedRestartsTheSampler) {
  StageRun s("ipim", "sample: 0.3\nseed: 7", hop_site());
  EXPECT_FALSE(s.stage().stateful());
  const std::vector<Bytes> burst(32, frames().get("v4/topo_sampled"));
  auto stamped = [&] {
    std::vector<bool> which;
    for (const Out& o : s.run(burst)) which.push_back(o.bytes[kOpt4 + ipim::kOffSlots] != 0);  // the slot's TTL
    return which;
  };
  s.stage().reseed(5);
  const std::vector<bool> first = stamped();
  stamped();
  s.stage().reseed(5);
  EXPECT_EQ(stamped(), first);
  EXPECT_NE(std::count(first.begin(), first.end(), true), 0);
  EXPECT_NE(std::count(first.begin(), first.end(), false), 0);
  EXPECT_TRUE(StageRun("ipim", "capacity: 1gbit", hop_site()).stage().stateful());
  EXPECT_TRUE(StageRun("ipim", "liar: {capacity: 1gbit}", hop_site()).stage().stateful());
  EXPECT_FALSE(StageRun("ipim", "capacity: 1gbit\nparticipate: false", hop_site()).stage().stateful());
}

TEST(Ipim, SampleZeroStampsOnlyWhenTriggered) {
  StageRun s("ipim", "sample: 0\nseed: 3", hop_site());
  s.run1(frames().get("v4/topo_sampled"));
  EXPECT_EQ(s.action("stamped"), 0u);
  EXPECT_EQ(s.action("accumulated"), 1u);
  s.run1(frames().get("v4/topo_triggered"));
  EXPECT_EQ(s.action("triggered"), 1u);
}


TEST(Ipim, LiarScalesItsCapacity) {
  Hop h("liar: {capacity: 10gbit}\n");
  const Out o = h.run.run1(frames().get("v4/perf_sampled"));
  const uint8_t* opt = o.bytes.data() + kOpt4;
  EXPECT_EQ(ipim::rd16(opt + ipim::kOffSlots + ipim::kPerfCap), ipim::cap_encode(1e10));
  EXPECT_EQ(h.run.action("lied"), 1u);
  EXPECT_TRUE(checksums_ok(o.bytes));
}

// Paths that drop or strip options: ip_options knows IPIM by name.
TEST(Ipim, StrippedOrDroppedByIpOptions) {
  const Bytes v4 = frames().get("v4/after_ra");
  StageRun strip("ip_options", "ipv4: strip\nallow: [ra]");
  const Out s = strip.run1(v4);
  ASSERT_EQ(s.verdict, kPass);
  EXPECT_EQ(s.bytes[14], 0x46);  // IHL 6: the router alert alone
  EXPECT_EQ(Bytes(s.bytes.begin() + 34, s.bytes.begin() + 38), (Bytes{0x94, 0x04, 0, 0}));
  EXPECT_TRUE(checksums_ok(s.bytes));
  StageRun keep("ip_options", "ipv4: strip\nallow: [ipim]");
  EXPECT_EQ(keep.run1(frames().get("v4/topo_sampled")).bytes, frames().get("v4/topo_sampled"));
  StageRun drop("ip_options", "ipv4: drop\nallow: [ra]");
  EXPECT_EQ(drop.run1(v4).verdict, 1u);
  StageRun pad("ip_options", "ipv6_strip: [ipim]");
  const Out p = pad.run1(frames().get("v6/topo_sampled"));
  EXPECT_EQ(p.bytes[14 + 40 + 2], 0x01);  // PadN where the option was
  EXPECT_EQ(pad.action("ip6_padded"), 1u);
}

TEST(Ipim, BadParams) {
  expect_parse_errors(
      "ipim",
      {{"sample: 2", "test.yaml:1:9: stage.sample: 2 is not a probability in [0, 1]"},
       {"router_id: 1.2.3", "test.yaml:1:12: stage.router_id: '1.2.3' is not a dotted IPv4 address or a number"},
       {"as: -1", "test.yaml:1:5: stage.as: '-1' is not a number from 0 to 4294967295"},
       {"capacity: fast", "test.yaml:1:11: stage.capacity: 'fast' is not a rate (e.g. 10gbit, 100mbit, 512kbit, or bits per second)"},
       {"malformed: eat", "test.yaml:1:12: stage.malformed: 'eat' is not pass or drop"},
       {"liar: {}", "test.yaml:1:7: stage.liar: a liar needs queue_scale, capacity or others_queue_scale"},
       {"liar: {queue_scale: -1}", "test.yaml:1:21: stage.liar.queue_scale: -1 is not a factor from 0 to 1e6"},
       {"participate: false\nsample: 0.5", "test.yaml:1:14: stage.participate: participate: false passes options untouched: sample and liar do nothing"},
       {"probability: 0.5", "test.yaml:1:1: stage.probability: unknown key"}});
}

}  // namespace
}  // namespace pathlab::test
