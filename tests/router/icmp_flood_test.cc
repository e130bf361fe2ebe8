// The ICMP error rate limit under a flood (issue 12): TTL-1 (IPv4) or hop-limit-1 (IPv6)
// packets offered far faster than process.icmp_rate_limit allows. The bucket runs on engine
// time (the `now` of Router::process; Lab::advance moves it), so the test is deterministic:
//   - after every burst, the errors sent so far stay within burst + rate * elapsed, and not
//     below it by a token or more (unless fewer packets were offered): the limit is neither
//     exceeded nor over-strict;
//   - every flooded packet is accounted for: an error sent (tx, event:icmp_time_exceeded, the
//     scapy reference frame) or a drop under icmp/rate_limited, nothing else; no mbuf leaks;
//   - an idle bucket fills up to `burst` and no further; a load under the rate is not limited.
#include <cstdint>
#include <cstdio>
#include <string>

#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

constexpr Nanos kSec = 1'000'000'000;

struct Limit {
  uint64_t rate, burst;
};

std::string limit_yaml(Limit l) {
  return "  icmp_rate_limit: {rate: " + std::to_string(l.rate) + ", burst: " +
         std::to_string(l.burst) + "}\n";
}

// Deterministic gaps between bursts: 0 .. max_gap ns (xorshift64), so bursts also arrive at the
// same instant and at odd offsets.
struct Gaps {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  Nanos next(Nanos max_gap) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s % (max_gap + 1);
  }
};

struct FloodResult {
  uint64_t offered = 0;
  uint64_t sent = 0;
};

// Offers `bursts` bursts of `per_burst` copies of case `name` on p0, the first at lab.now(), the
// gaps drawn from `gaps`, and adds them to `total`. After each burst it checks the errors sent
// since the bucket was last full (at t0) against the bound.
void flood(Lab& lab, const std::string& name, Limit l, int bursts, uint16_t per_burst,
           Nanos max_gap, Gaps& gaps, Nanos t0, FloodResult& total) {
  const Bytes in = frame(name);
  const Bytes want = frame(name, "out");
  const std::vector<Bytes> burst(per_burst, in);
  uint64_t mismatched = 0;
  for (int i = 0; i < bursts; ++i) {
    if (i != 0) lab.advance(gaps.next(max_gap));
    lab.rx(P0, burst);
    uint64_t answered = 0;
    for (const Bytes& out : lab.tx(P0)) {
      ++answered;
      if (out != want) ++mismatched;
    }
    total.offered += per_burst;
    total.sent += answered;
    // In real numbers: sent <= burst + rate * t; and when this burst was limited (the bucket is
    // empty now), sent > burst + rate * t - 1. In integers, t in ns:
    //   sent * 1e9 <= burst * 1e9 + rate * t   and   sent * 1e9 + 1e9 > burst * 1e9 + rate * t.
    const unsigned __int128 t = lab.now() - t0;
    const unsigned __int128 have = static_cast<unsigned __int128>(total.sent) * kSec;
    const unsigned __int128 allowed = static_cast<unsigned __int128>(l.burst) * kSec + l.rate * t;
    if (have > allowed) {
      ADD_FAILURE() << name << ": " << total.sent << " errors sent by t = "
                    << static_cast<uint64_t>(t) << " ns, more than burst " << l.burst
                    << " + rate " << l.rate << " * t";
      return;
    }
    if (answered < per_burst && have + kSec <= allowed) {
      ADD_FAILURE() << name << ": only " << total.sent << " errors sent by t = "
                    << static_cast<uint64_t>(t) << " ns, and " << per_burst - answered
                    << " of the last burst limited: a token or more below burst " << l.burst
                    << " + rate " << l.rate << " * t";
      return;
    }
  }
  EXPECT_EQ(mismatched, 0u) << name << ": errors that differ from scapy's reference";
}

// The counters of a flood: every packet received, answered or dropped as rate-limited.
Counts flood_delta(const FloodResult& r) {
  Counts c = expect_rx(P0, r.offered, {});
  if (r.sent != 0) {
    c["tx"] = r.sent;
    c["tx:p0"] = r.sent;
    c["event:icmp_time_exceeded"] = r.sent;
  }
  if (r.offered != r.sent) c["drop:icmp/rate_limited"] = r.offered - r.sent;
  return c;
}

// Two simulated seconds of 64-packet bursts 0-200 us apart (about 640k packets/s against a
// limit of 1000/s): the bound holds after every burst, and every packet is accounted for.
void flood_two_seconds(const std::string& name) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  const Limit l{1000, 50};
  Lab lab(LabOptions{.process_extra = limit_yaml(l)});
  lab.advance(5 * kSec);  // the bucket is full at any start time
  const Nanos t0 = lab.now();
  Gaps gaps;
  const Counts before = lab.counts();
  FloodResult r;
  while (lab.now() - t0 < 2 * kSec) {
    flood(lab, name, l, 100, 64, 200'000, gaps, t0, r);
    if (::testing::Test::HasFailure()) return;
    lab.advance(gaps.next(200'000));
  }
  const double elapsed = static_cast<double>(lab.now() - t0) / kSec;
  std::printf("%s: %llu packets in %.6f s, %llu errors sent (bound %.1f)\n", name.c_str(),
              static_cast<unsigned long long>(r.offered), elapsed,
              static_cast<unsigned long long>(r.sent), l.rate * elapsed + l.burst);
  // The same bound over the whole flood, in the terms.
  EXPECT_LE(static_cast<double>(r.sent), l.rate * elapsed + l.burst);
  EXPECT_GE(static_cast<double>(r.sent), l.rate * elapsed + l.burst - 1);
  EXPECT_GT(r.offered, 100 * r.sent);  // it was a flood
  EXPECT_EQ(lab.delta(before), flood_delta(r));
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_EQ(lab.ctrl_pending(), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

TEST(IcmpFlood, Ipv4TimeExceeded) { flood_two_seconds("icmp4_ttl1"); }

TEST(IcmpFlood, Ipv6TimeExceeded) { flood_two_seconds("icmp6_hlim1"); }

// After the flood empties the bucket, 10 s of silence refill it to `burst` and no further: the
// next burst of 256 gets exactly `burst` errors, and without time passing no more.
TEST(IcmpFlood, IdleBucketFillsToBurstOnly) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  const Limit l{1000, 50};
  Lab lab(LabOptions{.process_extra = limit_yaml(l)});
  Gaps gaps;
  FloodResult r;
  flood(lab, "icmp4_ttl1", l, 50, 64, 20'000, gaps, lab.now(), r);
  ASSERT_FALSE(::testing::Test::HasFailure());
  for (const char* name : {"icmp4_ttl1", "icmp6_hlim1"}) {
    SCOPED_TRACE(name);
    lab.advance(10 * kSec);
    const Counts before = lab.counts();
    lab.rx(P0, std::vector<Bytes>(256, frame(name)));
    lab.rx(P0, std::vector<Bytes>(256, frame(name)));  // same instant: nothing more
    EXPECT_EQ(lab.tx(P0).size(), l.burst);
    EXPECT_EQ(lab.delta(before), flood_delta({512, l.burst}));
  }
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// Under the rate nothing is limited: 32 packets every millisecond (32,000/s) against a limit of
// 100,000/s with a bucket of 40 (deeper than one burst) get an error each, IPv4 and IPv6
// alternating.
TEST(IcmpFlood, LoadUnderTheRateIsNotLimited) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  const Limit l{100'000, 40};
  Lab lab(LabOptions{.process_extra = limit_yaml(l)});
  const Counts before = lab.counts();
  Gaps gaps;
  FloodResult r;
  for (int i = 0; i < 1000; ++i) {
    flood(lab, i % 2 ? "icmp6_hlim1" : "icmp4_ttl1", l, 1, 32, 0, gaps, 0, r);
    ASSERT_FALSE(::testing::Test::HasFailure());
    lab.advance(1'000'000);
  }
  EXPECT_EQ(r.sent, r.offered);
  EXPECT_EQ(lab.delta(before), flood_delta(r));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

}  // namespace
}  // namespace pltest
