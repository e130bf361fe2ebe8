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

#include <memory>
#include <vector>

#include "pathlab/engine/chain.hpp"
#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

const Frame kLinuxSyn = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
const Frame kAckTs = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};

Frame tcp4(const Frame& opts, uint8_t flags, size_t payload, uint8_t tos = 0) {
  return tcp_options_frame(false, opts, flags, payload, tos);
}

void run(benchmark::State& s, const char* params, const Frame& frame) {
  run_stage(s, "tcp_options", params, frame, Expect::Pass);
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
    stages.push_back(make_stage("ecn", "ip: bleach"));
    stages.push_back(make_stage("dscp", "action: {map: {ef: af41, cs5: af41, af11: cs0}}"));
    stages.push_back(make_stage("tcp_options", "strip: [timestamp, sack_permitted]\nhow: nop"));
    stages.push_back(make_stage("mss", "clamp: 1452"));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Chain chain(std::move(stages));
  std::vector<rte_mbuf*> mbufs = alloc_mbufs(state, "tcp_options_bench", n);
  if (mbufs.empty()) return;
  Batch b;
  BurstTimer timer;
  reload_and_time(
      state, mbufs, b, timer, [&](uint16_t i) -> const Frame& { return i % 16 == 0 ? syn : ack; },
      [&](Batch& burst) { chain.run(burst); });
  if (b.n != n) state.SkipWithError("the chain dropped packets");
  // Every packet changed: ToS AF41 not-ECT, TS (and SACKOK) NOPed, the SYN's MSS clamped.
  const auto* ip = rte_pktmbuf_mtod_offset(mbufs[0], const uint8_t*, 14);
  if (ip[1] != (34 << 2) || ip[20 + 26] != 1 || ip[20 + 22] != 0x05 || ip[20 + 23] != 0xac) {
    state.SkipWithError("the chain did not rewrite the SYN as expected");
  }
  rte_pktmbuf_free_bulk(mbufs.data(), n);
  timer.report(state);
}

STAGE_BENCH(BM_TcpOptionsStripNop);
STAGE_BENCH(BM_TcpOptionsStripRemove);
STAGE_BENCH(BM_TcpOptionsAllowRemove);
STAGE_BENCH(BM_TcpOptionsDropSynCheck);
STAGE_BENCH(BM_TcpOptionsNothingToStrip);
STAGE_BENCH(BM_MiddleboxChain);

}  // namespace
}  // namespace pathlab::bench
