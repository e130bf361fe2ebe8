// Output, per port with packets to send: the port's egress stages (link emulation is a holding
// stage at the end of that chain), then neighbour resolution and the L2 rewrite, then tx.
// Packets whose next hop is not resolved go to the control path. Packets stages redirect
// (kRedirect) leave by another port of this router, resolved there as directly connected.
#include <cstring>

#include <rte_ip.h>

#include "pathlab/router/meta.hpp"
#include "pathlab/router/router.hpp"
#include "steps.hpp"

namespace pathlab {
namespace {

using steps::kEthLen;

constexpr uint64_t kMacMask = (uint64_t{1} << 48) - 1;

}  // namespace

void Router::outputs(RouterWorker& rw, const WorkerIo& io, uint8_t in) {
  for (uint8_t p = 0; p < ports.size(); ++p) {
    if (rw.out[p].n != 0) output(rw, io, in, p, true);
  }
  if (rw.replies.n != 0 || rw.redirected.nredirect != 0) [[unlikely]] {
    Batch& r = rw.replies;
    for (uint16_t i = 0; i < r.n; ++i) r.gen[i] = r.pkts[i];
    r.ngen = r.n;
    r.n = 0;
    route_replies(rw, in, r);
    redirect(rw, rw.redirected);
    for (uint8_t p = 0; p < ports.size(); ++p) {
      if (rw.out[p].n != 0) output(rw, io, in, p, false);
    }
  }
}

void Router::output(RouterWorker& rw, const WorkerIo& io, uint8_t in, uint8_t port,
                    bool replies_ok) {
  Batch& b = rw.out[port];
  rw.egress[port].run(b);
  if ((b.ngen | b.nredirect) != 0) [[unlikely]] set_aside(rw, b, replies_ok);
  send(rw, io, in, port);
}

// Replies and redirects of egress stages are routed after every port's output, once: what they
// would turn into again is dropped.
void Router::set_aside(RouterWorker& rw, Batch& b, bool replies_ok) {
  for (uint16_t i = 0; i < b.ngen; ++i) {
    if (replies_ok) {
      rw.replies.pkts[rw.replies.n++] = b.gen[i];
    } else {
      drop(rw, Drop::StageReplyLoop, b.gen[i]);
    }
  }
  b.ngen = 0;
  for (uint16_t i = 0; i < b.nredirect; ++i) {
    if (replies_ok) {
      Batch& r = rw.redirected;
      r.redirect[r.nredirect] = b.redirect[i];
      r.redirect_to[r.nredirect++] = b.redirect_to[i];
    } else {
      drop(rw, Drop::StageRedirectLoop, b.redirect[i]);
    }
  }
  b.nredirect = 0;
}

void Router::redirect(RouterWorker& rw, Batch& b) {
  for (uint16_t i = 0; i < b.nredirect; ++i) {
    rte_mbuf* m = b.redirect[i];
    const uint8_t to = b.redirect_to[i];
    if (to >= ports.size()) [[unlikely]] {
      drop(rw, Drop::StageBadRedirect, m);
      continue;
    }
    m->hash.usr = kNoNextHop;  // resolved on the new port as a directly connected destination
    Batch& ob = rw.out[to];
    ob.pkts[ob.n++] = m;
  }
  b.nredirect = 0;
}

void Router::send(RouterWorker& rw, const WorkerIo& io, uint8_t in, uint8_t port) {
  Batch& b = rw.out[port];
  // The Ethernet header as two overlapping 8-byte stores: bytes 0-7 (destination MAC, first two
  // bytes of the source MAC) and bytes 6-13 (source MAC, EtherType).
  uint64_t src = 0;
  std::memcpy(&src, ports[port].mac.addr_bytes, 6);
  const uint64_t head_src = src << 48;
  const uint64_t tail4 = src | uint64_t{rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)} << 48;
  const uint64_t tail6 = src | uint64_t{rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)} << 48;
  rte_mbuf* pending[kMaxBurst];
  uint16_t npending = 0;
  uint16_t kept = 0;
  uint64_t bytes = 0;
  // Consecutive packets mostly share a gateway: its usable neighbour word is kept for the burst.
  uint32_t last_gw = kNoNextHop;
  uint64_t last_w = 0;
  for (uint16_t i = 0; i < b.n; ++i) {
    rte_mbuf* m = b.pkts[i];
    const uint32_t nh = m->hash.usr;
    const bool v4 = m->packet_type == kPtype4;
    auto* frame = rte_pktmbuf_mtod(m, uint8_t*);
    if (nh == last_gw && nh != kNoNextHop) [[likely]] {
      const uint64_t head = (last_w & kMacMask) | head_src;
      std::memcpy(frame, &head, 8);
      std::memcpy(frame + 6, v4 ? &tail4 : &tail6, 8);
      bytes += m->pkt_len;
      b.pkts[kept++] = m;
      continue;
    }
    const bool gateway = nh != kNoNextHop && nexthops[nh].kind == NextHop::Kind::Gateway;
    uint32_t ni;
    if (gateway) {
      ni = nexthops[nh].neigh;
    } else if (v4) {
      const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen);
      ni = neigh->find(neigh_key4(port, Ip4Addr{rte_be_to_cpu_32(h->dst_addr)}));
    } else {
      const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen);
      NeighKey k{};
      k.family = 6;
      k.port = port;
      std::memcpy(k.ip6, h->dst_addr, 16);
      ni = neigh->find(k);
    }
    const uint64_t w = ni == NeighbourTable::kNone
                           ? 0
                           : neigh->at(ni).word.load(std::memory_order_acquire);
    if (!neigh_usable(w)) [[unlikely]] {
      hand_over_unresolved(m, in, port, gateway ? &neigh->at(ni).key : nullptr);
      pending[npending++] = m;
      continue;
    }
    if (gateway) {
      last_gw = nh;
      last_w = w;
    }
    const uint64_t head = (w & kMacMask) | head_src;
    std::memcpy(frame, &head, 8);
    std::memcpy(frame + 6, v4 ? &tail4 : &tail6, 8);
    bytes += m->pkt_len;
    b.pkts[kept++] = m;
  }
  b.n = 0;
  if (npending != 0) to_ctrl(rw, io, pending, npending);
  if (kept != 0) transmit(rw, io, port, b.pkts, kept, bytes);
}

void Router::hand_over_unresolved(rte_mbuf* m, uint8_t in, uint8_t port, const NeighKey* gw) const {
  const bool v4 = m->packet_type == kPtype4;
  hand_over(m, CtrlKind::Resolve, in, v4 ? 4 : 6);
  PktMeta& md = meta(m);
  md.out_port = port;
  md.nh = m->hash.usr;
  if (gw != nullptr) {
    md.hop4 = gw->ip4;
    std::memcpy(md.hop6, gw->ip6, 16);
  } else if (v4) {
    md.hop4 = rte_be_to_cpu_32(rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen)->dst_addr);
  } else {
    std::memcpy(md.hop6, rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen)->dst_addr, 16);
  }
}

}  // namespace pathlab
