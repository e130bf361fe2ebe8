// dscp stage: Stage::process on one burst (32 or 256) of 64-byte TCP/IPv4 or 74-byte TCP/IPv6
// frames, built through the stage registry as the dataplane builds it. The frames carry DSCP AF11
// with ECT(0), so every mode has work on every packet; the "noop" variant already carries the
// value set (the cost of looking). After each timed call the frames are rewritten from their
// template, outside the timed region.
//
// Counters: cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second (packets on one core).
#include <benchmark/benchmark.h>
#include <rte_tcp.h>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

constexpr uint8_t kAf11Ect0 = 10 << 2 | 0x02;

void run(benchmark::State& s, const char* params, bool v6, Expect expect) {
  run_stage(s, "dscp", params, tcp_frame({.v6 = v6, .tos = kAf11Ect0, .flags = RTE_TCP_ACK_FLAG}),
            expect);
}

void BM_DscpSetIpv4(benchmark::State& s) { run(s, "action: {set: ef}", false, Expect::Changed); }
void BM_DscpSetIpv6(benchmark::State& s) { run(s, "action: {set: ef}", true, Expect::Changed); }
void BM_DscpSetNoopIpv4(benchmark::State& s) {
  run(s, "action: {set: af11}", false, Expect::Unchanged);
}
void BM_DscpZeroEcnZeroIpv4(benchmark::State& s) {
  run(s, "action: zero\necn: zero", false, Expect::Changed);
}
void BM_DscpBleachPrecedenceIpv4(benchmark::State& s) {
  run(s, "action: bleach_precedence", false, Expect::Changed);
}
void BM_DscpMapIpv6(benchmark::State& s) {
  run(s, "action: {map: {af11: cs1, ef: 0}}", true, Expect::Changed);
}

STAGE_BENCH(BM_DscpSetIpv4);
STAGE_BENCH(BM_DscpSetIpv6);
STAGE_BENCH(BM_DscpSetNoopIpv4);
STAGE_BENCH(BM_DscpZeroEcnZeroIpv4);
STAGE_BENCH(BM_DscpBleachPrecedenceIpv4);
STAGE_BENCH(BM_DscpMapIpv6);

}  // namespace
}  // namespace pathlab::bench
