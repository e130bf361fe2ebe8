// tcp_options: Stage::process over one burst, built from YAML through the registry as the
// dataplane builds it. Before each timed call the burst's mbufs are rewritten with the input
// frame (untimed), so every call does the full work.
//   StripNop       strip: timestamp (TCPOPTSTRIP) on ACKs with NOP NOP TS and 1000 bytes of data
//   StripRemove    the same with how: remove: the headers move forward 12 bytes, the data stays
//   AllowRemove    allow: [mss, wscale] on Linux SYNs (MSS SACKOK TS NOP WS -> MSS NOP WS)
//   DropSynCheck   drop_syn_with: [tfo] on Linux SYNs without TFO: the walk alone
//   NothingToStrip strip: [mptcp] on those SYNs: walk, nothing changes
//   MiddleboxChain pipelines/middlebox.yaml's four stages (ecn bleach, dscp map, tcp_options
//                  strip NOP, mss clamp) run as a Chain (compaction included) on the traffic of
//                  scripts/bench --middlebox: ToS EF+ECT(0), NOP NOP TS, no data; 1 in 16 a
//                  Linux SYN. cyc/pkt is the four stages' cost on top of routing.
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
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab::bench {
namespace {

using Frame = std::vector<uint8_t>;

// Ethernet + IPv4 (10.0.0.2 -> 198.18.0.1) + TCP with `opts` and `payload` bytes of data.
Frame tcp4(const Frame& opts, uint8_t flags, size_t payload, uint8_t tos = 0) {
  const size_t tcp_len = 20 + opts.size() + payload;
  Frame f(14 + 20 + tcp_len, 0);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[1] = tos;
  ip[2] = static_cast<uint8_t>((20 + tcp_len) >> 8);
  ip[3] = static_cast<uint8_t>(20 + tcp_len);
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t addrs[8] = {10, 0, 0, 2, 198, 18, 0, 1};
  std::memcpy(ip + 12, addrs, 8);
  uint8_t* tcp = ip + 20;
  tcp[0] = 0x9c;  // 40000 -> 80
  tcp[1] = 0x40;
  tcp[3] = 80;
  tcp[12] = static_cast<uint8_t>((20 + opts.size()) / 4 << 4);
  tcp[13] = flags;
  tcp[14] = tcp[15] = 0xff;
  std::memcpy(tcp + 20, opts.data(), opts.size());
  for (size_t i = 0; i < payload; ++i) tcp[20 + opts.size() + i] = static_cast<uint8_t>(i);
  auto* hdr = reinterpret_cast<rte_ipv4_hdr*>(ip);
  hdr->hdr_checksum = rte_ipv4_cksum(hdr);
  const uint16_t ck = rte_ipv4_udptcp_cksum(hdr, tcp);
  std::memcpy(tcp + 16, &ck, 2);
  return f;
}

const Frame kLinuxSyn = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
const Frame kAckTs = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};

rte_mempool* pool() {
  static rte_mempool* mp = [] {
    rte_mempool* p = rte_pktmbuf_pool_create("tcpopt_bench", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                             SOCKET_ID_ANY);
    if (p != nullptr) at_teardown([p] { rte_mempool_free(p); });
    return p;
  }();
  return mp;
}

std::unique_ptr<Stage> make_stage(const char* yaml, const char* kind = "tcp_options") {
  StageSpec spec;
  spec.kind = kind;
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
  m->packet_type = kPtype4;
  m->l2_len = 14;
  m->l3_len = 20;
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

void BM_TcpOptionsStripNop(benchmark::State& s) {
  run(s, "strip: timestamp", tcp4(kAckTs, 0x10, 1000));
}
void BM_TcpOptionsStripRemove(benchmark::State& s) {
  run(s, "strip: timestamp\nhow: remove", tcp4(kAckTs, 0x10, 1000));
}
void BM_TcpOptionsAllowRemove(benchmark::State& s) {
  run(s, "allow: [mss, wscale]\nhow: remove", tcp4(kLinuxSyn, 0x02, 0));
}
void BM_TcpOptionsDropSynCheck(benchmark::State& s) {
  run(s, "drop_syn_with: [tfo]", tcp4(kLinuxSyn, 0x02, 0));
}
void BM_TcpOptionsNothingToStrip(benchmark::State& s) {
  run(s, "strip: [mptcp]", tcp4(kLinuxSyn, 0x02, 0));
}

// The middlebox pipeline as the dataplane runs it on one port: Chain::run over a burst.
void BM_MiddleboxChain(benchmark::State& state) {
  const auto n = static_cast<uint16_t>(state.range(0));
  constexpr uint8_t kEfEct0 = 46 << 2 | 0x02;
  const Frame ack = tcp4(kAckTs, 0x10, 0, kEfEct0);
  const Frame syn = tcp4(kLinuxSyn, 0x02, 0, kEfEct0);
  std::vector<std::unique_ptr<Stage>> stages;
  try {
    stages.push_back(make_stage("ip: bleach", "ecn"));
    stages.push_back(make_stage("action: {map: {ef: af41, cs5: af41, af11: cs0}}", "dscp"));
    stages.push_back(make_stage("strip: [timestamp, sack_permitted]\nhow: nop"));
    stages.push_back(make_stage("clamp: 1452", "mss"));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Chain chain(std::move(stages));
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
      load(mbufs[i], i % 16 == 0 ? syn : ack);
      b.pkts[i] = mbufs[i];
    }
    b.n = n;
    b.ngen = 0;
    const uint64_t t0 = rte_rdtsc();
    chain.run(b);
    const uint64_t t1 = rte_rdtsc();
    benchmark::DoNotOptimize(b.pkts[n - 1]);
    cycles += t1 - t0;
    packets += n;
    state.SetIterationTime(static_cast<double>(t1 - t0) / tsc_hz);
  }
  if (b.n != n) state.SkipWithError("the chain dropped packets");
  // Every packet changed: ToS AF41 not-ECT, TS (and SACKOK) NOPed, the SYN's MSS clamped.
  const auto* ip = rte_pktmbuf_mtod_offset(mbufs[0], const uint8_t*, 14);
  if (ip[1] != (34 << 2) || ip[20 + 26] != 1 || ip[20 + 22] != 0x05 || ip[20 + 23] != 0xac) {
    state.SkipWithError("the chain did not rewrite the SYN as expected");
  }
  rte_pktmbuf_free_bulk(mbufs.data(), n);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  if (packets != 0) {
    const double cpp = static_cast<double>(cycles) / static_cast<double>(packets);
    state.counters["cyc/pkt"] = cpp;
    state.counters["ns/pkt"] = cpp * 1e9 / tsc_hz;
  }
}

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

BENCHMARK(BM_TcpOptionsStripNop)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_TcpOptionsStripRemove)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_TcpOptionsAllowRemove)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_TcpOptionsDropSynCheck)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);
BENCHMARK(BM_TcpOptionsNothingToStrip)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);

BENCHMARK(BM_MiddleboxChain)
    ->Arg(32)
    ->Arg(256)
    ->UseManualTime()
    ->ComputeStatistics("min", min_of);

}  // namespace
}  // namespace pathlab::bench
