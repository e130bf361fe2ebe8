// tcp_seq: Stage::process on one burst of TCP/IPv4 segments, one flow per packet, in the calling
// thread. The stage rewrites in place and every rewrite is valid again on the next pass (the
// numbers just move on), so the same mbufs go round without any restore.
//   Established      ACK segments of known flows (rewrite: both): bulk lookup, SEQ and ACK
//   EstablishedSack  the same with a two-block SACK option at odd offsets (six more edges)
//   Untracked        segments of flows the table does not know (lookup miss, counted)
// Counters: cyc/pkt and ns/pkt (TSC around process() only), best (cycles/packet of the fastest
// burst), items_per_second.
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
#include <rte_tcp.h>
#pragma GCC diagnostic pop

#include "common.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab::bench {
namespace {

enum class Kind { Established, EstablishedSack, Untracked };

rte_mempool* pool() {
  static rte_mempool* mp = [] {
    rte_mempool* p = rte_pktmbuf_pool_create("tcp_seq_bench", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                             SOCKET_ID_ANY);
    if (p != nullptr) at_teardown([p] { rte_mempool_free(p); });
    return p;
  }();
  return mp;
}

std::unique_ptr<Stage> build(const std::string& params) {
  StageSpec spec;
  spec.kind = "tcp_seq";
  spec.params = YAML::Load(params);
  spec.pos = {"bench.yaml", 1, 1};
  spec.path = "stage";
  StageSite site;
  site.router = "bench";
  site.port = "p0";
  return StageRegistry::instance().parse(spec, "bench.yaml")(site);
}

// A TCP/IPv4 segment from 10.0.0.2:sport to 10.9.0.1:80 with flags, optionally a SACK option.
void write_segment(rte_mbuf* m, uint16_t sport, uint8_t flags, bool sack) {
  rte_pktmbuf_reset(m);
  const uint16_t opt = sack ? 20 : 0;  // NOP, SACK (2 blocks), EOL
  const uint16_t ip_len = 20 + 20 + opt + 10;
  auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 14 + ip_len));
  if (f == nullptr) return;
  std::memset(f, 0, 14 + ip_len);
  f[12] = 0x08;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f + 14);
  ip->version_ihl = 0x45;
  ip->total_length = rte_cpu_to_be_16(ip_len);
  ip->time_to_live = 64;
  ip->next_proto_id = 6;
  ip->src_addr = rte_cpu_to_be_32(0x0a000002);
  ip->dst_addr = rte_cpu_to_be_32(0x0a090001);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  uint8_t* t = f + 34;
  t[0] = static_cast<uint8_t>(sport >> 8);
  t[1] = static_cast<uint8_t>(sport);
  t[3] = 80;
  t[4] = 0x10;  // seq 0x10000000
  t[8] = 0x20;  // ack 0x20000000
  t[12] = static_cast<uint8_t>((20 + opt) / 4 << 4);
  t[13] = flags;
  t[14] = 0x20;
  if (sack) {
    const uint8_t o[20] = {1, 5, 18, 0x20, 0, 1, 0, 0x20, 0, 2, 0, 0x20, 0, 3, 0, 0x20, 0, 4, 0, 0};
    std::memcpy(t + 20, o, sizeof o);
  }
  reinterpret_cast<rte_tcp_hdr*>(t)->cksum = rte_ipv4_udptcp_cksum(ip, t);
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
  std::unique_ptr<Stage> stage = build("rewrite: both\nseed: 1");
  Batch b;
  b.n = n;
  b.ngen = 0;
  if (rte_pktmbuf_alloc_bulk(pool(), b.pkts, n) != 0) {
    state.SkipWithError("mbuf allocation failed");
    return;
  }
  const bool sack = kind == Kind::EstablishedSack;
  if (kind != Kind::Untracked) {
    for (uint16_t i = 0; i < n; ++i)
      write_segment(b.pkts[i], static_cast<uint16_t>(10000 + i), 0x02, false);
    stage->process(b);  // the SYNs create the flows
  }
  for (uint16_t i = 0; i < n; ++i)
    write_segment(b.pkts[i], static_cast<uint16_t>(10000 + i), 0x10, sack);

  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0, best = UINT64_MAX;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    stage->process(b);
    const uint64_t t1 = rte_rdtsc();
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

void BM_TcpSeqEstablished(benchmark::State& s) { run(s, Kind::Established); }
void BM_TcpSeqEstablishedSack(benchmark::State& s) { run(s, Kind::EstablishedSack); }
void BM_TcpSeqUntracked(benchmark::State& s) { run(s, Kind::Untracked); }

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

BENCHMARK(BM_TcpSeqEstablished)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_TcpSeqEstablishedSack)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_TcpSeqUntracked)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);

}  // namespace
}  // namespace pathlab::bench
