// ipim: Stage::process over one burst, built from YAML through the registry as the dataplane
// builds it, on an egress port with addresses (so ingress and egress are written, not marked
// unavailable). Before each timed call the burst's mbufs are reloaded with a fresh sender's frame
// (untimed), so every call finds a free slot and does the full work. The frames are those of
// `scripts/bench --ipim`: 96-byte UDP/IPv4, IHL 15 (38-byte option with one topology slot + 2 NOP).
//   Accumulate      the option without S: TTL', evolution, min capacity, queue sum; no stamp
//   Stamp           sample: 1 with S set: accumulate and write the topology slot, every packet
//   DefaultSample   the default sample (0.01) with S set: accumulate, a stamp now and then
//   NoOption        plain 96-byte UDP/IPv4: the per-packet look for an option alone
//   Stamp6          sample: 1 on IPv6 with the option (one 44-byte topology slot) in Hop-by-Hop
// Counters: cyc/pkt and ns/pkt (TSC around process() only), items_per_second on one core.
#include <benchmark/benchmark.h>

#include <netinet/in.h>

#include "pathlab/ipim/wire.hpp"
#include "pathlab/net/addr.hpp"
#include "pathlab/net/ip4_options.hpp"
#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

constexpr const char* kKeys = "router_id: 10.0.0.1\ncapacity: 10gbit\n";

// A fresh sender's option: version 1, S as asked, TTL' 64, one zero topology slot.
Frame option(bool ip6, bool sample) {
  const unsigned len = ipim::kOffSlots + ipim::topo_slot_len(ip6);
  Frame o(len, 0);
  o[0] = ip6 ? ipim::kIp6Type : ipim::kIp4Type;
  o[1] = static_cast<uint8_t>(ip6 ? len - 2 : len);
  o[ipim::kOffFlags] = static_cast<uint8_t>(ipim::kVersion << 4 | (sample ? ipim::kFlagSample : 0));
  o[ipim::kOffTtlPrime] = 64;
  ipim::wr32(o.data() + ipim::kOffEvolution, 0x12345678);
  ipim::wr16(o.data() + ipim::kOffMinCap, ipim::kCapMax);
  return o;
}

// 96 bytes: Ethernet + IPv4 (IHL 15 with the option and 2 NOP, or 5 without) + UDP.
Frame udp4(bool with_option, bool sample) {
  if (!with_option) return udp_frame(false, {}, 96 - 14 - 20 - 8);
  Frame opts = option(false, sample);
  opts.insert(opts.end(), {ip4opt::kNop, ip4opt::kNop});
  return udp_frame(false, opts, 96 - 14 - 60 - 8);
}

// Ethernet + IPv6 + Hop-by-Hop (UDP next, the option at 4n+2: 64 bytes) + UDP.
Frame udp6() {
  Frame hbh = {IPPROTO_UDP, 0};
  const Frame o = option(true, true);
  hbh.insert(hbh.end(), o.begin(), o.end());
  hbh[1] = static_cast<uint8_t>(hbh.size() / 8 - 1);
  return udp_frame(true, hbh, 14);
}

// The egress port p1 of a two-port router, both ports with addresses.
StageSite site() {
  StageSite s{.router = "r1", .port = "p1", .egress = true};
  s.ip4 = {*parse_ip4_prefix("10.0.1.1/24")};
  s.ip6 = {*parse_ip6_prefix("fd01::1/64")};
  s.port_ip4 = {{*parse_ip4_prefix("10.0.0.1/24")}, s.ip4};
  s.port_ip6 = {{*parse_ip6_prefix("fd00::1/64")}, s.ip6};
  s.name = "ipim";
  return s;
}

void run(benchmark::State& s, const std::string& extra, const Frame& frame,
         Expect expect = Expect::Changed) {
  run_stage(s, "ipim", kKeys + extra, frame, expect, site());
}

void BM_IpimAccumulate(benchmark::State& s) { run(s, "sample: 1", udp4(true, false)); }
void BM_IpimStamp(benchmark::State& s) { run(s, "sample: 1", udp4(true, true)); }
void BM_IpimDefaultSample(benchmark::State& s) { run(s, "", udp4(true, true)); }
void BM_IpimNoOption(benchmark::State& s) {
  run(s, "sample: 1", udp4(false, false), Expect::Unchanged);
}
void BM_IpimStamp6(benchmark::State& s) { run(s, "sample: 1", udp6()); }

STAGE_BENCH(BM_IpimAccumulate);
STAGE_BENCH(BM_IpimStamp);
STAGE_BENCH(BM_IpimDefaultSample);
STAGE_BENCH(BM_IpimNoOption);
STAGE_BENCH(BM_IpimStamp6);

}  // namespace
}  // namespace pathlab::bench
