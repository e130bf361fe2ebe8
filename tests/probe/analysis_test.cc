// The analysis of synthetic runs: a path simulated hop by hop as docs/ipim.md "What a hop does"
// says, the reflector's echo, then what `analyse` makes of it.
#include <gtest/gtest.h>

#include <functional>

#include "pathlab/ipim/analysis.hpp"
#include "pathlab/ipim/nonce_loss.hpp"
#include "pathlab/ipim/option_fields.hpp"

using namespace pathlab::ipim;

namespace {

struct SimHop {
  bool participates = true;
  uint32_t router_id = 0;
  uint32_t offset = 0;  // evolution offset
  uint32_t queue_us = 0;
  double capacity_bps = 1e9, avail_bps = 5e8;
  uint8_t level = 0;
};

struct SimProbe {
  uint8_t target = 0;
  uint64_t rtt_us = 1000;
  uint32_t host_us = 50;
  bool lost = false;
};

constexpr uint64_t kStart = 1'700'000'000'000'000;

// One hop's work on the option (no checksum: the echo carries the option only).
void hop_does(const SimHop& h, uint8_t arrival_ttl, std::vector<uint8_t>& o) {
  if (!h.participates) return;
  Option opt{o.data(), static_cast<unsigned>(o.size()), false};
  o[kOffTtlPrime] -= 1;
  wr32(&o[kOffEvolution], rd32(&o[kOffEvolution]) + h.offset);
  const uint16_t avail = cap_encode(h.avail_bps), cap = cap_encode(h.capacity_bps);
  wr16(&o[kOffMinCap], std::min(rd16(&o[kOffMinCap]), avail));
  wr32(&o[kOffQueueSum], rd32(&o[kOffQueueSum]) + h.queue_us);
  if (o[kOffTarget] != arrival_ttl) return;
  if (opt.next_slot() >= opt.slots()) {
    o[kOffFlags] |= kFlagOverflow;
    return;
  }
  uint8_t* s = opt.slot(opt.next_slot());
  s[0] = arrival_ttl;
  s[1] = kSlotWritten | kSlotTriggered | (opt.perf() ? kSlotPerf : 0);
  if (opt.perf()) {
    s[kPerfLevel] = h.level;
    wr32(s + kPerfQueue, h.queue_us);
    wr16(s + kPerfAvail, avail);
    wr16(s + kPerfCap, cap);
  } else {
    wr32(s + kTopoRouterId, h.router_id);
    wr32(s + kTopoAs, 65000);
    const uint8_t in[4] = {10, 0, static_cast<uint8_t>(h.router_id), 1};
    const uint8_t out[4] = {10, 0, static_cast<uint8_t>(h.router_id + 1), 2};
    std::copy(in, in + 4, s + kTopoIngress);
    std::copy(out, out + 4, s + kTopoIngress + 4);
  }
  o[kOffAcc] += 1;
}

HeaderFields sent_fields() {
  HeaderFields h;
  h.tos = 0;
  h.df_or_flow = 1;
  h.src = {10, 0, 0, 1};
  h.dst = {10, 0, 9, 1};
  h.sport = 40000;
  h.dport = 33434;
  h.payload_len = 60;
  return h;
}

// A run of `probes` over `path(i)`: the hops probe i crosses. `rewrite` changes the fields the
// reflector sees.
Run simulate(bool perf, const std::vector<SimProbe>& probes,
             const std::function<std::vector<SimHop>(unsigned)>& path,
             const std::function<void(HeaderFields&)>& rewrite = {}) {
  Run run;
  run.ttl0 = 64;
  run.ttl_prime0 = 3;  // wraps below 0 on a long path
  run.evolution0 = 0xfffffff0;
  run.coverage = kCoverAll;
  run.start_us = kStart;
  uint32_t nonce = 100, sum = 0, echo_nonce = 5000;
  for (unsigned i = 0; i < probes.size(); ++i) {
    SentProbe p;
    p.seq = i;
    p.sent_us = kStart + i * 100'000;
    p.t = static_cast<uint32_t>(p.sent_us);
    p.nonce = nonce += 1000 + i * 7;
    p.target_ttl = probes[i].target;
    p.option = build_option({.perf = perf, .slots = 1, .target_ttl = p.target_ttl,
                             .ttl_prime = run.ttl_prime0, .evolution = run.evolution0});
    p.digests = digests(sent_fields(), kCoverAll);
    run.probes.push_back(p);
    if (probes[i].lost) continue;
    std::vector<uint8_t> o = p.option;
    const auto hops = path(i);
    for (unsigned h = 0; h < hops.size(); ++h) hop_does(hops[h], static_cast<uint8_t>(64 - h), o);
    HeaderFields got = sent_fields();
    if (rewrite) rewrite(got);
    ReceivedEcho r;
    r.arrival_us = p.sent_us + probes[i].rtt_us;
    E2eBlock& e = r.echo;
    e.type = kE2eEcho;
    e.seq = i;
    e.nonce = echo_nonce += 77;
    e.nonce_sum = sum += p.nonce;
    e.t_echo = p.t;
    e.delta = probes[i].host_us;
    e.hash_echo = digests(got, kCoverAll);
    e.rx_ttl = static_cast<uint8_t>(64 - hops.size());
    e.rx_option = o;
    run.echoes.push_back(r);
  }
  return run;
}

// Targets sweeping hops 1..n in turn.
std::vector<SimProbe> sweep(unsigned count, unsigned hops) {
  std::vector<SimProbe> v(count);
  for (unsigned i = 0; i < count; ++i) v[i].target = static_cast<uint8_t>(64 - i % hops);
  return v;
}

std::vector<SimHop> three_hops() {
  return {{.router_id = 1, .offset = 11}, {.router_id = 2, .offset = 22}, {.router_id = 3, .offset = 33}};
}

}  // namespace

TEST(Analysis, EveryHopTookPart) {
  const pathlab::ipim::Run run = simulate(false, sweep(9, 3), [](unsigned) { return three_hops(); });
  const Analysis a = analyse(run);
  EXPECT_EQ(ttl_prime_verdict(a), "all 3 hops took part");
  ASSERT_EQ(a.hop_map.size(), 3u);
  for (unsigned h = 0; h < 3; ++h) {
    EXPECT_EQ(a.hop_map[h].router_id, fmt::format("0.0.0.{}", h + 1));
    EXPECT_EQ(a.hop_map[h].status, "stamped");
    EXPECT_EQ(a.hop_map[h].ingress, fmt::format("10.0.{}.1", h + 1));
  }
  EXPECT_EQ(a.evolution, 66u);
  EXPECT_TRUE(a.path_changes.empty());
  EXPECT_EQ(a.option_intact, 0u);  // the hops wrote into it
  EXPECT_EQ(a.loss.lost, 0u);
  EXPECT_TRUE(a.discrepancies.empty()) << a.discrepancies.front();
  EXPECT_NE(analysis_text(a).find("integrity: no covered header field changed"), std::string::npos);
}

TEST(Analysis, OneHopDidNotTakePart) {
  const pathlab::ipim::Run run = simulate(false, sweep(9, 3), [](unsigned) {
    auto hops = three_hops();
    hops[1].participates = false;
    return hops;
  });
  const Analysis a = analyse(run);
  EXPECT_EQ(ttl_prime_verdict(a), "1 of 3 hops did not take part");
  EXPECT_EQ(a.hop_map[1].status, "did not take part");
  EXPECT_EQ(a.hop_map[0].router_id, "0.0.0.1");
  EXPECT_EQ(a.hop_map[2].router_id, "0.0.0.3");
  EXPECT_NE(analysis_text(a).find("hop  2: did not take part"), std::string::npos);
  const std::string json = analysis_json(a);
  EXPECT_NE(json.find("\"not_taking_part\":1"), std::string::npos);
}

TEST(Analysis, KernelRouterOnlyPath) {
  // One router that knows nothing of IPIM, no stamp asked for: TTL' alone tells.
  const pathlab::ipim::Run run = simulate(false, std::vector<SimProbe>(5), [](unsigned) {
    return std::vector<SimHop>{{.participates = false}};
  });
  const Analysis a = analyse(run);
  EXPECT_EQ(ttl_prime_verdict(a), "1 of 1 hops did not take part");
  EXPECT_EQ(a.hop_map[0].status, "did not take part");
  EXPECT_EQ(a.option_intact, 5u);
  EXPECT_EQ(a.evolution, 0u);
}

TEST(Analysis, PathChangeFromEvolution) {
  const unsigned k = 6;
  const pathlab::ipim::Run run = simulate(false, std::vector<SimProbe>(10), [&](unsigned i) {
    auto hops = three_hops();
    if (i >= k) hops[1] = {.router_id = 7, .offset = 0x1234};  // another router at hop 2
    return hops;
  });
  const Analysis a = analyse(run);
  ASSERT_EQ(a.path_changes.size(), 1u);
  EXPECT_EQ(a.path_changes[0].seq, k);
  EXPECT_DOUBLE_EQ(a.path_changes[0].at_s, k * 0.1);
  EXPECT_EQ(a.path_changes[0].from, 66u);
  EXPECT_EQ(a.path_changes[0].to, 11u + 0x1234 + 33);
  EXPECT_NE(analysis_text(a).find("path change at 0.600 s (probe 6)"), std::string::npos);
}

TEST(Analysis, DscpRewritten) {
  const pathlab::ipim::Run run = simulate(false, std::vector<SimProbe>(4), [](unsigned) { return three_hops(); },
                           [](HeaderFields& h) { h.tos = 8 << 2; });
  const Analysis a = analyse(run);
  EXPECT_EQ(a.changed[kDscp], 4u);
  for (unsigned g = 1; g < kGroups; ++g) EXPECT_EQ(a.changed[g], 0u) << group_name(g, false);
  EXPECT_NE(analysis_text(a).find("dscp changed (4 of 4 echoes)"), std::string::npos);
}

TEST(Analysis, BottleneckIsTheLowestCapacity) {
  auto path = [](unsigned) {
    return std::vector<SimHop>{{.queue_us = 10, .capacity_bps = 1e9, .avail_bps = 9e8},
                               {.queue_us = 400, .capacity_bps = 1e7, .avail_bps = 2e6, .level = 25},
                               {.queue_us = 30, .capacity_bps = 1e8, .avail_bps = 5e7}};
  };
  const Analysis a = analyse(simulate(true, sweep(9, 3), path));
  EXPECT_EQ(a.bottleneck, 2u);
  ASSERT_TRUE(a.hop_map[1].capacity_bps);
  EXPECT_NEAR(*a.hop_map[1].capacity_bps, 1e7, 1e7 * 0.001);
  EXPECT_EQ(a.hop_map[1].queue_us, 400.0);
  EXPECT_EQ(a.hop_map[1].level, 25.0);
  EXPECT_NEAR(a.min_capacity_bps.median, 2e6, 2e6 * 0.001);
  EXPECT_EQ(a.queue_sum_us.median, 440.0);
  EXPECT_TRUE(a.discrepancies.empty()) << a.discrepancies.front();
  EXPECT_NE(analysis_text(a).find("bottleneck: hop 2"), std::string::npos);

  // A tie on capacity goes to the larger queue.
  auto tie = [&](unsigned i) {
    auto hops = path(i);
    hops[0] = {.queue_us = 900, .capacity_bps = 1e7, .avail_bps = 1e6};
    return hops;
  };
  EXPECT_EQ(analyse(simulate(true, sweep(9, 3), tie)).bottleneck, 1u);
}

TEST(Analysis, LiarUnderReportsQueue) {
  // RTTs from 10 ms to 40 ms, yet the hops report at most 100 us of queue in all.
  std::vector<SimProbe> probes(9);
  for (unsigned i = 0; i < probes.size(); ++i) probes[i].rtt_us = 10'000 + i * 3'750;
  const Analysis a = analyse(simulate(true, probes, [](unsigned) {
    return std::vector<SimHop>{{.queue_us = 40}, {.queue_us = 60}};
  }));
  ASSERT_FALSE(a.discrepancies.empty());
  EXPECT_NE(a.discrepancies[0].find("far below the RTT above its base"), std::string::npos)
      << a.discrepancies[0];
}

TEST(Analysis, LiarOverReportsQueueAndImpossibleValues) {
  const Analysis a = analyse(simulate(true, sweep(4, 2), [](unsigned) {
    return std::vector<SimHop>{{.queue_us = 5'000, .capacity_bps = 1e6, .avail_bps = 2e6},
                               {.level = 255}};
  }));
  std::string all;
  for (const std::string& d : a.discrepancies) all += d + "\n";
  EXPECT_NE(all.find("queue sum larger than the network RTT"), std::string::npos) << all;
  EXPECT_NE(all.find("hop 1: available capacity above its link capacity"), std::string::npos) << all;
  EXPECT_NE(all.find("hop 2: congestion level outside 0..254"), std::string::npos) << all;
}

TEST(Analysis, LossThroughTheRun) {
  std::vector<SimProbe> probes(6);
  probes[2].lost = true;
  const Analysis a = analyse(simulate(false, probes, [](unsigned) { return three_hops(); }));
  EXPECT_EQ(a.loss.lost, 1u);
  EXPECT_EQ(a.loss.lost_forward, 1u);
  EXPECT_EQ(a.loss.inconsistent, 0u);
}

// nonces 10, 20, 40, 80, 160: every subset has its own sum.
const std::vector<uint32_t> kNonces{10, 20, 40, 80, 160};

TEST(NonceLoss, InOrderNoLoss) {
  const auto r = reconstruct_arrivals(kNonces, {{0, 1, 10}, {1, 2, 30}, {2, 3, 70}, {3, 4, 150}, {4, 5, 310}});
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.reordered_forward + r.reordered_reverse + r.inconsistent + r.duplicates, 0u);
}

TEST(NonceLoss, ForwardAndReverseLoss) {
  // Probe 1 never arrives; probe 3 arrives but its echo is lost; probe 4 gets no echo at all.
  const auto r = reconstruct_arrivals(kNonces, {{0, 1, 10}, {2, 2, 50}, {4, 4, 290}});
  EXPECT_EQ(r.lost, 2u);
  EXPECT_EQ(r.lost_forward, 1u);  // probe 1: no sum holds 20
  EXPECT_EQ(r.lost_reverse, 1u);  // probe 3: its 80 is in probe 4's sum
  EXPECT_EQ(r.inconsistent, 0u);
  const auto tail = reconstruct_arrivals(kNonces, {{0, 1, 10}, {1, 2, 30}, {2, 3, 70}});
  EXPECT_EQ(tail.lost_unknown, 2u);
}

TEST(NonceLoss, Reordering) {
  // The reflector got 0, 2, 1, 3, 4 (its nonces say so); the echoes of 3 and 4 swapped back.
  const auto r = reconstruct_arrivals(
      kNonces, {{0, 1, 10}, {2, 2, 50}, {1, 3, 70}, {4, 5, 310}, {3, 4, 150}});
  EXPECT_EQ(r.reordered_forward, 1u);
  EXPECT_EQ(r.reordered_reverse, 1u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.inconsistent, 0u);
}

TEST(NonceLoss, LyingReceiverAndDuplicates) {
  // The reflector claims a sum no set of probes gives; then an echo comes twice.
  const auto r = reconstruct_arrivals(kNonces, {{0, 1, 10}, {1, 2, 33}, {1, 2, 33}});
  EXPECT_EQ(r.inconsistent, 1u);
  EXPECT_EQ(r.duplicates, 1u);
}
