// evil_bit stage: Stage::process on one burst (32 or 256) of 64-byte TCP/IPv4 frames, with or
// without RFC 3514's flag, built through the stage registry as the dataplane builds it.
// Counters: cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second (packets on one core).
#include <benchmark/benchmark.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

Frame frame(bool evil) {
  Frame f = tcp_frame(TcpFrame{});
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + RTE_ETHER_HDR_LEN);
  if (evil) ip->fragment_offset |= rte_cpu_to_be_16(0x8000);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return f;
}

void BM_EvilBitClear(benchmark::State& s) {
  run_stage(s, "evil_bit", "action: clear", frame(true), Expect::Changed);
}
void BM_EvilBitClearNoop(benchmark::State& s) {
  run_stage(s, "evil_bit", "action: clear", frame(false), Expect::Unchanged);
}
void BM_EvilBitSet(benchmark::State& s) {
  run_stage(s, "evil_bit", "action: set", frame(false), Expect::Changed);
}
void BM_EvilBitDropIfSet(benchmark::State& s) {
  run_stage(s, "evil_bit", "action: drop_if_set", frame(true), Expect::Changed);
}

STAGE_BENCH(BM_EvilBitClear);
STAGE_BENCH(BM_EvilBitClearNoop);
STAGE_BENCH(BM_EvilBitSet);
STAGE_BENCH(BM_EvilBitDropIfSet);

}  // namespace
}  // namespace pathlab::bench
