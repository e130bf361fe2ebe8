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

#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_ip.h>
#pragma GCC diagnostic pop

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

constexpr size_t kPayload = 1000;

void fill_udp(uint8_t* udp, size_t len) {
  udp[0] = 0x13;  // 5000 -> 53
  udp[1] = 0x88;
  udp[3] = 53;
  udp[4] = static_cast<uint8_t>(len >> 8);
  udp[5] = static_cast<uint8_t>(len);
  for (size_t i = 8; i < len; ++i) udp[i] = static_cast<uint8_t>(i);
}

// Ethernet + IPv4 (10.0.0.2 -> 198.18.0.1) with `opts` + UDP.
Frame udp4(const Frame& opts) {
  const size_t ihl = 20 + opts.size();
  const size_t udp_len = 8 + kPayload;
  Frame f(14 + ihl + udp_len, 0);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = static_cast<uint8_t>(0x40 | ihl / 4);
  ip[2] = static_cast<uint8_t>((ihl + udp_len) >> 8);
  ip[3] = static_cast<uint8_t>(ihl + udp_len);
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t addrs[8] = {10, 0, 0, 2, 198, 18, 0, 1};
  std::memcpy(ip + 12, addrs, 8);
  std::memcpy(ip + 20, opts.data(), opts.size());
  const uint16_t hck = static_cast<uint16_t>(~rte_raw_cksum(ip, ihl));
  std::memcpy(ip + 10, &hck, 2);
  // The UDP checksum over the pseudo-header does not depend on the options.
  fill_udp(ip + ihl, udp_len);
  rte_ipv4_hdr plain{};
  std::memcpy(&plain, ip, 20);
  plain.version_ihl = 0x45;
  plain.total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + udp_len));
  const uint16_t ck = rte_ipv4_udptcp_cksum(&plain, ip + ihl);
  std::memcpy(ip + ihl + 6, &ck, 2);
  return f;
}

// Ethernet + IPv6 (fd00::2 -> 2001:db8::1) + Hop-by-Hop with Router Alert + UDP.
Frame udp6_hbh() {
  const size_t udp_len = 8 + kPayload;
  Frame f(14 + 40 + 8 + udp_len, 0);
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x60;
  ip[4] = static_cast<uint8_t>((8 + udp_len) >> 8);
  ip[5] = static_cast<uint8_t>(8 + udp_len);
  ip[6] = 0;  // Hop-by-Hop
  ip[7] = 64;
  ip[8] = 0xfd;
  ip[23] = 2;
  const uint8_t dst[4] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(ip + 24, dst, 4);
  ip[39] = 1;
  const uint8_t hbh[8] = {17, 0, 5, 2, 0, 0, 1, 0};  // UDP next; Router Alert; PadN(0)
  std::memcpy(ip + 40, hbh, 8);
  fill_udp(ip + 48, udp_len);
  rte_ipv6_hdr plain{};
  std::memcpy(&plain, ip, 40);
  plain.proto = 17;
  plain.payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
  const uint16_t ck = rte_ipv6_udptcp_cksum(&plain, ip + 48);
  std::memcpy(ip + 48 + 6, &ck, 2);
  return f;
}

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
