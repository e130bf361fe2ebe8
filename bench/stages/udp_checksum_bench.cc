// udp_checksum stage: Stage::process on one burst (32 or 256) of 64-byte UDP/IPv4 or 74-byte
// UDP/IPv6 frames (a DNS-sized datagram), built through the stage registry as the dataplane builds
// it. The frames carry checksum 0, so every mode has work on every packet; the "noop" variant has
// a checksum already (the cost of looking). After each timed call the frames are rewritten from
// their template, outside the timed region.
//
// Counters: cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second (packets on one core).
#include <benchmark/benchmark.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstring>

#include "stages/stage_bench.hpp"

namespace pathlab::bench {
namespace {

enum class Family { V4, V6 };

// Ether + IPv4 (20) + UDP (8) + 22 bytes (64 in all), or Ether + IPv6 (40) + UDP (8) + 12 bytes;
// the UDP checksum 0 (`zero`) or computed.
Frame udp_frame(Family f, bool zero) {
  const size_t l3 = f == Family::V4 ? 20 : 40, pay = f == Family::V4 ? 22 : 12;
  Frame frame(RTE_ETHER_HDR_LEN + l3 + 8 + pay, 0x5a);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame.data());
  std::memset(frame.data(), 0, RTE_ETHER_HDR_LEN + l3 + 8);
  eth->ether_type = rte_cpu_to_be_16(f == Family::V4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(frame.data() + RTE_ETHER_HDR_LEN + l3);
  udp->src_port = rte_cpu_to_be_16(40001);
  udp->dst_port = rte_cpu_to_be_16(53);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(8 + pay));
  if (f == Family::V4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(l3 + 8 + pay));
    ip->time_to_live = 63;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(0x0a000002);
    ip->dst_addr = rte_cpu_to_be_32(0xc6120001);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    if (!zero) udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
  } else {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
    ip->payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(8 + pay));
    ip->proto = IPPROTO_UDP;
    ip->hop_limits = 63;
    ip->src_addr[0] = 0x20;
    ip->dst_addr[0] = 0x20;
    ip->dst_addr[15] = 1;
    if (!zero) udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
  }
  return frame;
}

void run(benchmark::State& s, const char* params, Family f, bool zero, Expect expect) {
  run_stage(s, "udp_checksum", params, udp_frame(f, zero), expect);
}

void BM_UdpChecksumFillIpv4(benchmark::State& s) {
  run(s, "action: fill", Family::V4, true, Expect::Changed);
}
void BM_UdpChecksumFillIpv6(benchmark::State& s) {
  run(s, "action: fill\nipv6_zero: fill", Family::V6, true, Expect::Changed);
}
void BM_UdpChecksumDropZeroIpv4(benchmark::State& s) {
  run(s, "action: drop_zero", Family::V4, true, Expect::Changed);
}
void BM_UdpChecksumNoopIpv4(benchmark::State& s) {
  run(s, "action: drop_zero", Family::V4, false, Expect::Unchanged);
}
void BM_UdpChecksumIpv6PassCounted(benchmark::State& s) {
  run(s, "action: drop_zero", Family::V6, true, Expect::Unchanged);
}

STAGE_BENCH(BM_UdpChecksumFillIpv4);
STAGE_BENCH(BM_UdpChecksumFillIpv6);
STAGE_BENCH(BM_UdpChecksumDropZeroIpv4);
STAGE_BENCH(BM_UdpChecksumNoopIpv4);
STAGE_BENCH(BM_UdpChecksumIpv6PassCounted);

}  // namespace
}  // namespace pathlab::bench
