#include "pathlab/router/router.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

#include "pathlab/net/checksum.hpp"
#include "pathlab/net/icmp.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/view.hpp"
#include "pathlab/router/meta.hpp"

namespace pathlab {
namespace {

constexpr uint16_t kEthLen = sizeof(rte_ether_hdr);
constexpr uint64_t kMacMask = (uint64_t{1} << 48) - 1;

// mbuf l2_len and l3_len as one tx_offload word: one 8-byte store instead of two narrow RMWs.
inline uint64_t l2_l3_lens(uint64_t l3_len) { return rte_mbuf_tx_offload(kEthLen, l3_len, 0, 0, 0, 0, 0); }

inline bool bad_source4(uint32_t s) {
  const uint32_t top = s >> 24;
  return top == 0 || top == 127 || top >= 224;
}

// Multicast, loopback (::1) and unspecified (::) sources are not forwarded (RFC 4291 2.5.2-3).
inline bool bad_source6(const uint8_t* a) {
  if (a[0] == 0xff) return true;
  uint64_t hi, lo;
  std::memcpy(&hi, a, 8);
  std::memcpy(&lo, a + 8, 8);
  return hi == 0 && (lo == 0 || lo == rte_cpu_to_be_64(1));
}

inline bool is_nd_type(uint8_t t) { return t >= 133 && t <= 137; }

// TTL decrement with an incremental checksum update (RFC 1624) of the TTL/protocol word. The
// word is stored whole: a byte store then a word load of it would stall store forwarding.
inline void decrement_ttl4(rte_ipv4_hdr* h) {
  uint16_t old_w;
  std::memcpy(&old_w, &h->time_to_live, 2);
  const uint16_t new_w = static_cast<uint16_t>(old_w - rte_cpu_to_be_16(0x0100));
  std::memcpy(&h->time_to_live, &new_w, 2);
  h->hdr_checksum = csum::update16(h->hdr_checksum, old_w, new_w);
}

}  // namespace

void Router::hand_over(rte_mbuf* m, CtrlKind kind, uint8_t in, uint8_t family) const {
  PktMeta& md = meta(m);
  md.ctrl = kind;
  md.router = index;
  md.in_port = in;
  md.family = family;
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

bool IcmpLimiter::take(uint64_t now, uint64_t hz) {
  if (rate == 0) return false;
  const uint64_t cap = burst * hz;
  tokens_x += (now - last_tsc) * rate;
  last_tsc = now;
  if (tokens_x > cap) tokens_x = cap;
  if (tokens_x < hz) return false;
  tokens_x -= hz;
  return true;
}

Router::Router(uint16_t idx, const RouterConfig& cfg, const ProcessConfig& proc, unsigned nworkers)
    : index(idx), id(cfg.id), asn(cfg.asn), tsc_hz_(rte_get_tsc_hz()) {
  const std::string tag = fmt::format("r{}", idx);
  rte_lpm_config c4{};
  c4.max_rules = 4096;
  c4.number_tbl8s = 256;
  lpm4 = rte_lpm_create((tag + "_lpm4").c_str(), SOCKET_ID_ANY, &c4);
  rte_lpm6_config c6{};
  c6.max_rules = 4096;
  c6.number_tbl8s = 1 << 12;
  lpm6 = rte_lpm6_create((tag + "_lpm6").c_str(), SOCKET_ID_ANY, &c6);
  if (lpm4 == nullptr || lpm6 == nullptr) {
    throw std::runtime_error(fmt::format("router {}: route tables: {}", id, rte_strerror(rte_errno)));
  }
  neigh = std::make_unique<NeighbourTable>(tag + "_neigh", 4096);
  workers.resize(nworkers);
  for (auto& rw : workers) {
    rw.ports.resize(cfg.ports.size());
    rw.ingress.resize(cfg.ports.size());
    rw.egress.resize(cfg.ports.size());
    rw.out.resize(cfg.ports.size());
    rw.icmp.rate = proc.icmp_rate;
    rw.icmp.burst = proc.icmp_burst;
    rw.icmp.tokens_x = static_cast<uint64_t>(proc.icmp_burst) * tsc_hz_;
    rw.icmp.last_tsc = rte_get_tsc_cycles();
  }
}

Router::~Router() {
  rte_lpm_free(lpm4);
  rte_lpm6_free(lpm6);
}

uint32_t Router::add_nexthop(NextHop h) {
  nexthops.push_back(h);
  return static_cast<uint32_t>(nexthops.size() - 1);
}

int Router::lookup4(Ip4Addr dst, uint32_t& nh) const { return rte_lpm_lookup(lpm4, dst.v, &nh); }

int Router::lookup6(const Ip6Addr& dst, uint32_t& nh) const {
  return rte_lpm6_lookup(lpm6, dst.b.data(), &nh);
}

bool Router::is_local4(uint8_t port, Ip4Addr a) const {
  for (const auto& p : ports[port].ip4) {
    if (p.addr == a) return true;
  }
  return false;
}

bool Router::is_local6(uint8_t port, const Ip6Addr& a) const {
  if (ports[port].link_local == a) return true;
  for (const auto& p : ports[port].ip6) {
    if (p.addr == a) return true;
  }
  return false;
}

Ip4Addr Router::icmp_source4(uint8_t port) const {
  if (!ports[port].ip4.empty()) return ports[port].ip4.front().addr;
  for (const auto& p : ports) {
    if (!p.ip4.empty()) return p.ip4.front().addr;
  }
  return {};
}

Ip6Addr Router::icmp_source6(uint8_t port) const {
  if (!ports[port].ip6.empty()) return ports[port].ip6.front().addr;
  for (const auto& p : ports) {
    if (!p.ip6.empty()) return p.ip6.front().addr;
  }
  return ports[port].link_local;
}

void Router::process(const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n, Nanos now) {
  RouterWorker& rw = workers[io.index];
  PortCounters& pc = rw.ports[in];
  bump(pc.rx_pkts, n);
  rw.in.now = now;
  for (Batch& ob : rw.out) ob.now = now;
  const uint64_t bytes = ports[in].rx_cksum_hw ? input<false>(rw, io, in, pkts, n)
                                               : input<true>(rw, io, in, pkts, n);
  bump(pc.rx_bytes, bytes);
  Chain& ingress = rw.ingress[in];
  const bool gathered = ingress.empty();
  if (!gathered) {
    ingress.run(rw.in);
    if (rw.in.ngen != 0) [[unlikely]] route_replies(rw, in, rw.in);
    if (rw.in.nredirect != 0) [[unlikely]] redirect(rw, rw.in);
  }
  forward(rw, in, gathered);
  outputs(rw, io, in);
}

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

uint32_t Router::drain(const WorkerIo& io, Nanos now) {
  RouterWorker& rw = workers[io.index];
  uint32_t released = 0;
  for (uint8_t p = 0; p < ports.size(); ++p) {
    Chain& ingress = rw.ingress[p];
    if (ingress.holds()) {
      rw.in.n = 0;
      rw.in.now = now;
      for (Batch& ob : rw.out) ob.now = now;
      released += ingress.drain(now, rw.in);
      if (rw.in.ngen != 0) route_replies(rw, p, rw.in);
      if (rw.in.nredirect != 0) redirect(rw, rw.in);
      forward(rw, p, false);
      outputs(rw, io, p);
    }
    Chain& egress = rw.egress[p];
    if (egress.holds()) {
      Batch& b = rw.out[p];
      b.now = now;
      released += egress.drain(now, b);
      if (b.ngen != 0) {
        for (uint16_t i = 0; i < b.ngen; ++i) rw.replies.pkts[rw.replies.n++] = b.gen[i];
        b.ngen = 0;
      }
      for (uint16_t i = 0; i < b.nredirect; ++i) {
        rw.redirected.redirect[rw.redirected.nredirect] = b.redirect[i];
        rw.redirected.redirect_to[rw.redirected.nredirect++] = b.redirect_to[i];
      }
      b.nredirect = 0;
      if (b.n != 0) send(rw, io, p, p);
      outputs(rw, io, p);
    }
  }
  return released;
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

template <bool kVerifyCksum>
uint64_t Router::input(RouterWorker& rw, const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n) {
  const PortRt& port = ports[in];
  Batch& b = rw.in;
  b.n = 0;
  uint16_t n4 = 0;
  uint64_t bytes = 0;
  rte_mbuf* ctrl[kMaxBurst];
  uint16_t nctrl = 0;

  for (uint16_t i = 0; i < n; ++i) {
    if (i + 3 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
    rte_mbuf* m = pkts[i];
    bytes += m->pkt_len;
    if (m->nb_segs != 1) [[unlikely]] {
      drop(rw, Drop::EthMultiSegment, m);
      continue;
    }
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = m->data_len;
    if (len < kEthLen) [[unlikely]] {
      drop(rw, Drop::EthRunt, m);
      continue;
    }
    const auto* eth = reinterpret_cast<const rte_ether_hdr*>(frame);
    if (!rte_is_same_ether_addr(&eth->dst_addr, &port.mac) &&
        !rte_is_multicast_ether_addr(&eth->dst_addr)) [[unlikely]] {
      drop(rw, Drop::EthNotForUs, m);
      continue;
    }
    const uint16_t type = rte_be_to_cpu_16(eth->ether_type);

    if (type == parse::kEtherIpv4) [[likely]] {
      const uint8_t* ip = frame + kEthLen;
      const auto r = parse::ip4(ip, len - kEthLen, kVerifyCksum);
      if (r != parse::Ip4Result::Ok) [[unlikely]] {
        drop(rw, static_cast<Drop>(static_cast<uint8_t>(Drop::Ip4Truncated) +
                                   static_cast<uint8_t>(r) - 1),
             m);
        continue;
      }
      if constexpr (!kVerifyCksum) {
        if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
          drop(rw, Drop::Ip4BadChecksum, m);
          continue;
        }
      }
      const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
      const uint32_t src = rte_be_to_cpu_32(h->src_addr);
      const uint32_t dst = rte_be_to_cpu_32(h->dst_addr);
      if (bad_source4(src)) [[unlikely]] {
        drop(rw, Drop::Ip4BadSource, m);
        continue;
      }
      if ((dst >> 28) == 0xe || dst == 0xffffffffu) [[unlikely]] {
        drop(rw, Drop::Ip4Multicast, m);
        continue;
      }
      const uint32_t total = rte_be_to_cpu_16(h->total_length);
      if (total + kEthLen < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - kEthLen - total));  // padding
      m->tx_offload = l2_l3_lens(rte_ipv4_hdr_len(h));
      m->packet_type = kPtype4;
      if (parse_views) parse_view(m);
      rw.idx4[n4] = b.n;
      rw.dst4[n4++] = dst;
      b.pkts[b.n++] = m;
    } else if (type == parse::kEtherIpv6) {
      const uint8_t* ip = frame + kEthLen;
      const auto r = parse::ip6(ip, len - kEthLen);
      if (r != parse::Ip6Result::Ok) [[unlikely]] {
        drop(rw, static_cast<Drop>(static_cast<uint8_t>(Drop::Ip6Truncated) +
                                   static_cast<uint8_t>(r) - 1),
             m);
        continue;
      }
      const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip);
      if (h->src_addr[0] == 0xff) [[unlikely]] {
        drop(rw, Drop::Ip6BadSource, m);
        continue;
      }
      const uint32_t total = 40u + rte_be_to_cpu_16(h->payload_len);
      if (total + kEthLen < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - kEthLen - total));
      m->tx_offload = l2_l3_lens(40);
      m->packet_type = kPtype6;
      if (parse_views) parse_view(m);
      // Neighbour discovery goes to the control path (hop limit 255, no extension headers).
      if (h->proto == kProtoIcmp6 && total >= 41 && is_nd_type(ip[40]) && h->hop_limits == 255) {
        hand_over(m, CtrlKind::Nd, in, 6);
        ctrl[nctrl++] = m;
        continue;
      }
      if (bad_source6(h->src_addr)) [[unlikely]] {  // after ND: DAD probes come from ::
        drop(rw, Drop::Ip6BadSource, m);
        continue;
      }
      if (h->dst_addr[0] == 0xff) [[unlikely]] {
        drop(rw, Drop::Ip6Multicast, m);
        continue;
      }
      b.pkts[b.n++] = m;
    } else if (type == parse::kEtherArp) {
      m->tx_offload = l2_l3_lens(0);
      hand_over(m, CtrlKind::Arp, in, 0);
      ctrl[nctrl++] = m;
    } else if (type == parse::kEtherVlan || type == parse::kEtherQinQ) {
      drop(rw, Drop::EthVlan, m);
    } else {
      drop(rw, Drop::EthUnsupported, m);
    }
  }
  rw.n4 = n4;
  if (nctrl != 0) to_ctrl(rw, io, ctrl, nctrl);
  return bytes;
}

void Router::to_ctrl(RouterWorker& rw, const WorkerIo& io, rte_mbuf** pkts, uint16_t n) {
  const unsigned sent = rte_ring_sp_enqueue_burst(io.ctrl, reinterpret_cast<void**>(pkts), n, nullptr);
  bump(rw.consumed, sent);
  for (unsigned i = sent; i < n; ++i) drop(rw, Drop::CtrlRingFull, pkts[i]);
}

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
    for (uint16_t i = 0; i < n4; ++i) {
      rte_mbuf* m = b.pkts[i];
      const uint32_t r = hop4[i];
      // forward4's common case inline: routed, not local, TTL above 1, within the MTU.
      if (r & RTE_LPM_LOOKUP_SUCCESS) [[likely]] {
        const uint32_t nh = r & 0x00ffffff;
        const NextHop& hop = nexthops[nh];
        auto* h = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, kEthLen);
        if (hop.kind != NextHop::Kind::Local && h->time_to_live > 1 &&
            rte_be_to_cpu_16(h->total_length) <= ports[hop.port].mtu) [[likely]] {
          decrement_ttl4(h);
          m->hash.usr = nh;
          Batch& ob = rw.out[hop.port];
          ob.pkts[ob.n++] = m;
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
  if (!found) [[unlikely]] {
    if (!rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
      drop(rw, Drop::IcmpRateLimited, m);
      return false;
    }
    if (icmp::make_ip4_error(m, kEthLen, 3, 0, 0, icmp_source4(in)) != icmp::Refuse::None) {
      drop(rw, Drop::NoRoute, m);
      return false;
    }
    if (!route_generated4(rw, m)) return false;
    event(rw, Event::IcmpNetUnreachable);
    return true;
  }
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
  if (h->time_to_live <= 1) [[unlikely]] {
    if (!rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
      drop(rw, Drop::IcmpRateLimited, m);
      return false;
    }
    if (icmp::make_ip4_error(m, kEthLen, 11, 0, 0, icmp_source4(in)) != icmp::Refuse::None) {
      drop(rw, Drop::TtlExceeded, m);
      return false;
    }
    if (!route_generated4(rw, m)) return false;
    event(rw, Event::IcmpTimeExceeded);
    return true;
  }
  const PortRt& out = ports[hop.port];
  if (rte_be_to_cpu_16(h->total_length) > out.mtu) [[unlikely]] {
    const bool df = (h->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) != 0;
    if (!df || !rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
      drop(rw, df ? Drop::IcmpRateLimited : Drop::MtuExceeded, m);
      return false;
    }
    if (icmp::make_ip4_error(m, kEthLen, 3, 4, out.mtu, icmp_source4(in)) != icmp::Refuse::None) {
      drop(rw, Drop::MtuExceeded, m);
      return false;
    }
    if (!route_generated4(rw, m)) return false;
    event(rw, Event::IcmpFragNeeded);
    return true;
  }
  decrement_ttl4(h);
  m->hash.usr = nh;
  Batch& ob = rw.out[hop.port];
  ob.pkts[ob.n++] = m;
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
  Batch& ob = rw.out[nexthops[nh].port];
  ob.pkts[ob.n++] = m;
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
  if (!found) [[unlikely]] {
    if (!rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
      drop(rw, Drop::IcmpRateLimited, m);
      return false;
    }
    if (icmp::make_ip6_error(m, kEthLen, 1, 0, 0, icmp_source6(in)) != icmp::Refuse::None) {
      drop(rw, Drop::NoRoute, m);
      return false;
    }
    if (!route_generated6(rw, in, m)) return false;
    event(rw, Event::IcmpNetUnreachable);
    return true;
  }
  if (h->hop_limits <= 1) [[unlikely]] {
    if (!rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
      drop(rw, Drop::IcmpRateLimited, m);
      return false;
    }
    if (icmp::make_ip6_error(m, kEthLen, 3, 0, 0, icmp_source6(in)) != icmp::Refuse::None) {
      drop(rw, Drop::TtlExceeded, m);
      return false;
    }
    if (!route_generated6(rw, in, m)) return false;
    event(rw, Event::IcmpTimeExceeded);
    return true;
  }
  const NextHop& hop = nexthops[nh];
  const PortRt& out = ports[hop.port];
  if (40u + rte_be_to_cpu_16(h->payload_len) > out.mtu) [[unlikely]] {
    if (!rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
      drop(rw, Drop::IcmpRateLimited, m);
      return false;
    }
    if (icmp::make_ip6_error(m, kEthLen, 2, 0, out.mtu, icmp_source6(in)) != icmp::Refuse::None) {
      drop(rw, Drop::MtuExceeded, m);
      return false;
    }
    if (!route_generated6(rw, in, m)) return false;
    event(rw, Event::IcmpFragNeeded);
    return true;
  }
  h->hop_limits--;
  m->hash.usr = nh;
  Batch& ob = rw.out[hop.port];
  ob.pkts[ob.n++] = m;
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
  Batch& ob = rw.out[out];
  ob.pkts[ob.n++] = m;
  return true;
}

void Router::output(RouterWorker& rw, const WorkerIo& io, uint8_t in, uint8_t port,
                    bool replies_ok) {
  Batch& b = rw.out[port];
  rw.egress[port].run(b);
  if (b.ngen != 0) [[unlikely]] {
    for (uint16_t i = 0; i < b.ngen; ++i) {
      if (replies_ok) {
        rw.replies.pkts[rw.replies.n++] = b.gen[i];
      } else {
        drop(rw, Drop::StageReplyLoop, b.gen[i]);
      }
    }
    b.ngen = 0;
  }
  if (b.nredirect != 0) [[unlikely]] {
    for (uint16_t i = 0; i < b.nredirect; ++i) {
      if (replies_ok) {
        rw.redirected.redirect[rw.redirected.nredirect] = b.redirect[i];
        rw.redirected.redirect_to[rw.redirected.nredirect++] = b.redirect_to[i];
      } else {
        drop(rw, Drop::StageRedirectLoop, b.redirect[i]);
      }
    }
    b.nredirect = 0;
  }
  send(rw, io, in, port);
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

void Router::transmit(RouterWorker& rw, const WorkerIo& io, uint8_t port, rte_mbuf** pkts,
                      uint16_t n, uint64_t bytes) {
  PortRt& p = ports[port];
  uint16_t sent;
  if (p.kind == PortKind::Ring) {
    sent = static_cast<uint16_t>(
        rte_ring_mp_enqueue_burst(p.tx_ring, reinterpret_cast<void**>(pkts), n, nullptr));
  } else if (!p.tx_shared) [[likely]] {
    sent = rte_eth_tx_burst(p.eth_id, io.txq, pkts, n);
  } else {
    rte_spinlock_lock(&p.tx_lock);
    sent = rte_eth_tx_burst(p.eth_id, 0, pkts, n);
    rte_spinlock_unlock(&p.tx_lock);
  }
  for (uint16_t i = sent; i < n; ++i) {
    bytes -= rte_pktmbuf_pkt_len(pkts[i]);
    drop(rw, Drop::TxFull, pkts[i]);
  }
  bump(rw.ports[port].tx_pkts, sent);
  bump(rw.ports[port].tx_bytes, bytes);
}

void Router::send_ctrl(const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n) {
  RouterWorker& rw = workers[io.index];
  PortRt& p = ports[port];
  uint16_t sent;
  if (p.kind == PortKind::Ring) {
    sent = static_cast<uint16_t>(
        rte_ring_mp_enqueue_burst(p.tx_ring, reinterpret_cast<void**>(pkts), n, nullptr));
  } else if (!p.tx_shared) {
    sent = rte_eth_tx_burst(p.eth_id, io.txq, pkts, n);
  } else {
    rte_spinlock_lock(&p.tx_lock);
    sent = rte_eth_tx_burst(p.eth_id, 0, pkts, n);
    rte_spinlock_unlock(&p.tx_lock);
  }
  bump(rw.ports[port].ctrl_tx_pkts, sent);
  for (uint16_t i = sent; i < n; ++i) {
    bump(rw.events[static_cast<size_t>(Event::HeldDropped)]);
    rte_pktmbuf_free(pkts[i]);
  }
}

}  // namespace pathlab
