// block: Stage::process on one burst of 64-byte UDP/IPv4 frames to port 443, in the calling
// thread.
//   Pass        match {proto: tcp}: nothing matches (view + match per packet)
//   Drop        match {proto: udp, dport: 443}: every packet gets the drop verdict
//   RejectIcmp  every packet becomes an ICMP admin-prohibited error (quote of the 50-byte packet)
//   RejectRst   TCP SYNs instead, every one becomes a RST
// Reject turns the frames into replies, so they are rewritten between bursts, outside the timed
// region. The reply rate limit is set high enough never to refuse.
// Counters: cyc/pkt and ns/pkt (TSC around process() only), best, items_per_second.
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

enum class Kind { Pass, Drop, RejectIcmp, RejectRst };

rte_mempool* pool() {
  static rte_mempool* mp = [] {
    rte_mempool* p = rte_pktmbuf_pool_create("block_bench", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                             SOCKET_ID_ANY);
    if (p != nullptr) at_teardown([p] { rte_mempool_free(p); });
    return p;
  }();
  return mp;
}

std::unique_ptr<Stage> build(const std::string& params) {
  StageSpec spec;
  spec.kind = "block";
  spec.params = YAML::Load(params);
  spec.pos = {"bench.yaml", 1, 1};
  spec.path = "stage";
  StageSite site;
  site.router = "bench";
  site.port = "p0";
  site.ip4.push_back(Ip4Prefix{Ip4Addr{0x0a000001}, 24});
  return StageRegistry::instance().parse(spec, "bench.yaml")(site);
}

// 64-byte frame from 10.0.0.2 to 10.9.0.1: UDP 5000 -> 443 with 22 bytes of payload, or a TCP
// SYN 40000 -> 443 with 10.
void write_frame(rte_mbuf* m, bool tcp) {
  rte_pktmbuf_reset(m);
  auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 64));
  if (f == nullptr) return;
  std::memset(f, 0, 64);
  f[0] = 0x02;
  f[5] = 0x01;
  f[6] = 0x02;
  f[11] = 0x99;
  f[12] = 0x08;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f + 14);
  ip->version_ihl = 0x45;
  ip->total_length = rte_cpu_to_be_16(50);
  ip->time_to_live = 64;
  ip->next_proto_id = tcp ? 6 : 17;
  ip->src_addr = rte_cpu_to_be_32(0x0a000002);
  ip->dst_addr = rte_cpu_to_be_32(0x0a090001);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  uint8_t* l4 = f + 34;
  if (tcp) {
    l4[0] = 0x9c;
    l4[1] = 0x40;
    l4[3] = 0xbb;
    l4[4] = 0x01;
    l4[12] = 5 << 4;
    l4[13] = 0x02;
    l4[14] = 0x20;
  } else {
    l4[0] = 0x13;
    l4[1] = 0x88;
    l4[2] = 0x01;
    l4[3] = 0xbb;
    l4[5] = 30;
  }
  const uint16_t ck = rte_ipv4_udptcp_cksum(ip, l4);
  std::memcpy(l4 + (tcp ? 16 : 6), &ck, 2);
  m->l2_len = 14;
  m->l3_len = 20;
  m->packet_type = kPtype4;
}

void run(benchmark::State& state, Kind kind) {
  const auto n = static_cast<uint16_t>(state.range(0));
  if (pool() == nullptr) {
    state.SkipWithError("mempool");
    return;
  }
  const char* params = kind == Kind::Pass   ? "match: {proto: tcp}"
                       : kind == Kind::Drop ? "match: {proto: udp, dport: 443}"
                       : kind == Kind::RejectIcmp
                           ? "action: reject\nrate: 10000000\nburst: 1000000"
                           : "action: reject\nreject_with: tcp_rst\nrate: 10000000\nburst: 1000000";
  std::unique_ptr<Stage> stage = build(params);
  const bool tcp = kind == Kind::RejectRst;
  const bool rewrites = kind == Kind::RejectIcmp || kind == Kind::RejectRst;
  Batch b;
  b.n = n;
  b.ngen = 0;
  if (rte_pktmbuf_alloc_bulk(pool(), b.pkts, n) != 0) {
    state.SkipWithError("mbuf allocation failed");
    return;
  }
  for (uint16_t i = 0; i < n; ++i) write_frame(b.pkts[i], tcp);

  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0, best = UINT64_MAX;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    stage->process(b);
    const uint64_t t1 = rte_rdtsc();
    if (rewrites) {
      if (b.verdict[n - 1] != kGenerated) [[unlikely]] {
        state.SkipWithError("no reply generated (rate limit?)");
        break;
      }
      for (uint16_t i = 0; i < n; ++i) write_frame(b.pkts[i], tcp);
    }
    cycles += t1 - t0;
    best = std::min(best, t1 - t0);
    packets += n;
    state.SetIterationTime(static_cast<double>(t1 - t0) / hz);
  }
  rte_pktmbuf_free_bulk(b.pkts, n);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  if (packets != 0) {
    const double cpp = static_cast<double>(cycles) / static_cast<double>(packets);
    state.counters["cyc/pkt"] = cpp;
    state.counters["ns/pkt"] = cpp * 1e9 / hz;
    state.counters["best"] = static_cast<double>(best) / n;
  }
}

void BM_BlockPass(benchmark::State& s) { run(s, Kind::Pass); }
void BM_BlockDrop(benchmark::State& s) { run(s, Kind::Drop); }
void BM_BlockRejectIcmp(benchmark::State& s) { run(s, Kind::RejectIcmp); }
void BM_BlockRejectRst(benchmark::State& s) { run(s, Kind::RejectRst); }

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

BENCHMARK(BM_BlockPass)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_BlockDrop)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_BlockRejectIcmp)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_BlockRejectRst)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);

}  // namespace
}  // namespace pathlab::bench
