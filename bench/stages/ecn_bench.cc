// ecn stage: Stage::process on one burst (32 or 256) of 64-byte TCP/IPv4 or 74-byte TCP/IPv6
// frames, built through the stage registry as the dataplane builds it. The frames are SYN-ACKs
// with ECE and ECT(0), so every mode has work on every packet; "noop" variants carry nothing the
// mode changes (the cost of looking). After each timed call the frames are rewritten from their
// template, outside the timed region.
//
// Counters: cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second (packets on one core).
#include <benchmark/benchmark.h>
#include <rte_tcp.h>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

constexpr uint8_t kEct0 = 0x02;
constexpr uint8_t kSynAckEce = RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_ECE_FLAG;

void run(benchmark::State& s, const char* params, bool v6, uint8_t tos, Expect expect) {
  run_stage(s, "ecn", params, tcp_frame({.v6 = v6, .tos = tos, .flags = kSynAckEce}), expect);
}

void BM_EcnBleachIpv4(benchmark::State& s) { run(s, "ip: bleach", false, kEct0, Expect::Changed); }
void BM_EcnBleachIpv6(benchmark::State& s) { run(s, "ip: bleach", true, kEct0, Expect::Changed); }
void BM_EcnBleachNoopIpv4(benchmark::State& s) {
  run(s, "ip: bleach", false, 0, Expect::Unchanged);
}
void BM_EcnRewriteIpv4(benchmark::State& s) {
  run(s, "ip: {rewrite: {ect0: ect1}}", false, kEct0, Expect::Changed);
}
void BM_EcnDropEctIpv4(benchmark::State& s) {
  run(s, "ip: drop_ect", false, kEct0, Expect::Changed);
}
void BM_EcnStripSynFlagsIpv4(benchmark::State& s) {
  run(s, "tcp: strip_syn_flags", false, kEct0, Expect::Changed);
}
void BM_EcnStripSynFlagsIpv6(benchmark::State& s) {
  run(s, "tcp: strip_syn_flags", true, kEct0, Expect::Changed);
}
void BM_EcnReflectIpv4(benchmark::State& s) {
  run(s, "tcp: reflect", false, kEct0, Expect::Changed);
}
void BM_EcnIpAndTcpIpv4(benchmark::State& s) {
  run(s, "ip: bleach\ntcp: strip_syn_flags", false, kEct0, Expect::Changed);
}
void BM_EcnMatchedHalfIpv4(benchmark::State& s) {
  run(s, "ip: bleach\nprobability: 0.5\nseed: 1\nmatch: {proto: tcp, sport: 80}", false, kEct0,
      Expect::Changed);
}

STAGE_BENCH(BM_EcnBleachIpv4);
STAGE_BENCH(BM_EcnBleachIpv6);
STAGE_BENCH(BM_EcnBleachNoopIpv4);
STAGE_BENCH(BM_EcnRewriteIpv4);
STAGE_BENCH(BM_EcnDropEctIpv4);
STAGE_BENCH(BM_EcnStripSynFlagsIpv4);
STAGE_BENCH(BM_EcnStripSynFlagsIpv6);
STAGE_BENCH(BM_EcnReflectIpv4);
STAGE_BENCH(BM_EcnIpAndTcpIpv4);
STAGE_BENCH(BM_EcnMatchedHalfIpv4);

}  // namespace
}  // namespace pathlab::bench
