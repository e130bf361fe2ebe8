// Router::process, one burst at a time in the calling thread: Ethernet/IP input checks, LPM
// lookup, TTL or hop-limit decrement (IPv4: RFC 1624 checksum update), neighbour lookup, L2
// rewrite and the enqueue on the egress link ring. The mbufs are recycled: after each burst the
// ring is drained and the bytes the router changed (destination MAC, TTL, checksum) are put back,
// outside the timed region, so the figure is forwarding and not allocation or packet building.
//
// Timing is manual: rte_rdtsc around process() only. Counters:
//   cyc/pkt   TSC cycles per packet (the TSC runs at a fixed rate; see tsc_MHz)
//   best      cyc/pkt of the fastest burst: what a burst costs when nothing else ran on the
//             core during it (on a shared machine the steadier figure)
//   ns/pkt    the same in nanoseconds
//   items_per_second (from SetItemsProcessed): packets per second on one core
//
// Topology (links so that every port is a ring port; no device is needed):
//   r1.p0 (10.0.0.1, 02:00:00:00:00:01) <-> r2.p0
//   r1.p1 (10.0.1.1)                    <-> r2.p1 (10.0.1.2, fd00:1::2)
//   r1 routes 198.18.0.0/15 via 10.0.1.2 and 2001:db8::/32 via fd00:1::2, both out of p1.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "common.hpp"
#include "pathlab/config/loader.hpp"
#include "pathlab/engine/dataplane.hpp"
#include "pathlab/router/meta.hpp"

namespace pathlab::bench {
namespace {

constexpr rte_ether_addr kP0Mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr rte_ether_addr kHostMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x99}};
constexpr uint8_t kTtl = 64;
constexpr uint16_t kIp4Frame = 64;   // 14 + 20 + 20 + 10 bytes of payload, no padding to trim
constexpr uint16_t kIp6Frame = 74;   // 14 + 40 + 20: the smallest IPv6 TCP frame
constexpr uint16_t kIp4MbFrame = 66;  // 14 + 20 + 32 (NOP NOP TS)

enum class Family { V4, V6 };

// What r1.p0's ingress runs: nothing, one `count`, or pipelines/middlebox.yaml's four stages.
enum class Ingress { None, Count, Middlebox };

constexpr const char* kMiddlebox =
    "ingress: [{stage: ecn, ip: bleach}, {stage: dscp, action: {map: {ef: af41, cs5: af41, "
    "af11: cs0}}}, {stage: tcp_options, strip: [timestamp, sack_permitted], how: nop}, "
    "{stage: mss, clamp: 1452}]";

std::string config_yaml(Ingress ingress) {
  return fmt::format(R"(
process:
  idle: spin
  burst: 256
routers:
  - id: r1
    ports:
      - name: p0
        mac: "02:00:00:00:00:01"
        ipv4: [10.0.0.1/24]
        ipv6: ["fd00::1/64"]
        {}
      - name: p1
        mac: "02:00:00:00:01:01"
        ipv4: [10.0.1.1/24]
        ipv6: ["fd00:1::1/64"]
    routes:
      - {{prefix: 198.18.0.0/15, via: 10.0.1.2}}
      - {{prefix: "2001:db8::/32", via: "fd00:1::2"}}
  - id: r2
    ports:
      - name: p0
        ipv4: [10.0.0.2/24]
        ipv6: ["fd00::2/64"]
      - name: p1
        mac: "02:00:00:00:01:02"
        ipv4: [10.0.1.2/24]
        ipv6: ["fd00:1::2/64"]
links:
  - {{name: a, ends: [r1.p0, r2.p0]}}
  - {{name: b, ends: [r1.p1, r2.p1], ring_size: 1024}}
)",
                     ingress == Ingress::Count       ? "ingress: [count]"
                     : ingress == Ingress::Middlebox ? kMiddlebox
                                                     : "");
}

// 64-byte TCP/IPv4 frame to 198.18.0.1 (or 74-byte TCP/IPv6 to 2001:db8::1), addressed to r1.p0.
// mb (IPv4 only): what scripts/bench --middlebox sends, 66 bytes with ToS EF + ECT(0) and the
// options NOP NOP TS, no payload: every middlebox stage but mss acts on it.
void write_frame(rte_mbuf* m, Family f, bool mb = false) {
  rte_pktmbuf_reset(m);
  const uint16_t len = f == Family::V4 ? (mb ? kIp4MbFrame : kIp4Frame) : kIp6Frame;
  auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
  std::memset(frame, 0, len);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  eth->dst_addr = kP0Mac;
  eth->src_addr = kHostMac;
  rte_tcp_hdr* tcp = nullptr;
  if (f == Family::V4) {
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(len - RTE_ETHER_HDR_LEN);
    if (mb) ip->type_of_service = 0xba;  // EF, ECT(0)
    ip->packet_id = rte_cpu_to_be_16(1);
    ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = kTtl;
    ip->next_proto_id = IPPROTO_TCP;
    ip->src_addr = rte_cpu_to_be_32(0x0a000002);  // 10.0.0.2
    ip->dst_addr = rte_cpu_to_be_32(0xc6120001);  // 198.18.0.1
    tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  } else {
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
    ip->payload_len = rte_cpu_to_be_16(kIp6Frame - RTE_ETHER_HDR_LEN - 40);
    ip->proto = IPPROTO_TCP;
    ip->hop_limits = kTtl;
    const uint8_t src[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(ip->src_addr, src, 16);
    std::memcpy(ip->dst_addr, dst, 16);
    tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  }
  tcp->src_port = rte_cpu_to_be_16(40000);
  tcp->dst_port = rte_cpu_to_be_16(80);
  tcp->data_off = (mb ? 8 : 5) << 4;
  if (mb) {
    const uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    std::memcpy(tcp + 1, opts, sizeof opts);
  }
  tcp->tcp_flags = RTE_TCP_ACK_FLAG;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  if (f == Family::V4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  } else {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    tcp->cksum = rte_ipv6_udptcp_cksum(ip, tcp);
  }
  std::memset(rte_mbuf_to_priv(m), 0, sizeof(PktMeta));
}

// One built (never launched) dataplane per variant, kept across the repeated calls Google
// Benchmark makes for one benchmark, and rebuilt when the variant changes (the EAL object names
// are fixed, so two cannot coexist).
struct Fixture {
  Ingress ingress = Ingress::None;
  std::unique_ptr<Dataplane> dp;
  Router* r1 = nullptr;
  rte_ring* egress = nullptr;  // r1.p1's tx ring
  std::array<rte_mbuf*, kMaxBurst> pkts{};
  std::array<rte_mbuf*, kMaxBurst> out{};
  uint16_t ipv4_cksum = 0;     // the checksum of the frame as built
  Family family = Family::V4;
  uint16_t built = 0;

  explicit Fixture(Ingress in) : ingress(in) {
    const Config cfg = load_config_string(config_yaml(in), "bench.yaml", {});
    dp = std::make_unique<Dataplane>(cfg);
    dp->build();
    r1 = dp->router("r1");
    egress = r1->port(1).tx_ring;
  }
  ~Fixture() {
    for (uint16_t i = 0; i < built; ++i) rte_pktmbuf_free(pkts[i]);
    dp.reset();
  }

  // (Re)writes `n` frames of family f; allocates on first use.
  bool prepare(Family f, uint16_t n) {
    if (built < n) {
      if (rte_pktmbuf_alloc_bulk(dp->pool(), pkts.data() + built, n - built) != 0) return false;
      built = n;
    }
    family = f;
    for (uint16_t i = 0; i < built; ++i) write_frame(pkts[i], f, ingress == Ingress::Middlebox);
    if (f == Family::V4) {
      ipv4_cksum = rte_pktmbuf_mtod_offset(pkts[0], rte_ipv4_hdr*, RTE_ETHER_HDR_LEN)->hdr_checksum;
    }
    return true;
  }

  // Puts back what forwarding changed: destination MAC, TTL/hop limit, IPv4 checksum.
  // The middlebox stages change more (ToS, options, TCP checksum): the frame is rewritten.
  void restore(rte_mbuf* m) const {
    if (ingress == Ingress::Middlebox) return write_frame(m, family, true);
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eth->dst_addr = kP0Mac;
    if (family == Family::V4) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
      ip->time_to_live = kTtl;
      ip->hdr_checksum = ipv4_cksum;
    } else {
      reinterpret_cast<rte_ipv6_hdr*>(eth + 1)->hop_limits = kTtl;
    }
  }
};

std::unique_ptr<Fixture>& fixture_slot() {
  static std::unique_ptr<Fixture> f;
  static bool hooked = false;
  if (!hooked) {
    hooked = true;
    at_teardown([] { fixture_slot().reset(); });
  }
  return f;
}

Fixture& fixture(Ingress ingress) {
  auto& f = fixture_slot();
  if (!f || f->ingress != ingress) {
    f.reset();
    f = std::make_unique<Fixture>(ingress);
  }
  return *f;
}

void forward(benchmark::State& state, Family family, Ingress ingress) {
  const auto n = static_cast<uint16_t>(state.range(0));
  Fixture* fx = nullptr;
  try {
    fx = &fixture(ingress);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  if (!fx->prepare(family, n)) {
    state.SkipWithError("mbuf allocation failed");
    return;
  }
  const WorkerIo io = fx->dp->worker(0).io;
  rte_mbuf** pkts = fx->pkts.data();
  rte_mbuf** out = fx->out.data();
  const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0;
  uint64_t packets = 0;
  uint64_t best = UINT64_MAX;

  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    fx->r1->process(io, 0, pkts, n, 0);
    const uint64_t t1 = rte_rdtsc();
    const unsigned got = rte_ring_sc_dequeue_burst(fx->egress, reinterpret_cast<void**>(out), n, nullptr);
    if (got != n) [[unlikely]] {
      // Not forwarded (dropped, or handed to the control path): the mbufs are gone.
      for (unsigned i = 0; i < got; ++i) rte_pktmbuf_free(out[i]);
      fx->built = 0;
      state.SkipWithError(fmt::format("{} of {} packets came out of r1.p1", got, n).c_str());
      break;
    }
    for (uint16_t i = 0; i < n; ++i) {
      fx->restore(out[i]);
      pkts[i] = out[i];
    }
    cycles += t1 - t0;
    best = std::min(best, t1 - t0);
    packets += n;
    state.SetIterationTime(static_cast<double>(t1 - t0) / tsc_hz);
  }
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  if (packets != 0) {
    const double cpp = static_cast<double>(cycles) / static_cast<double>(packets);
    state.counters["cyc/pkt"] = cpp;
    state.counters["ns/pkt"] = cpp * 1e9 / tsc_hz;
    state.counters["best"] = static_cast<double>(best) / n;
    state.counters["tsc_MHz"] = tsc_hz / 1e6;
  }
}

void BM_ForwardIpv4(benchmark::State& s) { forward(s, Family::V4, Ingress::None); }
void BM_ForwardIpv6(benchmark::State& s) { forward(s, Family::V6, Ingress::None); }
void BM_ForwardIpv4CountStage(benchmark::State& s) { forward(s, Family::V4, Ingress::Count); }
void BM_ForwardIpv6CountStage(benchmark::State& s) { forward(s, Family::V6, Ingress::Count); }
// The four middlebox stages on 66-byte frames they all act on (see write_mb_frame).
void BM_ForwardIpv4Middlebox(benchmark::State& s) { forward(s, Family::V4, Ingress::Middlebox); }

// On a shared machine other work only ever adds cycles: with --benchmark_repetitions=N the
// "min" aggregate (of every counter too) is the figure to quote.
double min_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

BENCHMARK(BM_ForwardIpv4)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_ForwardIpv6)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_ForwardIpv4CountStage)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_ForwardIpv6CountStage)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);
BENCHMARK(BM_ForwardIpv4Middlebox)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", min_of);

}  // namespace
}  // namespace pathlab::bench
