// ip_options: Stage::process over one burst, built from YAML through the registry as the
// dataplane builds it. Before each timed call the burst's mbufs are rewritten with the input
// frame (untimed), so every call does the full work. UDP with 1000 bytes of data throughout.
//   Strip          ipv4: strip on packets with Record Route (12 bytes): headers move forward
//   StripAllowed   ipv4: strip, allow: [ra] on Router Alert + Record Route: parse and rebuild
//   DropCheck      ipv4: drop on packets without options: the per-packet test alone
//   DstoptsCheck6  drop_dstopts on IPv6 packets with a Hop-by-Hop header: the chain walk
//   Pad6           ipv6_strip: [ra] on IPv6 with Hop-by-Hop Router Alert: padded out in place
// Counters: cyc/pkt and ns/pkt (TSC around process() only), items_per_second on one core.
#include <benchmark/benchmark.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "common.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab::bench {
namespace {

using Frame = std::vector<uint8_t>;
constexpr size_t kPayload = 1000;

void fill_udp(uint8_t* udp, size_t len) {
  udp[0] = 0x13;  // 5000 -> 53
  udp[1] = 0x88;
  udp[3] = 53;
  udp[4] = static_cast<uint8_t>(len >> 8);
  udp[5] = static_cast<uint8_t>(len);
  for (size_t i = 8; i < len; ++i) udp[i] = static_cast<uint8_t>(i);
}

// Ethernet + IPv4 (10.0.0.2 -> 198.18.0.1) with `opts` + UDP.
Frame udp4(const Frame& opts) {
  const size_t ihl = 20 + opts.size();
  const size_t udp_len = 8 + kPayload;
  Frame f(14 + ihl + udp_len, 0);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = static_cast<uint8_t>(0x40 | ihl / 4);
  ip[2] = static_cast<uint8_t>((ihl + udp_len) >> 8);
  ip[3] = static_cast<uint8_t>(ihl + udp_len);
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t addrs[8] = {10, 0, 0, 2, 198, 18, 0, 1};
  std::memcpy(ip + 12, addrs, 8);
  std::memcpy(ip + 20, opts.data(), opts.size());
  const uint16_t hck = static_cast<uint16_t>(~rte_raw_cksum(ip, ihl));
  std::memcpy(ip + 10, &hck, 2);
  // The UDP checksum over the pseudo-header does not depend on the options.
  fill_udp(ip + ihl, udp_len);
  rte_ipv4_hdr plain{};
  std::memcpy(&plain, ip, 20);
  plain.version_ihl = 0x45;
  plain.total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + udp_len));
  const uint16_t ck = rte_ipv4_udptcp_cksum(&plain, ip + ihl);
  std::memcpy(ip + ihl + 6, &ck, 2);
  return f;
}

// Ethernet + IPv6 (fd00::2 -> 2001:db8::1) + Hop-by-Hop with Router Alert + UDP.
Frame udp6_hbh() {
  const size_t udp_len = 8 + kPayload;
  Frame f(14 + 40 + 8 + udp_len, 0);
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x60;
  ip[4] = static_cast<uint8_t>((8 + udp_len) >> 8);
  ip[5] = static_cast<uint8_t>(8 + udp_len);
  ip[6] = 0;  // Hop-by-Hop
  ip[7] = 64;
  ip[8] = 0xfd;
  ip[23] = 2;
  const uint8_t dst[4] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(ip + 24, dst, 4);
  ip[39] = 1;
  const uint8_t hbh[8] = {17, 0, 5, 2, 0, 0, 1, 0};  // UDP next; Router Alert; PadN(0)
  std::memcpy(ip + 40, hbh, 8);
  fill_udp(ip + 48, udp_len);
  rte_ipv6_hdr plain{};
  std::memcpy(&plain, ip, 40);
  plain.proto = 17;
  plain.payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  const uint16_t ck = rte_ipv6_udptcp_cksum(&plain, ip + 48);
  std::memcpy(ip + 48 + 6, &ck, 2);
  return f;
}

const Frame kRecordRoute = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const Frame kRaRecordRoute = {0x94, 4, 0, 0, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};

rte_mempool* pool() {
  static rte_mempool* mp = [] {
    rte_mempool* p = rte_pktmbuf_pool_create("ipopt_bench", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                             SOCKET_ID_ANY);
    if (p != nullptr) at_teardown([p] { rte_mempool_free(p); });
    return p;
  }();
  return mp;
}

std::unique_ptr<Stage> make_stage(const char* yaml) {
  StageSpec spec;
  spec.kind = "ip_options";
  spec.params = YAML::Load(yaml);
  spec.pos = {"bench.yaml", 1, 1};
  spec.path = "stage";
  const StageSite site{.router = "r1", .port = "p0"};
  return StageRegistry::instance().parse(spec, "bench.yaml")(site);
}

// The mbuf as Ethernet input leaves it.
void load(rte_mbuf* m, const Frame& f) {
  rte_pktmbuf_reset(m);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
  const bool v6 = f[12] == 0x86;
  m->packet_type = v6 ? kPtype6 : kPtype4;
  m->l2_len = 14;
  m->l3_len = v6 ? 40 : (f[14] & 0xf) * 4;
}

void run(benchmark::State& state, const char* yaml, const Frame& frame) {
  const auto n = static_cast<uint16_t>(state.range(0));
  std::unique_ptr<Stage> stage;
  try {
    stage = make_stage(yaml);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<rte_mbuf*> mbufs(n);
  if (pool() == nullptr || rte_pktmbuf_alloc_bulk(pool(), mbufs.data(), n) != 0) {
    state.SkipWithError("mbuf allocation failed");
    return;
  }
  Batch b;
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    for (uint16_t i = 0; i < n; ++i) {
      load(mbufs[i], frame);
      b.pkts[i] = mbufs[i];
    }
    b.n = n;
    b.ngen = 0;
    const uint64_t t0 = rte_rdtsc();
    stage->process(b);
    const uint64_t t1 = rte_rdtsc();
    benchmark::DoNotOptimize(b.verdict[n - 1]);
    cycles += t1 - t0;
    packets += n;
    state.SetIterationTime(static_cast<double>(t1 - t0) / tsc_hz);
  }
  if (b.verdict[0] != kPass) state.SkipWithError("the stage did not pass the packet");
  rte_pktmbuf_free_bulk(mbufs.data(), n);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  if (packets != 0) {
    const double cpp = static_cast<double>(cycles) / static_cast<double>(packets);
    state.counters["cyc/pkt"] = cpp;
    state.counters["ns/pkt"] = cpp * 1e9 / tsc_hz;
  }
}

void BM_IpOptionsStrip(benchmark::State& s) { run(s, "ipv4: strip", udp4(kRecordRoute)); }
void BM_IpOptionsStripAllowed(benchmark::State& s) {
  run(s, "ipv4: strip\nallow: [ra]", udp4(kRaRecordRoute));
}
void BM_IpOptionsDropCheck(benchmark::State& s) { run(s, "ipv4: drop", udp4({})); }
void BM_IpOptionsDstoptsCheck6(benchmark::State& s) { run(s, "drop_dstopts: true", udp6_hbh()); }
void BM_IpOptionsPad6(benchmark::State& s) { run(s, "ipv6_strip: [ra]", udp6_hbh()); }

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

BENCHMARK(BM_IpOptionsStrip)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_IpOptionsStripAllowed)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_IpOptionsDropCheck)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_IpOptionsDstoptsCheck6)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_IpOptionsPad6)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);

}  // namespace
}  // namespace pathlab::bench
