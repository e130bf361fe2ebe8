// A scan of a connected /16 against the bounded neighbour table (issue 12): the table stays at
// its capacity by evicting, probes and host-unreachable errors stay within their token buckets,
// static and gateway entries survive, and a fresh host is probed and reached at once afterwards.
#include <arpa/inet.h>

#include <chrono>
#include <thread>

#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kScanned = 10'000;
constexpr uint32_t kCapacity = 4096;         // process.neighbours.max_entries default
constexpr double kProbeRate = 1000, kProbeBurst = 100;
constexpr double kIcmpRate = 1000, kIcmpBurst = 50;

uint16_t sum16(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

// frame("unres4") (UDP from H0 on p0) readdressed to `dst`; no UDP checksum.
Bytes udp_to(uint32_t dst) {
  static const Bytes base = frame("unres4");
  Bytes f = base;
  uint8_t* ip = f.data() + 14;
  const uint32_t be = htonl(dst);
  std::memcpy(ip + 16, &be, 4);
  ip[10] = ip[11] = 0;
  const uint16_t ck = sum16(ip, (ip[0] & 0xf) * 4u);
  ip[10] = static_cast<uint8_t>(ck >> 8);
  ip[11] = static_cast<uint8_t>(ck);
  uint8_t* udp = ip + (ip[0] & 0xf) * 4;
  udp[6] = udp[7] = 0;
  return f;
}

uint32_t addr(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return ntohl(a.s_addr);
}

struct Seen {
  uint32_t arp_requests = 0;
  uint32_t host_unreachable = 0;
  std::vector<uint32_t> arp_targets;
  std::vector<Injected> other;
};

void sort_out(const std::vector<Injected>& inj, Seen& s) {
  for (const auto& i : inj) {
    const Bytes& f = i.frame;
    if (f.size() >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1) {
      s.arp_requests++;
      uint32_t t;
      std::memcpy(&t, f.data() + 38, 4);
      s.arp_targets.push_back(ntohl(t));
    } else if (f.size() >= 36 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && f[34] == 3 && f[35] == 1) {
      s.host_unreachable++;
    } else {
      s.other.push_back(i);
    }
  }
}

TEST(NeighbourScan, TableStaysBoundedAndAFreshHostIsReachedAtOnce) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p1_ipv4 = "10.0.1.1/24, 10.9.0.1/16", .mbufs = 16383,
                     .process_extra = "  neighbours: {hold_packets: 1}\n"});
  const size_t statics = lab.r().neighbours().size();
  Seen seen;
  const auto t0 = Clock::now();
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < kScanned; ++i) {
    burst.push_back(udp_to(addr("10.9.0.2") + i));
    if (burst.size() == 32 || i + 1 == kScanned) {
      lab.rx(P0, burst);
      burst.clear();
    }
    if (i % 1024 == 1023 || i + 1 == kScanned) {
      // The control path takes 64 packets a ring per poll, as its loop does.
      while (lab.poll() != 0) sort_out(lab.injected(), seen);
      sort_out(lab.injected(), seen);
    }
  }
  const double scan_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(lab.r().neighbours().size(), kCapacity);
  EXPECT_GE(lab.event("neigh_evicted"), kScanned + statics - kCapacity);
  EXPECT_EQ(lab.event("neigh_table_full"), 0u);
  // The probe flood: within rate x time + burst, and the bucket was used.
  EXPECT_LE(seen.arp_requests, kProbeBurst + kProbeRate * scan_s + 1) << scan_s << " s";
  EXPECT_GE(seen.arp_requests, kProbeBurst);
  EXPECT_EQ(lab.event("arp_requests_sent"), seen.arp_requests);
  EXPECT_GT(lab.event("nd_probes_deferred"), 0u);
  // Evicted entries' packets are answered, within the ICMP bucket.
  EXPECT_LE(seen.host_unreachable, kIcmpBurst + kIcmpRate * scan_s + 1);
  EXPECT_GE(seen.host_unreachable, kIcmpBurst);
  EXPECT_TRUE(seen.other.empty());
  // Static neighbours and gateways were never evicted.
  EXPECT_EQ(neigh_state(lab.neigh4(P1, "10.0.1.2")), NeighState::Static);
  EXPECT_EQ(neigh_state(lab.neigh4(P2, "10.0.2.254")), NeighState::Static);

  // A fresh host: its probe goes out at once (newest first), whatever the scan left waiting.
  const uint32_t fresh = addr("10.9.200.200");
  const auto t1 = Clock::now();
  lab.rx(P0, udp_to(fresh));
  Seen after;
  while (Clock::now() - t1 < std::chrono::milliseconds(500)) {
    lab.poll();
    sort_out(lab.injected(), after);
    if (std::find(after.arp_targets.begin(), after.arp_targets.end(), fresh) != after.arp_targets.end()) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double wait_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  ASSERT_NE(std::find(after.arp_targets.begin(), after.arp_targets.end(), fresh), after.arp_targets.end())
      << "no ARP request for the fresh host within half a retry interval";
  // One token at 1000/s is 1 ms; the bound leaves room for a loaded machine.
  EXPECT_LT(wait_ms, 100.0);
  // It answers; its packet is released with its MAC.
  Bytes reply = frame("unres4_arp_reply");
  const uint32_t be = htonl(fresh);
  std::memcpy(reply.data() + 28, &be, 4);  // ARP sender IP
  const uint64_t released = lab.event("held_released");
  lab.rx(P1, reply);
  lab.poll();
  sort_out(lab.injected(), after);
  EXPECT_EQ(lab.event("held_released"), released + 1);
  ASSERT_FALSE(after.other.empty());
  const Bytes& out = after.other.back().frame;
  EXPECT_EQ(after.other.back().port, P1);
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 6, frame("unres4_arp_reply").begin() + 6))
      << "released with the fresh host's MAC";
  uint32_t dst;
  std::memcpy(&dst, out.data() + 30, 4);
  EXPECT_EQ(ntohl(dst), fresh);
  EXPECT_TRUE(lab.balanced());
}

// frame("unres6") (UDP from H0 on p0) readdressed to 2001:db8:1::<host>; the UDP checksum is left
// as it was (the router does not check it).
Bytes udp6_to(uint32_t host) {
  static const Bytes base = frame("unres6");
  Bytes f = base;
  const uint32_t be = htonl(host);
  std::memcpy(f.data() + 14 + 24 + 12, &be, 4);
  return f;
}

// The same scan over IPv6 (neighbour solicitations): 6000 hosts of p1's /64.
TEST(NeighbourScan, Ipv6ScanEvictsAndSolicitsWithinTheBucket) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.mbufs = 16383, .process_extra = "  neighbours: {hold_packets: 1}\n"});
  const size_t statics = lab.r().neighbours().size();
  constexpr uint32_t kHosts = 6000;
  uint32_t solicits = 0, unreachable = 0;
  auto count = [&](const std::vector<Injected>& inj) {
    for (const auto& i : inj) {
      const Bytes& f = i.frame;
      if (f.size() < 62 || f[12] != 0x86 || f[13] != 0xdd || f[20] != 58) continue;
      if (f[54] == 135) ++solicits;
      if (f[54] == 1 && f[55] == 3) ++unreachable;
    }
  };
  const auto t0 = Clock::now();
  std::vector<Bytes> burst;
  for (uint32_t i = 0; i < kHosts; ++i) {
    burst.push_back(udp6_to(0x10000 + i));
    if (burst.size() == 32 || i + 1 == kHosts) {
      lab.rx(P0, burst);
      burst.clear();
    }
    if (i % 1024 == 1023 || i + 1 == kHosts) {
      while (lab.poll() != 0) count(lab.injected());
      count(lab.injected());
    }
  }
  const double scan_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(lab.r().neighbours().size(), kCapacity);
  EXPECT_GE(lab.event("neigh_evicted"), kHosts + statics - kCapacity);
  EXPECT_LE(solicits, kProbeBurst + kProbeRate * scan_s + 1) << scan_s << " s";
  EXPECT_GE(solicits, kProbeBurst);
  EXPECT_EQ(lab.event("nd_solicits_sent"), solicits);
  EXPECT_LE(unreachable, kIcmpBurst + kIcmpRate * scan_s + 1);
  EXPECT_GE(unreachable, kIcmpBurst);
  EXPECT_EQ(neigh_state(lab.neigh6(P1, "2001:db8:1::2")), NeighState::Static);
  EXPECT_TRUE(lab.balanced());
}

// Retries run out: the entry fails, its packet gets host unreachable, and the entry is the first
// to be evicted later; the table's size never passes max_entries.
TEST(NeighbourScan, SmallTableEvictsFailedEntriesFirst) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p1_ipv4 = "10.0.1.1/24, 10.9.0.1/16",
                     .process_extra = "  neighbours: {max_entries: 16, retries: 1, retry_ms: 10}\n"});
  const uint32_t statics = lab.r().neighbours().size();
  ASSERT_LT(statics, 16u);
  const uint32_t room = 16 - statics;
  // Fill the table with unresolved hosts, then let them fail.
  for (uint32_t i = 0; i < room; ++i) lab.rx(P0, udp_to(addr("10.9.1.1") + i));
  lab.poll();
  EXPECT_EQ(lab.r().neighbours().size(), 16u);
  std::this_thread::sleep_for(std::chrono::milliseconds(15));
  lab.poll();
  Seen seen;
  sort_out(lab.injected(), seen);
  EXPECT_EQ(seen.arp_requests, room);
  EXPECT_EQ(seen.host_unreachable, room);
  EXPECT_EQ(neigh_state(lab.neigh4(P1, "10.9.1.1")), NeighState::Failed);
  // A learnt neighbour, then one more unresolved host: a failed entry goes, the learnt one stays.
  Bytes reply = frame("unres4_arp_reply");
  const uint32_t learnt = htonl(addr("10.9.1.1"));
  std::memcpy(reply.data() + 28, &learnt, 4);
  lab.rx(P1, reply);  // an update of an existing (failed) entry
  lab.poll();
  EXPECT_EQ(neigh_state(lab.neigh4(P1, "10.9.1.1")), NeighState::Reachable);
  lab.rx(P0, udp_to(addr("10.9.9.9")));
  lab.poll();
  EXPECT_EQ(lab.r().neighbours().size(), 16u);
  EXPECT_EQ(lab.event("neigh_evicted"), 1u);
  EXPECT_EQ(neigh_state(lab.neigh4(P1, "10.9.1.1")), NeighState::Reachable);
  uint32_t failed_left = 0;
  for (uint32_t i = 1; i < room; ++i) {
    const uint32_t a = addr("10.9.1.1") + i;
    const std::string s = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                          std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
    if (neigh_state(lab.neigh4(P1, s)) == NeighState::Failed && lab.neigh4(P1, s) != 0) ++failed_left;
  }
  EXPECT_EQ(failed_left, room - 2) << "one failed entry, not the learnt one, made room";
  EXPECT_EQ(neigh_state(lab.neigh4(P1, "10.9.9.9")), NeighState::Incomplete);
  EXPECT_TRUE(lab.balanced());
}

// Every entry pinned (static neighbours fill the table): a new host is answered with host
// unreachable and counted, and nothing static is evicted.
TEST(NeighbourScan, AllPinnedAnswersHostUnreachable) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  uint32_t statics = 0;
  {
    Lab count;
    statics = count.r().neighbours().size();
  }
  Lab lab(LabOptions{.process_extra = "  neighbours: {max_entries: " + std::to_string(statics) + "}\n"});
  lab.rx(P0, frame("unres4"));
  lab.poll();
  Seen seen;
  sort_out(lab.injected(), seen);
  EXPECT_EQ(lab.event("neigh_table_full"), 1u);
  EXPECT_EQ(seen.host_unreachable, 1u);
  EXPECT_EQ(seen.arp_requests, 0u);
  EXPECT_EQ(lab.event("neigh_evicted"), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

}  // namespace
}  // namespace pltest
