// ip_options: Stage::process over one burst, built from YAML through the registry as the
// dataplane builds it. Before each timed call the burst's mbufs are rewritten with the input
// frame (untimed), so every call does the full work. UDP with 1000 bytes of data throughout.
//   Strip          ipv4: strip on packets with Record Route (12 bytes): headers move forward
//   StripAllowed   ipv4: strip, allow: [ra] on Router Alert + Record Route: parse and rebuild
//   DropCheck      ipv4: drop on packets without options: the per-packet test alone
//   DstoptsCheck6  drop_dstopts on IPv6 packets with a Hop-by-Hop header: the chain walk
//   Pad6           ipv6_strip: [ra] on IPv6 with Hop-by-Hop Router Alert: padded out in place
// Counters: cyc/pkt and ns/pkt (TSC around process() only), items_per_second on one core.
#include <benchmark/benchmark.h>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

constexpr size_t kPayload = 1000;

// Ethernet + IPv4 (10.0.0.2 -> 198.18.0.1) with `opts` + UDP.
Frame udp4(const Frame& opts) { return udp_frame(false, opts, kPayload); }

// Ethernet + IPv6 (fd00::2 -> 2001:db8::1) + Hop-by-Hop with Router Alert + UDP.
Frame udp6_hbh() { return udp_frame(true, {17, 0, 5, 2, 0, 0, 1, 0}, kPayload); }  // RA, PadN(0)

const Frame kRecordRoute = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const Frame kRaRecordRoute = {0x94, 4, 0, 0, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};

void run(benchmark::State& s, const char* params, const Frame& frame) {
  run_stage(s, "ip_options", params, frame, Expect::Pass);
}

void BM_IpOptionsStrip(benchmark::State& s) { run(s, "ipv4: strip", udp4(kRecordRoute)); }
void BM_IpOptionsStripAllowed(benchmark::State& s) {
  run(s, "ipv4: strip\nallow: [ra]", udp4(kRaRecordRoute));
}
void BM_IpOptionsDropCheck(benchmark::State& s) { run(s, "ipv4: drop", udp4({})); }
void BM_IpOptionsDstoptsCheck6(benchmark::State& s) { run(s, "drop_dstopts: true", udp6_hbh()); }
void BM_IpOptionsPad6(benchmark::State& s) { run(s, "ipv6_strip: [ra]", udp6_hbh()); }

STAGE_BENCH(BM_IpOptionsStrip);
STAGE_BENCH(BM_IpOptionsStripAllowed);
STAGE_BENCH(BM_IpOptionsDropCheck);
STAGE_BENCH(BM_IpOptionsDstoptsCheck6);
STAGE_BENCH(BM_IpOptionsPad6);

}  // namespace
}  // namespace pathlab::bench
