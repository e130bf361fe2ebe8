// normalize stage: Stage::process on one burst (32 or 256) of 64-byte TCP/IPv4 or 74-byte
// TCP/IPv6 frames, built through the stage registry as the dataplane builds it. The frames have
// TTL 200 and IPv4 ID 0x1234, so every mode has work on every packet; the "noop" variant is
// within its clamp (the cost of looking). After each timed call the frames are rewritten from
// their template, outside the timed region.
//
// Counters: cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second (packets on one core).
#include <benchmark/benchmark.h>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

void run(benchmark::State& s, const char* params, bool v6, Expect expect) {
  run_stage(s, "normalize", params, tcp_frame({.v6 = v6, .ttl = 200, .ip_id = 0x1234}), expect);
}

void BM_NormalizeTtlSetIpv4(benchmark::State& s) {
  run(s, "ttl: {set: 64}", false, Expect::Changed);
}
void BM_NormalizeTtlSetIpv6(benchmark::State& s) {
  run(s, "ttl: {set: 64}", true, Expect::Changed);
}
void BM_NormalizeTtlClampNoopIpv4(benchmark::State& s) {
  run(s, "ttl: {min: 32, max: 255}", false, Expect::Unchanged);
}
void BM_NormalizeIpIdZeroIpv4(benchmark::State& s) {
  run(s, "ip_id: zero", false, Expect::Changed);
}
void BM_NormalizeIpIdRandomIpv4(benchmark::State& s) {
  run(s, "ip_id: random\nseed: 1", false, Expect::Changed);
}
void BM_NormalizeIpIdSequentialIpv4(benchmark::State& s) {
  run(s, "ip_id: sequential\nseed: 1", false, Expect::Changed);
}
void BM_NormalizeTtlAndIdIpv4(benchmark::State& s) {
  run(s, "ttl: {max: 64}\nip_id: random\nseed: 1", false, Expect::Changed);
}

STAGE_BENCH(BM_NormalizeTtlSetIpv4);
STAGE_BENCH(BM_NormalizeTtlSetIpv6);
STAGE_BENCH(BM_NormalizeTtlClampNoopIpv4);
STAGE_BENCH(BM_NormalizeIpIdZeroIpv4);
STAGE_BENCH(BM_NormalizeIpIdRandomIpv4);
STAGE_BENCH(BM_NormalizeIpIdSequentialIpv4);
STAGE_BENCH(BM_NormalizeTtlAndIdIpv4);

}  // namespace
}  // namespace pathlab::bench
