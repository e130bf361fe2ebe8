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

enum class Kind { Pass, Drop, RejectIcmp, RejectRst };

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
  set_ip4_meta(m);
}

void run(benchmark::State& state, Kind kind) {
  const auto n = static_cast<uint16_t>(state.range(0));
  const char* params = kind == Kind::Pass   ? "match: {proto: tcp}"
                       : kind == Kind::Drop ? "match: {proto: udp, dport: 443}"
                       : kind == Kind::RejectIcmp
                           ? "action: reject\nrate: 10000000\nburst: 1000000"
                           : "action: reject\nreject_with: tcp_rst\nrate: 10000000\nburst: 1000000";
  std::unique_ptr<Stage> stage = make_stage(
      "block", params,
      StageSite{.router = "bench", .port = "p0", .ip4 = {Ip4Prefix{Ip4Addr{0x0a000001}, 24}}});
  const bool tcp = kind == Kind::RejectRst;
  const bool rewrites = kind == Kind::RejectIcmp || kind == Kind::RejectRst;
  Batch b;
  if (!alloc_burst(state, "block_bench", b, n)) return;
  for (uint16_t i = 0; i < n; ++i) write_frame(b.pkts[i], tcp);

  BurstTimer timer;
  for (auto _ : state) {
    timer.time(state, n, [&] { stage->process(b); });
    if (rewrites) {
      if (b.verdict[n - 1] != kGenerated) [[unlikely]] {
        state.SkipWithError("no reply generated (rate limit?)");
        break;
      }
      for (uint16_t i = 0; i < n; ++i) write_frame(b.pkts[i], tcp);
    }
  }
  rte_pktmbuf_free_bulk(b.pkts, n);
  timer.report(state, /*with_best=*/true);
}

void BM_BlockPass(benchmark::State& s) { run(s, Kind::Pass); }
void BM_BlockDrop(benchmark::State& s) { run(s, Kind::Drop); }
void BM_BlockRejectIcmp(benchmark::State& s) { run(s, Kind::RejectIcmp); }
void BM_BlockRejectRst(benchmark::State& s) { run(s, Kind::RejectRst); }

STAGE_BENCH(BM_BlockPass);
STAGE_BENCH(BM_BlockDrop);
STAGE_BENCH(BM_BlockRejectIcmp);
STAGE_BENCH(BM_BlockRejectRst);

}  // namespace
}  // namespace pathlab::bench
