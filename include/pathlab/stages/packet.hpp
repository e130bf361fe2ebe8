#pragma once
// What a rewriting stage needs: the packet view (net/view.hpp, parsed once by the input step),
// field access (net/bytes.hpp) and the checksum helpers (net/checksum.hpp, net/l4_checksum.hpp).
// Nothing past the IP packet's own length is read or written.
#include <cstdint>
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"
#include "pathlab/net/constants.hpp"
#include "pathlab/net/l4_checksum.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/ptype.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab {

// The stored view (net/view.hpp) as pointers; l3-only stages read the same view.
inline bool view_l3(rte_mbuf* m, PktView& v) { return view_packet(m, v); }

// A cheap look for stages that act only on TCP SYNs: true when the packet is certainly not TCP
// with SYN set.
inline bool surely_not_tcp_syn(const rte_mbuf* m) {
  const StoredView& s = stored_view(m);
  return (s.flags & kViewTcpOk) == 0 || (s.tcp_flags & kTcpSyn) == 0;
}

// The IPv4 ToS byte or the IPv6 traffic class (across bytes 0-1): DSCP in the high six bits, ECN
// in the low two.
inline uint8_t traffic_class(const PktView& v) {
  if (v.version == 4) return v.l3[1];
  return static_cast<uint8_t>((v.l3[0] & 0x0f) << 4 | v.l3[1] >> 4);
}

// IPv4 keeps its header checksum (RFC 1624; TCP/UDP pseudo-headers do not cover the ToS). The
// IPv6 traffic class is under no checksum.
inline void set_traffic_class(const PktView& v, uint8_t tc) {
  if (v.version == 4) {
    const uint8_t w[2] = {v.l3[0], tc};
    csum::ip4_set16(v.l3, 0, get16(w));
  } else {
    v.l3[0] = static_cast<uint8_t>((v.l3[0] & 0xf0) | tc >> 4);
    v.l3[1] = static_cast<uint8_t>((v.l3[1] & 0x0f) | tc << 4);
  }
}

// A reply's frame keeps the received MAC addresses (the router rewrites them) but no VLAN tags:
// routed packets carry a 14-byte Ethernet header. `frame` starts l2_len bytes before the IP header.
inline void untag_reply(rte_mbuf* m, uint16_t l2_len, bool v4) {
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  if (l2_len > parse::kEtherHdrLen) {
    std::memmove(frame + (l2_len - parse::kEtherHdrLen), frame, 12);
    frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, l2_len - parse::kEtherHdrLen));
  }
  store_be16(frame + 12, v4 ? parse::kEtherIpv4 : parse::kEtherIpv6);
  m->l2_len = parse::kEtherHdrLen;
  m->l3_len = v4 ? 20 : 40;
  m->packet_type = v4 ? kPtype4 : kPtype6;
}

}  // namespace pathlab
