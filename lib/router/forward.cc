// Forward, after the ingress stages: route lookup (rte_lpm bulk for the burst's IPv4 packets,
// rte_lpm6 for IPv6), then local delivery (echo requests answered in place), TTL / hop limit and
// MTU checks, the TTL decrement, and the packet's place in its output port's batch. Packets the
// router originates (ICMP errors, echo replies, stage replies) are routed here too, without a
// TTL decrement. NAT sits around the route lookup: a DNAT stage at the end of the ingress chain
// before it, an SNAT stage on the egress chain after it.
#include <cstring>

#include <rte_icmp.h>
#include <rte_ip.h>

#include "pathlab/net/checksum.hpp"
#include "pathlab/net/icmp.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/view.hpp"
#include "pathlab/router/router.hpp"
#include "steps.hpp"

namespace pathlab {
namespace {

using steps::kEthLen;

// TTL decrement with an incremental checksum update (RFC 1624) of the TTL/protocol word. The
// word is stored whole: a byte store then a word load of it would stall store forwarding.
// With a TTL of 1 or more the word loses exactly d = htons(0x0100) with no borrow, so
// ~old_w + new_w is the constant 0xffff - d: csum::update16's sum, bit for bit, with one fold.
inline void decrement_ttl4(rte_ipv4_hdr* h) {
  const uint16_t d = rte_cpu_to_be_16(0x0100);
  uint16_t old_w;
  std::memcpy(&old_w, &h->time_to_live, 2);
  const uint16_t new_w = static_cast<uint16_t>(old_w - d);
  std::memcpy(&h->time_to_live, &new_w, 2);
  uint32_t s = static_cast<uint16_t>(~h->hdr_checksum) + (0xffffu - d);
  s = (s & 0xffff) + (s >> 16);
  h->hdr_checksum = static_cast<uint16_t>(~s);
}

inline void enqueue(Batch& b, rte_mbuf* m) { b.pkts[b.n++] = m; }

}  // namespace

void Router::forward(RouterWorker& rw, uint8_t in, bool gathered) {
  Batch& b = rw.in;
  uint32_t* dst4 = rw.dst4;
  uint16_t* idx4 = rw.idx4;
  uint16_t n4 = rw.n4;
  if (!gathered) {  // stages may have dropped, reordered or rewritten packets
    n4 = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      if (b.pkts[i]->packet_type == kPtype4) {
        const auto* h = rte_pktmbuf_mtod_offset(b.pkts[i], const rte_ipv4_hdr*, kEthLen);
        dst4[n4] = rte_be_to_cpu_32(h->dst_addr);
        idx4[n4++] = i;
      }
    }
  }
  uint32_t hop4[kMaxBurst];
  if (n4 != 0) rte_lpm_lookup_bulk(lpm4, dst4, hop4, n4);

  if (n4 == b.n) [[likely]] {  // IPv4 only
    // Consecutive packets mostly share a next hop: its output batch and MTU are kept.
    uint32_t last_nh = UINT32_MAX;
    Batch* ob = nullptr;
    uint32_t mtu = 0;  // 0 for a local next hop
    for (uint16_t i = 0; i < n4; ++i) {
      rte_mbuf* m = b.pkts[i];
      const uint32_t r = hop4[i];
      // forward4's common case inline: routed, not local, TTL above 1, within the MTU.
      if (r & RTE_LPM_LOOKUP_SUCCESS) [[likely]] {
        const uint32_t nh = r & 0x00ffffff;
        if (nh != last_nh) [[unlikely]] {
          const NextHop& hop = nexthops[nh];
          last_nh = nh;
          ob = &rw.out[hop.port];
          mtu = hop.kind == NextHop::Kind::Local ? 0 : ports[hop.port].mtu;
        }
        auto* h = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, kEthLen);
        // total - 1 < mtu: within the MTU, and never for a local hop (mtu 0).
        if (h->time_to_live > 1 && rte_be_to_cpu_16(h->total_length) - 1u < mtu) [[likely]] {
          decrement_ttl4(h);
          m->hash.usr = nh;
          enqueue(*ob, m);
          continue;
        }
      }
      forward4(rw, in, m, r & 0x00ffffff, (r & RTE_LPM_LOOKUP_SUCCESS) != 0);
    }
    b.n = 0;
    return;
  }
  uint16_t j = 0;
  for (uint16_t i = 0; i < b.n; ++i) {
    rte_mbuf* m = b.pkts[i];
    if (j < n4 && idx4[j] == i) {
      const uint32_t r = hop4[j++];
      forward4(rw, in, m, r & 0x00ffffff, (r & RTE_LPM_LOOKUP_SUCCESS) != 0);
    } else {
      const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen);
      uint32_t nh = 0;
      const bool found = rte_lpm6_lookup(lpm6, h->dst_addr, &nh) == 0;
      forward6(rw, in, m, nh, found);
    }
  }
  b.n = 0;
}

bool Router::forward4(RouterWorker& rw, uint8_t in, rte_mbuf* m, uint32_t nh, bool found) {
  auto* h = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, kEthLen);
  if (!found) [[unlikely]] return icmp_error(rw, in, m, IcmpError::NetUnreachable);
  const NextHop& hop = nexthops[nh];
  if (hop.kind == NextHop::Kind::Local) [[unlikely]] {
    const auto* icmph = reinterpret_cast<const rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(h) + m->l3_len);
    const bool first_frag = (rte_be_to_cpu_16(h->fragment_offset) & 0x3fff) == 0;
    if (h->next_proto_id == kProtoIcmp4 && first_frag &&
        rte_pktmbuf_pkt_len(m) >= kEthLen + m->l3_len + 8u && icmph->icmp_type == 8) {
      icmp::make_ip4_echo_reply(m, kEthLen);
      if (!route_generated4(rw, m)) return false;
      event(rw, Event::EchoReplies);
      return true;
    }
    drop(rw, Drop::LocalUnsupported, m);
    return false;
  }
  if (h->time_to_live <= 1) [[unlikely]] return icmp_error(rw, in, m, IcmpError::TimeExceeded);
  const uint16_t mtu = ports[hop.port].mtu;
  if (rte_be_to_cpu_16(h->total_length) > mtu) [[unlikely]] {
    if ((h->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) == 0) {
      drop(rw, Drop::MtuExceeded, m);  // we do not fragment
      return false;
    }
    return icmp_error(rw, in, m, IcmpError::FragNeeded, mtu);
  }
  decrement_ttl4(h);
  m->hash.usr = nh;
  enqueue(rw.out[hop.port], m);
  return true;
}

bool Router::forward6(RouterWorker& rw, uint8_t in, rte_mbuf* m, uint32_t nh, bool found) {
  auto* h = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, kEthLen);
  Ip6Addr dst;
  std::memcpy(dst.b.data(), h->dst_addr, 16);
  const bool local = (found && nexthops[nh].kind == NextHop::Kind::Local) ||
                     dst == ports[in].link_local;
  if (local) [[unlikely]] {
    uint8_t proto = 0;
    uint32_t off = 0;
    const uint32_t avail = rte_pktmbuf_pkt_len(m) - kEthLen;
    if (parse::ip6_upper_layer(reinterpret_cast<const uint8_t*>(h), avail, proto, off) &&
        proto == kProtoIcmp6 && off == 40 && avail >= 48 &&
        reinterpret_cast<const uint8_t*>(h)[40] == 128) {
      icmp::make_ip6_echo_reply(m, kEthLen);
      if (!route_generated6(rw, in, m)) return false;
      event(rw, Event::EchoReplies);
      return true;
    }
    drop(rw, Drop::LocalUnsupported, m);
    return false;
  }
  // Link-local scope never leaves its link (RFC 4291 2.5.6).
  if (dst.is_link_local() || (h->src_addr[0] == 0xfe && (h->src_addr[1] & 0xc0) == 0x80)) [[unlikely]] {
    drop(rw, Drop::Ip6LinkLocal, m);
    return false;
  }
  if (!found) [[unlikely]] return icmp_error(rw, in, m, IcmpError::NetUnreachable);
  if (h->hop_limits <= 1) [[unlikely]] return icmp_error(rw, in, m, IcmpError::TimeExceeded);
  const NextHop& hop = nexthops[nh];
  const uint16_t mtu = ports[hop.port].mtu;
  if (40u + rte_be_to_cpu_16(h->payload_len) > mtu) [[unlikely]] {
    return icmp_error(rw, in, m, IcmpError::FragNeeded, mtu);
  }
  h->hop_limits--;
  m->hash.usr = nh;
  enqueue(rw.out[hop.port], m);
  return true;
}

bool Router::route_generated4(RouterWorker& rw, rte_mbuf* m) {
  const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen);
  uint32_t nh = 0;
  const uint32_t dst = rte_be_to_cpu_32(h->dst_addr);
  if (rte_lpm_lookup(lpm4, dst, &nh) != 0 || nexthops[nh].kind == NextHop::Kind::Local) {
    drop(rw, Drop::IcmpUnroutable, m);
    return false;
  }
  m->hash.usr = nh;
  if (parse_views) refresh_view(m);
  enqueue(rw.out[nexthops[nh].port], m);
  return true;
}

bool Router::route_generated6(RouterWorker& rw, uint8_t in, rte_mbuf* m) {
  const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen);
  uint8_t out = in;  // a link-local destination: back out of the port it came in on
  m->hash.usr = kNoNextHop;
  if ((h->dst_addr[0] != 0xfe) || ((h->dst_addr[1] & 0xc0) != 0x80)) {
    uint32_t nh = 0;
    if (rte_lpm6_lookup(lpm6, h->dst_addr, &nh) != 0 || nexthops[nh].kind == NextHop::Kind::Local) {
      drop(rw, Drop::IcmpUnroutable, m);
      return false;
    }
    out = nexthops[nh].port;
    m->hash.usr = nh;
  }
  if (parse_views) refresh_view(m);
  enqueue(rw.out[out], m);
  return true;
}

// Packets stages rewrote into replies leave from the router: routed like its ICMP errors.
void Router::route_replies(RouterWorker& rw, uint8_t in, Batch& b) {
  for (uint16_t i = 0; i < b.ngen; ++i) {
    rte_mbuf* m = b.gen[i];
    const bool routed =
        m->packet_type == kPtype4 ? route_generated4(rw, m) : route_generated6(rw, in, m);
    if (routed) event(rw, Event::StageReplies);
  }
  b.ngen = 0;
}

}  // namespace pathlab
