// Ethernet input: the rx loop, first step of a burst. Frames that are runts, multi-segment,
// unicast to another MAC, VLAN-tagged or of an unknown EtherType are dropped under named reasons;
// ARP goes to the control path; IPv4 and IPv6 frames go on through IP input (ip_input.cc, in the
// same compilation unit: see input.cc) into rw.in.
#include <type_traits>

#include <rte_prefetch.h>

#include "pathlab/net/parse.hpp"
#include "pathlab/router/router.hpp"
#include "steps.hpp"

namespace pathlab {

template <bool kVerifyCksum>
uint64_t Router::input(RouterWorker& rw, const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n) {
  constexpr uint16_t kEthLen = steps::kEthLen;
  const rte_ether_addr& mac = ports[in].mac;
  Batch& b = rw.in;
  uint16_t bn = 0;  // b.n, kept in a register: the header loads may alias it
  uint16_t n4 = 0;
  uint64_t bytes = 0;
  rte_mbuf* ctrl[kMaxBurst];
  uint16_t nctrl = 0;
  // One loop with the IPv4 view and one without: the view's code, even untaken, costs the plain
  // loop registers (about 5 instructions a packet).
  auto loop = [&](auto views) {
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 3 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
    rte_mbuf* m = pkts[i];
    bytes += m->pkt_len;
    m->port = in;  // from here on, the router-local ingress port (ipim's ingress address)
    if (m->nb_segs != 1) [[unlikely]] {
      drop(rw, Drop::EthMultiSegment, m);
      continue;
    }
    const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t len = m->data_len;
    if (len < kEthLen) [[unlikely]] {
      drop(rw, Drop::EthRunt, m);
      continue;
    }
    const auto* eth = reinterpret_cast<const rte_ether_hdr*>(frame);
    if (!rte_is_same_ether_addr(&eth->dst_addr, &mac) &&
        !rte_is_multicast_ether_addr(&eth->dst_addr)) [[unlikely]] {
      drop(rw, Drop::EthNotForUs, m);
      continue;
    }
    const uint16_t type = rte_be_to_cpu_16(eth->ether_type);
    if (type == parse::kEtherIpv4) [[likely]] {
      uint32_t dst;
      if (!ip4_input<kVerifyCksum>(rw, m, frame + kEthLen, len - kEthLen, dst)) [[unlikely]] continue;
      if constexpr (decltype(views)::value) ip_input::view4(m, frame + kEthLen);
      rw.idx4[n4] = bn;
      rw.dst4[n4++] = dst;
      b.pkts[bn++] = m;
    } else if (type == parse::kEtherIpv6) {
      const IpIn r = ip6_input(rw, in, m, frame + kEthLen, len - kEthLen);
      if (r == IpIn::Keep) {
        b.pkts[bn++] = m;
      } else if (r == IpIn::Control) {
        ctrl[nctrl++] = m;
      }
    } else if (type == parse::kEtherArp) {
      m->tx_offload = steps::l2_l3_lens(0);
      hand_over(m, CtrlKind::Arp, in, 0);
      ctrl[nctrl++] = m;
    } else if (type == parse::kEtherVlan || type == parse::kEtherQinQ) {
      drop(rw, Drop::EthVlan, m);
    } else {
      drop(rw, Drop::EthUnsupported, m);
    }
  }
  };
  if (parse_views) {
    loop(std::true_type{});
  } else {
    loop(std::false_type{});
  }
  b.n = bn;
  rw.n4 = n4;
  if (nctrl != 0) to_ctrl(rw, io, ctrl, nctrl);
  return bytes;
}

// Without and with the software IPv4 header checksum (the NIC may verify it).
template uint64_t Router::input<false>(RouterWorker&, const WorkerIo&, uint8_t, rte_mbuf**, uint16_t);
template uint64_t Router::input<true>(RouterWorker&, const WorkerIo&, uint8_t, rte_mbuf**, uint16_t);

}  // namespace pathlab
