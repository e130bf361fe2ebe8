// link: driven with explicit engine time through a Chain (held / released / drop counters):
// serialization at the configured rate, back to back when busy; the queue limit in packets,
// bytes and time; constant delay; Bernoulli and Gilbert-Elliott loss against their closed forms;
// jitter that never reorders unless asked; the link-state API; bad params.
// Frame sizes are Ethernet sizes with the FCS (64..1518); the mbuf holds size - 4 bytes.
#include <fmt/format.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "harness.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/stages/link.hpp"

namespace pathlab::test {
namespace {

constexpr Nanos kT0 = 1'000'000'000;
constexpr size_t kSeqAt = 42;  // after Ethernet, IPv4 and UDP headers

// An Ethernet/IPv4/UDP frame of `size` bytes on the wire with FCS (size - 4 in the mbuf),
// carrying `seq`.
Bytes frame(size_t size, uint32_t seq) {
  Bytes f(size - 4, 0);
  const uint8_t head[] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
                          0x45, 0,    0,    0, 0, 0, 0x40, 0, 64, 17, 0, 0,
                          10,   0,    0,    1, 10, 0, 1, 1};
  std::memcpy(f.data(), head, sizeof(head));
  const size_t ip_len = f.size() - 14;
  f[16] = static_cast<uint8_t>(ip_len >> 8);
  f[17] = static_cast<uint8_t>(ip_len);
  f[34] = 0x30;  // UDP 12345 -> 53
  f[35] = 0x39;
  f[37] = 53;
  f[38] = static_cast<uint8_t>((ip_len - 20) >> 8);
  f[39] = static_cast<uint8_t>(ip_len - 20);
  if (f.size() >= kSeqAt + 4) std::memcpy(f.data() + kSeqAt, &seq, 4);
  return f;
}

uint32_t seq_of(const rte_mbuf* m) {
  uint32_t s = 0;
  std::memcpy(&s, rte_pktmbuf_mtod(m, const uint8_t*) + kSeqAt, 4);
  return s;
}

StageYaml spec_of(const std::string& yaml) {
  StageYaml spec;
  spec.kind = "link";
  spec.params = yaml.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(yaml);
  spec.pos = {"test.yaml", 1, 1};
  spec.path = "stage";
  return spec;
}

// One link stage in a Chain, as an egress chain runs it.
class LinkRun {
 public:
  explicit LinkRun(const std::string& yaml) {
    pool();
    StageSite site = StageRun::default_site();
    site.egress = true;
    auto s = StageRegistry::instance().parse(spec_of(yaml), "test.yaml")(site);
    link_ = dynamic_cast<Link*>(s.get());
    std::vector<std::unique_ptr<Stage>> v;
    v.push_back(std::move(s));
    chain_ = std::make_unique<Chain>(std::move(v));
  }
  ~LinkRun() {
    for (rte_mbuf* m : drain(kForever)) rte_pktmbuf_free(m);
  }
  // One burst at `now`; returns how many the link took (held). Nothing passes at once.
  uint16_t send(const std::vector<Bytes>& frames, Nanos now) {
    Batch b;
    b.now = now;
    for (const Bytes& f : frames) b.pkts[b.n++] = make_mbuf(f);
    const uint64_t before = link_->held_count();
    chain_->run(b);
    EXPECT_EQ(b.n, 0u);
    return static_cast<uint16_t>(link_->held_count() - before);
  }
  // Everything due at `now`, in release order (the caller frees).
  std::vector<rte_mbuf*> drain(Nanos now) {
    std::vector<rte_mbuf*> all;
    for (;;) {
      Batch out;
      chain_->drain(now, out);
      all.insert(all.end(), out.pkts, out.pkts + out.n);
      if (out.n < kMaxBurst) return all;
    }
  }
  // Drains at `now`, frees, returns the sequence numbers.
  std::vector<uint32_t> release(Nanos now) {
    std::vector<uint32_t> seqs;
    for (rte_mbuf* m : drain(now)) {
      seqs.push_back(seq_of(m));
      rte_pktmbuf_free(m);
    }
    return seqs;
  }
  uint64_t drops(std::string_view name) const {
    for (size_t i = 0; i < link_->drop_descs().size(); ++i) {
      if (link_->drop_descs()[i].name == name) return link_->drop_count(i);
    }
    ADD_FAILURE() << "no drop " << name;
    return 0;
  }
  Link& link() { return *link_; }

 private:
  std::unique_ptr<Chain> chain_;
  Link* link_ = nullptr;
};

// When the i-th (0-based) of a back-to-back run started at kT0 has left: ceil of the exact time.
Nanos departure(uint64_t i, size_t size, uint64_t rate) {
  const unsigned __int128 bits = static_cast<unsigned __int128>(i + 1) * (size - 4 + 24) * 8;
  const unsigned __int128 num = bits * 1'000'000'000u;
  return kT0 + static_cast<Nanos>((num + rate - 1) / rate);
}

TEST(Link, MinimumFramesAtOneGigabitAre672NanosecondsApart) {
  LinkRun l("rate: 1gbit");
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < 100; ++i) burst.push_back(frame(64, i));
  ASSERT_EQ(l.send(burst, kT0), 100u);
  for (uint32_t i = 0; i < 100; ++i) {
    const Nanos t = kT0 + 672 * (i + 1);
    EXPECT_TRUE(l.release(t - 1).empty()) << i;
    EXPECT_EQ(l.release(t), std::vector<uint32_t>{i}) << i;
  }
}

TEST(Link, BackToBackDeparturesFollowSizeAndRate) {
  for (uint64_t rate : {uint64_t{1'000'000'000}, uint64_t{10'000'000'000}}) {
    for (size_t size : {64, 65, 128, 256, 512, 1024, 1280, 1500, 1518}) {
      LinkRun l(fmt::format("rate: {}", rate));
      std::vector<Bytes> burst;
      for (uint32_t i = 0; i < 200; ++i) burst.push_back(frame(size, i));
      ASSERT_EQ(l.send(burst, kT0), 200u);
      for (uint32_t i = 0; i < 200; ++i) {
        const Nanos t = departure(i, size, rate);
        ASSERT_TRUE(l.release(t - 1).empty()) << rate << " " << size << " " << i;
        ASSERT_EQ(l.release(t), std::vector<uint32_t>{i}) << rate << " " << size << " " << i;
      }
    }
  }
}

// Arrivals that find the serializer idle start at once; later ones wait for it.
TEST(Link, IdleLinkStartsAtArrivalBusyLinkQueues) {
  LinkRun l("rate: 1gbit");
  ASSERT_EQ(l.send({frame(64, 0)}, kT0), 1u);
  ASSERT_EQ(l.send({frame(64, 1)}, kT0 + 100), 1u);   // waits until 672
  ASSERT_EQ(l.send({frame(64, 2)}, kT0 + 5000), 1u);  // idle again
  EXPECT_EQ(l.release(kT0 + 671), std::vector<uint32_t>{});
  EXPECT_EQ(l.release(kT0 + 672), std::vector<uint32_t>{0});
  EXPECT_EQ(l.release(kT0 + 1343), std::vector<uint32_t>{});
  EXPECT_EQ(l.release(kT0 + 1344), std::vector<uint32_t>{1});
  EXPECT_EQ(l.release(kT0 + 5671), std::vector<uint32_t>{});
  EXPECT_EQ(l.release(kT0 + 5672), std::vector<uint32_t>{2});
}

TEST(Link, OverheadIsConfigurable) {
  LinkRun l("rate: 1gbit\noverhead: 0");
  ASSERT_EQ(l.send({frame(64, 0), frame(64, 1)}, kT0), 2u);
  EXPECT_EQ(l.release(kT0 + 480), std::vector<uint32_t>{0});
  EXPECT_EQ(l.release(kT0 + 960), std::vector<uint32_t>{1});
}

TEST(Link, ConstantDelayAfterSerialization) {
  LinkRun d("delay: 10ms");
  ASSERT_EQ(d.send({frame(100, 0), frame(100, 1)}, kT0), 2u);
  EXPECT_TRUE(d.release(kT0 + 10'000'000 - 1).empty());
  EXPECT_EQ(d.release(kT0 + 10'000'000), (std::vector<uint32_t>{0, 1}));
  LinkRun rd("rate: 1gbit\ndelay: 1ms");
  ASSERT_EQ(rd.send({frame(64, 0), frame(64, 1)}, kT0), 2u);
  EXPECT_EQ(rd.link().state(kT0).in_flight, 2u);
  EXPECT_TRUE(rd.release(kT0 + 1'000'671).empty());
  EXPECT_EQ(rd.release(kT0 + 1'000'672), std::vector<uint32_t>{0});
  EXPECT_EQ(rd.release(kT0 + 1'001'344), std::vector<uint32_t>{1});
}

TEST(Link, PacketLimitTailDrops) {
  LinkRun l("rate: 1mbit\nqueue: {packets: 10}");
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < 100; ++i) burst.push_back(frame(1000, i));
  EXPECT_EQ(l.send(burst, kT0), 10u);
  EXPECT_EQ(l.drops("queue_full"), 90u);
  const LinkState s = l.link().state(kT0);
  EXPECT_EQ(s.queued_packets, 10u);
  EXPECT_EQ(s.queued_bytes, 9960u);
  EXPECT_EQ(s.rate_bps, 1'000'000u);
  EXPECT_EQ(s.sojourn, 10 * 8'160'000u);  // (996 + 24) * 8 us each
  // One has left: room for one more.
  EXPECT_EQ(l.release(kT0 + 8'160'000), std::vector<uint32_t>{0});
  EXPECT_EQ(l.send({frame(1000, 100), frame(1000, 101)}, kT0 + 8'160'000), 1u);
  EXPECT_EQ(l.drops("queue_full"), 91u);
}

TEST(Link, ByteAndTimeLimits) {
  LinkRun b("rate: 1mbit\nqueue: {bytes: 3000}");
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < 10; ++i) burst.push_back(frame(1004, i));  // 1000 B in the mbuf
  EXPECT_EQ(b.send(burst, kT0), 3u);
  EXPECT_EQ(b.link().state(kT0).queued_bytes, 3000u);
  // 1500 B at 1 Gbit/s: 12160 ns each; a packet may wait at most 100 us before its first bit.
  LinkRun t("rate: 1gbit\nqueue: {time: 100us}");
  burst.clear();
  for (uint32_t i = 0; i < 20; ++i) burst.push_back(frame(1500, i));
  EXPECT_EQ(t.send(burst, kT0), 9u);  // waits 0, 12160, ..., 97280
  EXPECT_EQ(t.drops("queue_full"), 11u);
}

// Random arrivals and drains: the backlog never exceeds the limit, the books balance.
TEST(Link, QueueNeverExceedsItsLimit) {
  for (const char* q : {"{packets: 50}", "{bytes: 20000}"}) {
    LinkRun l(std::string("rate: 100mbit\ndelay: 1ms\nqueue: ") + q);
    uint64_t rng = 1, sent = 0, got = 0;
    Nanos now = kT0;
    for (int k = 0; k < 2000; ++k) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      const size_t n = 1 + (rng >> 59);  // 1..32
      std::vector<Bytes> burst;
      for (size_t i = 0; i < n; ++i) burst.push_back(frame(64 + (rng >> 40) % 1455, 0));
      l.send(burst, now);
      sent += n;
      const LinkState s = l.link().state(now);
      if (q[1] == 'p') {
        ASSERT_LE(s.queued_packets, 50u);
      } else {
        ASSERT_LE(s.queued_bytes, 20000u);
      }
      now += (rng >> 20) % 40'000;
      got += l.release(now).size();
    }
    got += l.release(kForever).size();
    EXPECT_EQ(sent, got + l.drops("queue_full")) << q;
    EXPECT_GT(l.drops("queue_full"), 0u) << q;
    EXPECT_EQ(l.link().held_count(), l.link().released_count()) << q;
  }
}

// Loss through the stage alone: the verdicts in arrival order.
std::vector<bool> loss_pattern(const std::string& yaml, size_t n) {
  pool();
  auto s = StageRegistry::instance().parse(spec_of(yaml), "test.yaml")(StageRun::default_site());
  std::vector<bool> lost;
  lost.reserve(n);
  const Bytes f = frame(64, 0);
  Nanos now = kT0;
  while (lost.size() < n) {
    Batch b;
    b.now = now;
    b.n = static_cast<uint16_t>(std::min<size_t>(kMaxBurst, n - lost.size()));
    for (uint16_t i = 0; i < b.n; ++i) b.pkts[i] = make_mbuf(f);
    s->process(b);
    for (uint16_t i = 0; i < b.n; ++i) {
      EXPECT_TRUE(b.verdict[i] == kHeld || b.verdict[i] == 2) << int(b.verdict[i]);  // 2: loss
      lost.push_back(b.verdict[i] != kHeld);
      if (b.verdict[i] != kHeld) rte_pktmbuf_free(b.pkts[i]);
    }
    rte_mbuf* out[kMaxBurst];
    for (uint16_t k; (k = s->drain(kForever, out, kMaxBurst)) != 0;) {
      for (uint16_t i = 0; i < k; ++i) rte_pktmbuf_free(out[i]);
    }
    now += 1000;
  }
  return lost;
}

TEST(Link, BernoulliLossWithinBinomialBounds) {
  constexpr size_t kN = 100'000;
  for (uint64_t seed : {1, 2, 3}) {
    const auto lost = loss_pattern(fmt::format("loss: {{random: 0.01}}\nseed: {}", seed), kN);
    const double k = static_cast<double>(std::count(lost.begin(), lost.end(), true));
    const double sd = std::sqrt(kN * 0.01 * 0.99);
    EXPECT_NEAR(k, kN * 0.01, 3.29 * sd) << seed;  // 99.9% two-sided
  }
  // Through the chain: counted under link.loss, the others held.
  LinkRun l("loss: {random: 0.5}\nseed: 4");
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < 200; ++i) burst.push_back(frame(64, i));
  const uint16_t held = l.send(burst, kT0);
  EXPECT_EQ(held + l.drops("loss"), 200u);
  EXPECT_GT(l.drops("loss"), 60u);
  EXPECT_EQ(l.release(kT0).size(), held);
}

TEST(Link, SameSeedSameLosses) {
  EXPECT_EQ(loss_pattern("loss: {random: 0.3}\nseed: 9", 5000),
            loss_pattern("loss: {random: 0.3}\nseed: 9", 5000));
  EXPECT_NE(loss_pattern("loss: {random: 0.3}\nseed: 9", 5000),
            loss_pattern("loss: {random: 0.3}\nseed: 10", 5000));
}

struct Bursts {
  double rate = 0, mean_burst = 0;
};
Bursts measure(const std::vector<bool>& lost) {
  size_t losses = 0, bursts = 0;
  for (size_t i = 0; i < lost.size(); ++i) {
    losses += lost[i];
    bursts += lost[i] && (i == 0 || !lost[i - 1]);
  }
  return {static_cast<double>(losses) / lost.size(), static_cast<double>(losses) / bursts};
}

// Gilbert (h = 0, k = 1): loss rate p / (p + r), bursts geometric with mean 1 / r.
TEST(Link, GilbertElliottMatchesClosedForm) {
  constexpr size_t kN = 1'000'000;
  const double p = 0.01, r = 0.3;
  const auto g = measure(loss_pattern(fmt::format("loss: {{gilbert_elliott: {{p: {}, r: {}}}}}\nseed: 5", p, r), kN));
  EXPECT_NEAR(g.rate, p / (p + r), 0.05 * p / (p + r));
  EXPECT_NEAR(g.mean_burst, 1 / r, 0.05 / r);
  // Full model: loss 1 - k in good, 1 - h in bad.
  const double h = 0.3, k = 0.99;
  const auto ge = measure(loss_pattern(
      fmt::format("loss: {{gilbert_elliott: {{p: {}, r: {}, h: {}, k: {}}}}}\nseed: 6", p, r, h, k), kN));
  const double want = r / (p + r) * (1 - k) + p / (p + r) * (1 - h);
  EXPECT_NEAR(ge.rate, want, 0.05 * want);
}

// 1e5 packets 2 us apart, 500 us delay with 250 us of jitter: never reordered by default, reordered on request,
// and nothing leaves before arrival + delay - jitter or (without reorder) is lost.
TEST(Link, JitterKeepsOrderUnlessReorderIsAsked) {
  for (const char* dist : {"uniform", "normal"}) {
    for (bool reorder : {false, true}) {
      LinkRun l(fmt::format("delay: 500us\njitter: 250us\ndistribution: {}\nreorder: {}\nseed: 3",
                            dist, reorder));
      constexpr uint32_t kN = 100'000;
      uint32_t expect = 0, out_of_order = 0, got = 0;
      double delay_sum = 0;
      uint32_t timed = 0;
      for (uint32_t i = 0; i < kN; ++i) {
        const Nanos now = kT0 + i * 2000ull;
        ASSERT_EQ(l.send({frame(64, i)}, now), 1u);
        for (uint32_t s : l.release(now)) {
          out_of_order += s != expect;
          expect = s + 1;
          delay_sum += static_cast<double>(now - (kT0 + s * 2000ull));
          ++got;
          ++timed;
          if (std::string(dist) == "uniform") {
            ASSERT_GE(now - (kT0 + s * 2000ull), 250'000u);
          }
        }
      }
      got += static_cast<uint32_t>(l.release(kForever).size());
      EXPECT_EQ(got, kN);
      if (reorder) {
        EXPECT_GT(out_of_order, 1000u) << dist;
        EXPECT_NEAR(delay_sum / timed, 500e3, 15e3) << dist;  // mean delay ~ 500 us
      } else {
        EXPECT_EQ(out_of_order, 0u) << dist;
      }
    }
  }
}

TEST(Link, StateReportsDepartureRate) {
  LinkRun l("rate: 100mbit");
  // 1500 B frames offered at 4x the rate for 123 ms: departures at the link rate.
  Nanos now = kT0;
  for (uint32_t i = 0; i < 2000; ++i, now += 61'600) {
    l.send({frame(1500, i), frame(1500, i)}, now);
    l.release(now);
  }
  const LinkState s = l.link().state(now);
  EXPECT_NEAR(s.departure_rate_bps, 100e6, 3e6);
  EXPECT_LE(s.queued_packets, 1000u);
  EXPECT_GT(s.sojourn, 0u);
  EXPECT_NEAR(s.drop_probability, 0.75, 0.1);  // tail drop: three arrivals in four are dropped
  // Idle for 100 ms (ten time constants): the estimate decays.
  l.release(kForever);
  EXPECT_LT(l.link().state(now + 100'000'000).departure_rate_bps, 100e6 * 1e-3);
}

TEST(Link, Params) {
  EXPECT_EQ(parse_error("link", ""), "");
  EXPECT_EQ(parse_error("link", "rate: 10gbit\noverhead: 20\nqueue: {time: 20ms}\ndelay: 1.5ms\n"
                                "jitter: 100us\ndistribution: normal\nreorder: true\n"
                                "loss: {gilbert_elliott: {p: 0.01, r: 0.5, h: 0.1, k: 1}}\nseed: 1"),
            "");
  EXPECT_EQ(parse_error("link", "rate: 512kbit\nqueue: {bytes: 100000}\nloss: {random: 0.001}"), "");
  EXPECT_EQ(parse_error("link", "rate: 100Mbit"), "");
  EXPECT_EQ(parse_error("link", "rate: 2500000"), "");
  EXPECT_EQ(parse_error("link", "rate: fast"),
            "test.yaml:1:7: stage.rate: 'fast' is not a rate (e.g. 10gbit, 100mbit, 512kbit, or "
            "bits per second)");
  EXPECT_EQ(parse_error("link", "rate: 10bit"), "test.yaml:1:7: stage.rate: 10bit is not within 1kbit..10tbit");
  EXPECT_EQ(parse_error("link", "delay: 10"),
            "test.yaml:1:8: stage.delay: '10' is not a duration (e.g. 20ms, 500us, 1.5s)");
  EXPECT_EQ(parse_error("link", "distribution: pareto"), "");
  EXPECT_EQ(parse_error("link", "distribution: paretonormal"), "");
  EXPECT_EQ(parse_error("link", "distribution: cauchy"),
            "test.yaml:1:15: stage.distribution: 'cauchy' is not uniform, normal, pareto or paretonormal");
  EXPECT_EQ(parse_error("link", "rate: 10mbit\naqm: {type: codel, target: 2ms, interval: 50ms, ecn: true}"), "");
  EXPECT_EQ(parse_error("link", "rate: 10mbit\naqm: codel"), "");
  EXPECT_EQ(parse_error("link", "rate: 10mbit\naqm: {type: red, min: 30000, max: 90000, max_p: 0.1}"), "");
  EXPECT_EQ(parse_error("link", "aqm: codel"),
            "test.yaml:1:6: stage.aqm: an AQM needs a rate: without one nothing queues");
  EXPECT_NE(parse_error("link", "rate: 10mbit\naqm: {type: red, min: 9000, max: 3000}"), "");
  EXPECT_NE(parse_error("link", "rate: 10mbit\naqm: {type: red}"), "");
  EXPECT_NE(parse_error("link", "rate: 10mbit\naqm: pie"), "");
  EXPECT_NE(parse_error("link", "rate: 10mbit\naqm: {type: codel, tgt: 5ms}"), "");
  EXPECT_EQ(parse_error("link", "duplicate: 0.01\ncorrupt: 0.001"), "");
  EXPECT_NE(parse_error("link", "duplicate: 2"), "");
  EXPECT_NE(parse_error("link", "queue: {packets: 10, bytes: 100}"), "");
  EXPECT_NE(parse_error("link", "queue: {packets: 0}"), "");
  EXPECT_NE(parse_error("link", "loss: {random: 1.5}"), "");
  EXPECT_NE(parse_error("link", "loss: {gilbert_elliott: {p: 0.1}}"), "");
  EXPECT_NE(parse_error("link", "match: {proto: tcp}"), "");
  EXPECT_NE(parse_error("link", "probability: 0.5"), "");
  EXPECT_NE(parse_error("link", "bogus: 1"), "");
}


// The same frame with the IPv4 ToS byte set (ECN in its low two bits).
Bytes frame_tos(size_t size, uint32_t seq, uint8_t tos) {
  Bytes f = frame(size, seq);
  f[15] = tos;
  return f;
}

uint64_t action(const Link& l, std::string_view name) {
  for (size_t i = 0; i < l.action_descs().size(); ++i) {
    if (l.action_descs()[i].name == name) return l.action_count(i);
  }
  ADD_FAILURE() << "no action " << name;
  return 0;
}

// 1500 B frames offered at 1.25x a 10 Mbit/s link for `seconds`, with ToS `tos`; returns the
// mean sojourn (first bit - arrival) over the last second, in ns, and counts CE marks seen.
struct AqmRun {
  double late_sojourn_ns = 0;
  uint64_t ce_seen = 0, released = 0;
};
AqmRun overload(LinkRun& l, uint8_t tos, double seconds) {
  AqmRun r;
  const Nanos gap = 1'222'400 * 4 / 5;  // 1.25x of (1496 + 24) * 8 bits at 10 Mbit/s
  const auto n = static_cast<uint32_t>(seconds * 1e9 / static_cast<double>(gap));
  Nanos now = kT0;
  LinkTotals before{};
  for (uint32_t i = 0; i < n; ++i, now += gap) {
    if (i == n - static_cast<uint32_t>(1e9 / static_cast<double>(gap))) before = l.link().totals();
    l.send({frame_tos(1500, i, tos)}, now);
    for (rte_mbuf* m : l.drain(now)) {
      r.ce_seen += (rte_pktmbuf_mtod(m, const uint8_t*)[15] & 3) == 3;
      ++r.released;
      rte_pktmbuf_free(m);
    }
  }
  const LinkTotals after = l.link().totals();
  for (rte_mbuf* m : l.drain(kForever)) {
    r.ce_seen += (rte_pktmbuf_mtod(m, const uint8_t*)[15] & 3) == 3;
    ++r.released;
    rte_pktmbuf_free(m);
  }
  r.late_sojourn_ns = static_cast<double>(after.sojourn_ns - before.sojourn_ns) /
                      static_cast<double>(after.accepted - before.accepted);
  return r;
}

// CoDel against an unresponsive 1.25x overload: not-ECT packets are dropped and the standing
// queue stays far below the tail-drop queue's 1.2 s (CoDel needs a responsive sender to reach
// its target; the live iperf3 test checks that); ECT packets are marked CE, never dropped.
TEST(Link, CodelDropsNotEctAndMarksEct) {
  {
    LinkRun l("rate: 10mbit\nqueue: {packets: 1000}\naqm: {type: codel, target: 5ms, interval: 100ms}");
    const AqmRun r = overload(l, 0, 20);
    EXPECT_GT(l.drops("aqm"), 0u);
    EXPECT_EQ(l.drops("queue_full"), 0u);
    EXPECT_EQ(action(l.link(), "ce_marked"), 0u);
    EXPECT_LT(r.late_sojourn_ns, 50e6) << "mean sojourn over the last second";
    EXPECT_GT(l.link().state(kT0 + 20'000'000'000ull).drop_probability, 0.0);
  }
  {
    LinkRun l("rate: 10mbit\nqueue: {packets: 1000}\naqm: {type: codel, ecn: true}");
    const AqmRun r = overload(l, 0x02 /* ECT(0) */, 5);
    EXPECT_EQ(l.drops("aqm"), 0u);
    EXPECT_GT(action(l.link(), "ce_marked"), 0u);
    EXPECT_EQ(r.ce_seen, action(l.link(), "ce_marked")) << "every mark leaves as CE";
  }
  {  // ecn: true, but a not-ECT packet is still dropped
    LinkRun l("rate: 10mbit\naqm: {type: codel, ecn: true}");
    overload(l, 0, 5);
    EXPECT_GT(l.drops("aqm"), 0u);
    EXPECT_EQ(action(l.link(), "ce_marked"), 0u);
  }
}

// RED keeps the average backlog between min and max under a 1.25x overload (max_p 0.5 leaves
// room for the 20% it must shed), signalling with a probability below max_p there; with ECN it
// marks ECT packets instead, which sheds nothing, so the average climbs past max.
TEST(Link, RedDropsOrMarksBetweenThresholds) {
  for (const bool ecn : {false, true}) {
    LinkRun l(fmt::format("rate: 10mbit\nqueue: {{bytes: 1000000}}\n"
                          "aqm: {{type: red, min: 30000, max: 90000, max_p: 0.5, ecn: {}}}", ecn));
    const AqmRun r = overload(l, ecn ? 0x01 /* ECT(1) */ : 0, 10);
    const LinkState s = l.link().state(kT0 + 10'000'000'000ull);
    if (ecn) {
      EXPECT_EQ(l.drops("aqm"), 0u);
      EXPECT_GT(r.ce_seen, 0u);
      // Marking does not shed load: the average rises past max, where every packet is marked.
      EXPECT_EQ(s.drop_probability, 1.0);
    } else {
      EXPECT_GT(l.drops("aqm"), 0u);
      EXPECT_EQ(l.drops("queue_full"), 0u);
      EXPECT_GT(s.drop_probability, 0.0);
      EXPECT_LT(s.drop_probability, 0.5);
      // The backlog stays below max: sojourn under 90000 B at 10 Mbit/s = 72 ms.
      EXPECT_LT(r.late_sojourn_ns, 72e6);
      EXPECT_GT(r.late_sojourn_ns, 30000 * 8 / 10e6 * 1e9 * 0.5);
    }
  }
}

// duplicate: P: about P of the packets are followed by an identical copy, counted as created,
// and the books balance: taken in + created = released.
TEST(Link, DuplicatesFollowTheirOriginalAndAreCounted) {
  constexpr uint32_t kN = 20000;
  LinkRun l("rate: 1gbit\nduplicate: 0.05\nseed: 3");
  uint32_t released = 0, dups = 0;
  std::optional<uint32_t> last;
  for (uint32_t i = 0; i < kN; ++i) {
    l.send({frame(128, i)}, kT0 + i * 10'000ull);
    for (uint32_t s : l.release(kT0 + i * 10'000ull)) {
      ++released;
      if (last && s == *last) {
        ++dups;
      } else {
        EXPECT_EQ(s, last ? *last + 1 : 0u);
      }
      last = s;
    }
  }
  for (uint32_t s : l.release(kForever)) {
    ++released;
    dups += last && s == *last;
    last = s;
  }
  const uint64_t made = action(l.link(), "duplicated");
  EXPECT_EQ(dups, made);
  EXPECT_EQ(released, kN + made);
  EXPECT_EQ(l.link().created_count(), made);
  // Binomial(20000, 0.05): mean 1000, sd 30.8; 99.9% within +- 3.29 sd.
  EXPECT_NEAR(static_cast<double>(made), 1000, 3.29 * 30.8);
  EXPECT_EQ(l.link().held_now(), 0u);
}

// corrupt: 1 flips exactly one bit per packet, never in the Ethernet header; checksums stay.
TEST(Link, CorruptionFlipsOneBitOutsideL2) {
  LinkRun l("corrupt: 1\nseed: 9");
  for (uint32_t i = 0; i < 2000; ++i) {
    const Bytes orig = frame(64 + i % 200, i);
    l.send({orig}, kT0);
    const auto out = l.drain(kT0);
    ASSERT_EQ(out.size(), 1u);
    const auto* d = rte_pktmbuf_mtod(out[0], const uint8_t*);
    int flipped = 0;
    for (size_t k = 0; k < orig.size(); ++k) {
      const int bits = __builtin_popcount(static_cast<unsigned>(d[k] ^ orig[k]));
      if (bits != 0) {
        EXPECT_GE(k, 14u);
      }
      flipped += bits;
    }
    EXPECT_EQ(flipped, 1) << i;
    rte_pktmbuf_free(out[0]);
  }
  EXPECT_EQ(action(l.link(), "corrupted"), 2000u);
}

// Down: what is held is dropped as `down`, arrivals too; up again, packets flow, books balance.
TEST(Link, DownDropsHeldAndArrivingPackets) {
  LinkRun l("rate: 1gbit\ndelay: 1ms");
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < 10; ++i) burst.push_back(frame(64, i));
  ASSERT_EQ(l.send(burst, kT0), 10u);
  l.link().set_down(true);
  EXPECT_TRUE(l.release(kT0 + 2'000'000).empty());
  EXPECT_EQ(l.drops("down"), 10u);
  l.send(burst, kT0 + 2'000'000);
  EXPECT_EQ(l.drops("down"), 20u);
  EXPECT_TRUE(l.link().state(kT0 + 2'000'000).down);
  l.link().set_down(false);
  ASSERT_EQ(l.send(burst, kT0 + 3'000'000), 10u);
  EXPECT_TRUE(l.release(kT0 + 4'000'000).empty());  // fresh wire: 3 ms + 672 ns + 1 ms
  EXPECT_EQ(l.release(kT0 + 4'006'720).size(), 10u);
  EXPECT_EQ(l.link().held_now(), 0u);
  EXPECT_EQ(l.link().held_count(), 20u);
  EXPECT_EQ(l.link().held_dropped_count(), 10u);
}

// A parameter change: queued packets keep their departures, later ones follow the new values,
// nothing is lost, and rings grow when the new values need it.
TEST(Link, ParameterChangeKeepsQueuedPackets) {
  LinkRun l("rate: 1gbit\ndelay: 10ms\nqueue: {packets: 100}");
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < 100; ++i) burst.push_back(frame(64, i));
  ASSERT_EQ(l.send(burst, kT0), 100u);
  LinkParams p = l.link().params();
  p.delay = 1'000'000;
  p.rate_bps = 100'000'000;
  p.limit_value = 5000;
  l.link().set_params(p);
  std::vector<Bytes> more;
  for (uint32_t i = 100; i < 300; ++i) more.push_back(frame(64, i));
  ASSERT_EQ(l.send(more, kT0 + 1000), 200u);  // the new, larger queue limit
  EXPECT_EQ(l.link().params().delay, 1'000'000u);
  EXPECT_GE(l.link().ring_capacity(), 300u);
  // The first 100 leave at 672 ns spacing + 10 ms; the rest after them (order kept), at 100 Mbit/s.
  EXPECT_TRUE(l.release(kT0 + 10'000'000 + 671).empty());
  EXPECT_EQ(l.release(kT0 + 10'000'000 + 672), std::vector<uint32_t>{0});
  const auto rest = l.release(kForever);
  ASSERT_EQ(rest.size(), 299u);
  for (uint32_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i], i + 1);
  EXPECT_EQ(l.link().held_now(), 0u);
}

// pareto and paretonormal jitter, with reordering allowed: mean delay ~ delay, spread ~ jitter.
// A released packet carries its departure time in the mbuf timestamp field.
TEST(Link, ParetoJitterHasTheConfiguredMeanAndSpread) {
  int ts = -1;
  uint64_t flag = 0;
  ASSERT_EQ(rte_mbuf_dyn_rx_timestamp_register(&ts, &flag), 0);
  for (const char* dist : {"pareto", "paretonormal", "normal"}) {
    LinkRun l(fmt::format("delay: 10ms\njitter: 1ms\ndistribution: {}\nreorder: true\nseed: 5", dist));
    double sum = 0, sq = 0;
    constexpr uint32_t kN = 50000;
    for (uint32_t i = 0; i < kN; ++i) {
      l.send({frame(64, i)}, kT0);
      for (rte_mbuf* m : l.drain(kForever)) {
        const auto d = static_cast<double>(*RTE_MBUF_DYNFIELD(m, ts, uint64_t*) - kT0);
        sum += d;
        sq += d * d;
        rte_pktmbuf_free(m);
      }
    }
    const double mean = sum / kN, sd = std::sqrt(sq / kN - mean * mean);
    EXPECT_NEAR(mean, 10e6, 0.03e6) << dist;
    EXPECT_NEAR(sd, 1e6, 0.1e6) << dist;
  }
}

}  // namespace
}  // namespace pathlab::test
