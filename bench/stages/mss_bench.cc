// mss: Stage::process over one burst, built from YAML through the registry as the dataplane
// builds it. Before each timed call the burst's mbufs are rewritten with the input frame
// (untimed), so every call does the full work.
//   Clamp          clamp: 1360 on IPv4 SYNs announcing 1460 (MSS SACKOK TS NOP WS)
//   ClampToMtu6    clamp_to_mtu on IPv6 SYNs announcing 1460 (port MTU 1500: 1440)
//   Set            set: 9000 (inflation) on the IPv4 SYNs
//   AddIfMissing   clamp: 1360, add_if_missing on IPv4 SYNs without MSS: headers move back 4 bytes
//   NotSyn         clamp: 1360 on ACKs with 1000 bytes of data: the per-packet test alone
// Counters: cyc/pkt and ns/pkt (TSC around process() only), items_per_second on one core.
#include <benchmark/benchmark.h>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

const Frame kLinuxSyn = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
const Frame kNoMssSyn = {4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
constexpr uint8_t kSyn = 0x02, kAck = 0x10;

void run(benchmark::State& s, const char* params, const Frame& frame) {
  run_stage(s, "mss", params, frame, Expect::Pass,
            StageSite{.router = "r1", .port = "p0", .port_mtu = 1500});
}

void BM_MssClamp(benchmark::State& s) {
  run(s, "clamp: 1360", tcp_options_frame(false, kLinuxSyn, kSyn, 0));
}
void BM_MssClampToMtu6(benchmark::State& s) {
  run(s, "clamp_to_mtu: true", tcp_options_frame(true, kLinuxSyn, kSyn, 0));
}
void BM_MssSet(benchmark::State& s) {
  run(s, "set: 9000", tcp_options_frame(false, kLinuxSyn, kSyn, 0));
}
void BM_MssAddIfMissing(benchmark::State& s) {
  run(s, "clamp: 1360\nadd_if_missing: true", tcp_options_frame(false, kNoMssSyn, kSyn, 0));
}
void BM_MssNotSyn(benchmark::State& s) {
  run(s, "clamp: 1360", tcp_options_frame(false, {}, kAck, 1000));
}

STAGE_BENCH(BM_MssClamp);
STAGE_BENCH(BM_MssClampToMtu6);
STAGE_BENCH(BM_MssSet);
STAGE_BENCH(BM_MssAddIfMissing);
STAGE_BENCH(BM_MssNotSyn);

}  // namespace
}  // namespace pathlab::bench
