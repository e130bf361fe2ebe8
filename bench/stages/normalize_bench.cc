// normalize stage: Stage::process on one burst (32 or 256) of 64-byte TCP/IPv4 or 74-byte
// TCP/IPv6 frames, built through the stage registry as the dataplane builds it. The frames have
// TTL 200 and IPv4 ID 0x1234, so every mode has work on every packet; the "noop" variant is
// within its clamp (the cost of looking). After each timed call the frames are rewritten from
// their template, outside the timed region.
//
// Counters: cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second (packets on one core).
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab::bench {
namespace {

enum class Family { V4, V6 };

// Ether + IPv4 (20) + TCP (20) + 10 bytes, or Ether + IPv6 (40) + TCP (20), checksums valid.
std::vector<uint8_t> tcp_frame(Family f, uint8_t ttl, uint16_t id) {
  const size_t l3 = f == Family::V4 ? 20 : 40, pay = f == Family::V4 ? 10 : 0;
  std::vector<uint8_t> frame(RTE_ETHER_HDR_LEN + l3 + 20 + pay, 0);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame.data());
  eth->ether_type = rte_cpu_to_be_16(f == Family::V4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(frame.data() + RTE_ETHER_HDR_LEN + l3);
  tcp->src_port = rte_cpu_to_be_16(80);
  tcp->dst_port = rte_cpu_to_be_16(40000);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = RTE_TCP_ACK_FLAG;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  if (f == Family::V4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->packet_id = rte_cpu_to_be_16(id);
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(l3 + 20 + pay));
    ip->time_to_live = ttl;
    ip->next_proto_id = IPPROTO_TCP;
    ip->src_addr = rte_cpu_to_be_32(0xc6120001);
    ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  } else {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    ip->vtc_flow = rte_cpu_to_be_32(6u << 28 | 0x12345);
    ip->payload_len = rte_cpu_to_be_16(20);
    ip->proto = IPPROTO_TCP;
    ip->hop_limits = ttl;
    ip->src_addr[0] = 0x20;
    ip->dst_addr[0] = 0x20;
    ip->dst_addr[15] = 1;
    tcp->cksum = rte_ipv6_udptcp_cksum(ip, tcp);
  }
  return frame;
}

rte_mempool* pool() {
  static rte_mempool* mp = [] {
    rte_mempool* p = rte_pktmbuf_pool_create("normalize_bench", 1023, 0, 0,
                                             RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (p != nullptr) at_teardown([p] { rte_mempool_free(p); });
    return p;
  }();
  return mp;
}

std::unique_ptr<Stage> build(const std::string& params) {
  StageSpec spec;
  spec.kind = "normalize";
  spec.params = YAML::Load(params);
  spec.pos = {"bench.yaml", 1, 1};
  spec.path = "stage";
  const StageSite site{.router = "r1", .port = "p0"};
  return StageRegistry::instance().parse(spec, "bench.yaml")(site);
}

// `changes`: the mode must rewrite or drop the frame (checked after the loop, so a benchmark of
// a mode that silently does nothing fails instead of reporting a flattering figure).
void run(benchmark::State& state, const std::string& params, Family f, bool changes) {
  const auto n = static_cast<uint16_t>(state.range(0));
  const std::vector<uint8_t> frame = tcp_frame(f, 200, 0x1234);
  std::unique_ptr<Stage> stage;
  try {
    stage = build(params);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  rte_mbuf* pkts[kMaxBurst];
  if (pool() == nullptr || rte_pktmbuf_alloc_bulk(pool(), pkts, n) != 0) {
    state.SkipWithError("mbuf allocation failed");
    return;
  }
  for (uint16_t i = 0; i < n; ++i) {
    rte_pktmbuf_append(pkts[i], static_cast<uint16_t>(frame.size()));
    pkts[i]->packet_type = f == Family::V4 ? kPtype4 : kPtype6;
    pkts[i]->l2_len = RTE_ETHER_HDR_LEN;
    pkts[i]->l3_len = f == Family::V4 ? 20 : 40;
  }
  Batch b;
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    for (uint16_t i = 0; i < n; ++i) {
      std::memcpy(rte_pktmbuf_mtod(pkts[i], void*), frame.data(), frame.size());
      b.pkts[i] = pkts[i];
    }
    b.n = n;
    const uint64_t t0 = rte_rdtsc();
    stage->process(b);
    const uint64_t t1 = rte_rdtsc();
    cycles += t1 - t0;
    packets += n;
    state.SetIterationTime(static_cast<double>(t1 - t0) / tsc_hz);
  }
  bool changed = false;
  for (uint16_t i = 0; i < n; ++i) {
    changed |= b.verdict[i] != kPass ||
               std::memcmp(rte_pktmbuf_mtod(pkts[i], void*), frame.data(), frame.size()) != 0;
  }
  rte_pktmbuf_free_bulk(pkts, n);
  if (changed != changes) {
    state.SkipWithError(changes ? "the stage left the frame unchanged"
                                : "the stage changed the frame");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  if (packets != 0) {
    const double cpp = static_cast<double>(cycles) / static_cast<double>(packets);
    state.counters["cyc/pkt"] = cpp;
    state.counters["ns/pkt"] = cpp * 1e9 / tsc_hz;
  }
}

void BM_NormalizeTtlSetIpv4(benchmark::State& s) { run(s, "ttl: {set: 64}", Family::V4, true); }
void BM_NormalizeTtlSetIpv6(benchmark::State& s) { run(s, "ttl: {set: 64}", Family::V6, true); }
void BM_NormalizeTtlClampNoopIpv4(benchmark::State& s) {
  run(s, "ttl: {min: 32, max: 255}", Family::V4, false);
}
void BM_NormalizeIpIdZeroIpv4(benchmark::State& s) { run(s, "ip_id: zero", Family::V4, true); }
void BM_NormalizeIpIdRandomIpv4(benchmark::State& s) {
  run(s, "ip_id: random\nseed: 1", Family::V4, true);
}
void BM_NormalizeIpIdSequentialIpv4(benchmark::State& s) {
  run(s, "ip_id: sequential\nseed: 1", Family::V4, true);
}
void BM_NormalizeTtlAndIdIpv4(benchmark::State& s) {
  run(s, "ttl: {max: 64}\nip_id: random\nseed: 1", Family::V4, true);
}

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

#define NORMALIZE_BENCH(fn) \
  BENCHMARK(fn)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of)
NORMALIZE_BENCH(BM_NormalizeTtlSetIpv4);
NORMALIZE_BENCH(BM_NormalizeTtlSetIpv6);
NORMALIZE_BENCH(BM_NormalizeTtlClampNoopIpv4);
NORMALIZE_BENCH(BM_NormalizeIpIdZeroIpv4);
NORMALIZE_BENCH(BM_NormalizeIpIdRandomIpv4);
NORMALIZE_BENCH(BM_NormalizeIpIdSequentialIpv4);
NORMALIZE_BENCH(BM_NormalizeTtlAndIdIpv4);

}  // namespace
}  // namespace pathlab::bench
