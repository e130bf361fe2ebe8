// tcp_seq: Stage::process on one burst of TCP/IPv4 segments, one flow per packet, in the calling
// thread. The stage rewrites in place and every rewrite is valid again on the next pass (the
// numbers just move on), so the same mbufs go round without any restore.
//   Established      ACK segments of known flows (rewrite: both): bulk lookup, SEQ and ACK
//   EstablishedSack  the same with a two-block SACK option at odd offsets (six more edges)
//   Untracked        segments of flows the table does not know (lookup miss, counted)
// Counters: cyc/pkt and ns/pkt (TSC around process() only), best (cycles/packet of the fastest
// burst), items_per_second.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_ip.h>
#include <rte_tcp.h>
#pragma GCC diagnostic pop

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

enum class Kind { Established, EstablishedSack, Untracked };

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
  set_ip4_meta(m);
}

void run(benchmark::State& state, Kind kind) {
  const auto n = static_cast<uint16_t>(state.range(0));
  std::unique_ptr<Stage> stage =
      make_stage("tcp_seq", "rewrite: both\nseed: 1", StageSite{.router = "bench", .port = "p0"});
  Batch b;
  if (!alloc_burst(state, "tcp_seq_bench", b, n)) return;
  const bool sack = kind == Kind::EstablishedSack;
  if (kind != Kind::Untracked) {
    for (uint16_t i = 0; i < n; ++i)
      write_segment(b.pkts[i], static_cast<uint16_t>(10000 + i), 0x02, false);
    stage->process(b);  // the SYNs create the flows
  }
  for (uint16_t i = 0; i < n; ++i)
    write_segment(b.pkts[i], static_cast<uint16_t>(10000 + i), 0x10, sack);

  BurstTimer timer;
  for (auto _ : state) {
    timer.time(state, n, [&] { stage->process(b); });
  }
  rte_pktmbuf_free_bulk(b.pkts, n);
  timer.report(state, /*with_best=*/true);
}

void BM_TcpSeqEstablished(benchmark::State& s) { run(s, Kind::Established); }
void BM_TcpSeqEstablishedSack(benchmark::State& s) { run(s, Kind::EstablishedSack); }
void BM_TcpSeqUntracked(benchmark::State& s) { run(s, Kind::Untracked); }

STAGE_BENCH(BM_TcpSeqEstablished);
STAGE_BENCH(BM_TcpSeqEstablishedSack);
STAGE_BENCH(BM_TcpSeqUntracked);

}  // namespace
}  // namespace pathlab::bench
