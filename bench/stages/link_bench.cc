// link: one burst of 64-byte TCP/IPv4 frames through Link::process and then Link::drain at the
// time the last of them has left, as a worker loop does at line rate: each packet is queued,
// serialized at 10 Gbit/s, held and released once. The engine clock advances by the burst's
// wire time (67.2 ns a frame), so the queue never fills and nothing is dropped.
//   Rate       rate: 10gbit
//   Delay      rate: 10gbit, delay: 10us, jitter: 2us (normal, no reordering)
//   CodelEcn   rate: 10gbit, aqm: codel with ecn (the AQM decision per packet)
// Counters: cyc/pkt and ns/pkt (TSC around process() + drain()), best, items_per_second.
#include <benchmark/benchmark.h>

#include "pathlab/engine/batch.hpp"
#include "pathlab/stages/link.hpp"
#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

constexpr double kWireNs = (60 + 24) * 8 / 10.0;  // a 64 B frame (60 B in the mbuf) at 10 Gbit/s

void run(benchmark::State& state, const std::string& params) {
  const auto n = static_cast<uint16_t>(state.range(0));
  std::vector<rte_mbuf*> mbufs = alloc_mbufs(state, "link_bench", n);
  if (mbufs.empty()) return;
  const Frame f = tcp_frame({});
  for (rte_mbuf* m : mbufs) {
    load_frame(m, f);
    rte_pktmbuf_trim(m, 4);  // 60 B in the mbuf: a 64 B frame with its FCS
  }
  auto stage = make_stage("link", params);
  auto* link = dynamic_cast<Link*>(stage.get());
  Batch b;
  BurstTimer timer;
  Nanos now = 1'000'000'000;
  const auto step = static_cast<Nanos>(kWireNs * n) + 1;
  uint64_t released = 0;
  const Nanos extra = link->params().delay + 10 * link->params().jitter;  // past any normal draw
  for (auto _ : state) {
    for (uint16_t i = 0; i < n; ++i) b.pkts[i] = mbufs[i];
    b.n = n;
    b.ngen = 0;
    b.now = now;
    uint16_t got = 0;
    timer.time(state, n, [&] {
      link->process(b);
      got = link->drain(now + step + extra, mbufs.data(), n);
    });
    if (got != n) {
      state.SkipWithError("the link did not release the burst");
      break;
    }
    released += got;
    now += step + extra;
  }
  timer.report(state, true);
  state.counters["released"] = static_cast<double>(released);
  for (rte_mbuf* m : mbufs) rte_pktmbuf_free(m);
}

void BM_LinkRate(benchmark::State& s) { run(s, "rate: 10gbit"); }
void BM_LinkDelay(benchmark::State& s) {
  run(s, "rate: 10gbit\ndelay: 10us\njitter: 2us\ndistribution: normal");
}
void BM_LinkCodelEcn(benchmark::State& s) {
  run(s, "rate: 10gbit\naqm: {type: codel, ecn: true}");
}

STAGE_BENCH(BM_LinkRate);
STAGE_BENCH(BM_LinkDelay);
STAGE_BENCH(BM_LinkCodelEcn);

}  // namespace
}  // namespace pathlab::bench
