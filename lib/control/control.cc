#include "pathlab/control/control.hpp"

#include <algorithm>
#include <cstring>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "pathlab/net/icmp.hpp"
#include "pathlab/router/meta.hpp"

namespace pathlab {
namespace {

constexpr uint16_t kEthLen = sizeof(rte_ether_hdr);
constexpr uint8_t kNs = 135, kNa = 136;
constexpr uint8_t kOptSource = 1, kOptTarget = 2;

MacAddr to_mac(const rte_ether_addr& a) {
  MacAddr m;
  std::memcpy(m.b.data(), a.addr_bytes, 6);
  return m;
}

rte_ether_addr to_ether(uint64_t word) {
  rte_ether_addr a;
  for (int k = 0; k < 6; ++k) a.addr_bytes[k] = static_cast<uint8_t>(word >> (8 * k));
  return a;
}

// Finds an ND link-layer address option of `type` in [opts, opts+len).
const uint8_t* nd_option(const uint8_t* opts, uint32_t len, uint8_t type) {
  while (len >= 8) {
    const uint32_t olen = opts[1] * 8u;
    if (olen == 0 || olen > len) return nullptr;
    if (opts[0] == type && olen >= 8) return opts + 2;
    opts += olen;
    len -= olen;
  }
  return nullptr;
}

void write_eth(rte_mbuf* m, const rte_ether_addr& dst, const rte_ether_addr& src, uint16_t type) {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eth->dst_addr = dst;
  eth->src_addr = src;
  eth->ether_type = rte_cpu_to_be_16(type);
}

// Builds an IPv6 ND message (NS or NA) with one link-layer option into m, reset first; false
// when m's buffer cannot hold it.
bool build_nd(rte_mbuf* m, const rte_ether_addr& dst_mac, const rte_ether_addr& src_mac,
              const Ip6Addr& src, const Ip6Addr& dst, uint8_t type, uint32_t flags,
              const Ip6Addr& target, uint8_t opt_type) {
  constexpr uint16_t kPayload = 24 + 8;
  rte_pktmbuf_reset(m);
  auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kEthLen + 40 + kPayload));
  if (frame == nullptr) return false;
  write_eth(m, dst_mac, src_mac, RTE_ETHER_TYPE_IPV6);
  auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + kEthLen);
  ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
  ip->payload_len = rte_cpu_to_be_16(kPayload);
  ip->proto = IPPROTO_ICMPV6;
  ip->hop_limits = 255;
  std::memcpy(ip->src_addr, src.b.data(), 16);
  std::memcpy(ip->dst_addr, dst.b.data(), 16);
  uint8_t* icmp = frame + kEthLen + 40;
  std::memset(icmp, 0, kPayload);
  icmp[0] = type;
  const uint32_t f = rte_cpu_to_be_32(flags);
  std::memcpy(icmp + 4, &f, 4);
  std::memcpy(icmp + 8, target.b.data(), 16);
  icmp[24] = opt_type;
  icmp[25] = 1;
  std::memcpy(icmp + 26, src_mac.addr_bytes, 6);
  const uint16_t ck = rte_ipv6_udptcp_cksum(ip, icmp);
  std::memcpy(icmp + 2, &ck, 2);
  m->l2_len = kEthLen;
  m->l3_len = 40;
  return true;
}

// The ICMPv6 checksum over the pseudo-header and the message sums to 0xffff when it is right.
bool icmp6_checksum_ok(const rte_ipv6_hdr* ip, const uint8_t* icmp, uint32_t len) {
  uint32_t sum = rte_ipv6_phdr_cksum(ip, 0) + rte_raw_cksum(icmp, len);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

}  // namespace

Control::Control(std::vector<Router*> routers, std::vector<rte_ring*> from_workers,
                 rte_ring* inject, rte_mempool* pool, const ProcessConfig& proc)
    : routers_(std::move(routers)),
      from_workers_(std::move(from_workers)),
      inject_(inject),
      pool_(pool),
      proc_(proc),
      hz_(rte_get_tsc_hz()) {
  auto full = [](uint64_t rate, uint64_t burst) {
    IcmpLimiter b;
    b.reset(rate, burst);
    return b;
  };
  probe_bucket_.assign(routers_.size(), full(proc_.nd_probe_rate, proc_.nd_probe_burst));
  unreach_bucket_.assign(routers_.size(), full(proc_.icmp_rate, proc_.icmp_burst));
}

bool Control::current(const EntryRef& e) const {
  const Neighbour& n = e.r->neighbours().at(e.ni);
  return n.gen == e.gen && e.r->neighbours().live(e.ni) && n.probing;
}

void Control::event(Router& r, Event e) { r.ctrl_event(e); }

unsigned Control::poll() {
  unsigned handled = 0;
  rte_mbuf* pkts[64];
  for (rte_ring* ring : from_workers_) {
    const unsigned n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(pkts), 64, nullptr);
    for (unsigned i = 0; i < n; ++i) handle(pkts[i]);
    handled += n;
  }
  const uint64_t now = rte_get_tsc_cycles();
  for (Router* r : routers_) r->neighbours().reclaim();
  expire(now);
  run_probes(now);
  answer_waiting();
  return handled;
}

// Deferred probes first, newest first, while tokens last; then the retries and deadlines of
// every resolution in progress.
void Control::run_probes(uint64_t now) {
  while (!deferred_.empty()) {
    const EntryRef e = deferred_.back();
    Neighbour& n = e.r->neighbours().at(e.ni);
    if (!current(e) || !n.deferred) {
      deferred_.pop_back();
      continue;
    }
    if (!probe_bucket_[e.r->index].take(clock_.to_ns(now))) break;
    deferred_.pop_back();
    n.deferred = false;
    probe(*e.r, e.ni);
  }
  const uint64_t deadline = hz_ * proc_.nd_retries * proc_.nd_retry_ms / 1000;
  for (size_t i = 0; i < probing_.size();) {
    const EntryRef e = probing_[i];
    if (!current(e)) {
      probing_[i] = probing_.back();
      probing_.pop_back();
      continue;
    }
    Neighbour& n = e.r->neighbours().at(e.ni);
    if (now - n.probe_start_tsc >= deadline) {
      fail(*e.r, n);
      e.r->neighbours().set_class(e.ni, NeighClass::Stale);
      probing_[i] = probing_.back();
      probing_.pop_back();
      continue;
    }
    if (!n.deferred && now >= n.next_probe_tsc && n.probes < proc_.nd_retries) attempt_probe(*e.r, e.ni, now);
    ++i;
  }
}

void Control::answer_waiting() {
  // Answering may evict again (the error's own next hop), which appends: a plain index loop.
  for (size_t i = 0; i < unreachable_.size(); ++i) send_host_unreachable(*unreachable_[i].first, unreachable_[i].second);
  unreachable_.clear();
}

// Learnt entries older than reachable_s go back to Incomplete: the next packet re-resolves.
void Control::expire(uint64_t now) {
  if (now < next_expiry_tsc_) return;
  next_expiry_tsc_ = now + hz_ / 10;
  const uint64_t lifetime = hz_ * proc_.nd_reachable_s;
  for (Router* r : routers_) {
    NeighbourTable& t = r->neighbours();
    for (uint32_t i = 0; i < t.slots(); ++i) {
      Neighbour& n = t.at(i);
      if (t.live(i) && neigh_state(n.word.load(std::memory_order_relaxed)) == NeighState::Reachable &&
          now - n.confirmed_tsc >= lifetime) {
        n.word.store(pack_neigh({}, NeighState::Incomplete), std::memory_order_release);
        t.set_class(i, NeighClass::Stale);
      }
    }
  }
}

void Control::flush() {
  // Only an entry being resolved holds packets.
  for (const EntryRef& e : probing_) {
    auto& held = e.r->neighbours().at(e.ni).held;
    for (rte_mbuf* m : held) rte_pktmbuf_free(m);
    held.clear();
  }
  for (auto& [r, m] : unreachable_) rte_pktmbuf_free(m);
  unreachable_.clear();
  rte_mbuf* m = nullptr;
  while (rte_ring_dequeue(inject_, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
}

void Control::handle(rte_mbuf* m) {
  PktMeta& md = meta(m);
  Router& r = *routers_[md.router];
  switch (md.ctrl) {
    case CtrlKind::Arp:
      handle_arp(r, m);
      break;
    case CtrlKind::Nd:
      handle_nd(r, m);
      break;
    case CtrlKind::Resolve:
      hold(r, m);
      break;
    default:
      rte_pktmbuf_free(m);
  }
}

void Control::inject(Router& r, uint8_t port, rte_mbuf* m) {
  PktMeta& md = meta(m);
  md.router = r.index;
  md.out_port = port;
  if (rte_ring_mp_enqueue(inject_, m) != 0) {
    event(r, Event::HeldDropped);
    rte_pktmbuf_free(m);
  }
}

void Control::learn(Router& r, const NeighKey& k, const MacAddr& mac, bool create) {
  const uint32_t ni = create ? entry(r, k, NeighClass::Reachable) : r.neighbours().find(k);
  if (ni == NeighbourTable::kNone) return;
  Neighbour& n = r.neighbours().at(ni);
  const uint64_t old = n.word.load(std::memory_order_relaxed);
  if (neigh_state(old) == NeighState::Static) return;
  const uint64_t word = pack_neigh(mac, NeighState::Reachable);
  n.word.store(word, std::memory_order_release);
  n.confirmed_tsc = rte_get_tsc_cycles();
  n.probing = n.deferred = false;
  n.probes = 0;
  r.neighbours().set_class(ni, NeighClass::Reachable);
  release(r, n, word);
}

void Control::release(Router& r, Neighbour& n, uint64_t word) {
  const rte_ether_addr dst = to_ether(word);
  while (!n.held.empty()) {
    rte_mbuf* m = n.held.front();
    n.held.pop_front();
    const PktMeta& md = meta(m);
    write_eth(m, dst, r.port(md.out_port).mac,
              md.family == 4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
    event(r, Event::HeldReleased);
    inject(r, md.out_port, m);
  }
}

void Control::handle_arp(Router& r, rte_mbuf* m) {
  const uint8_t port = meta(m).in_port;
  const PortRt& p = r.port(port);
  if (rte_pktmbuf_data_len(m) < kEthLen + sizeof(rte_arp_hdr)) {
    rte_pktmbuf_free(m);
    return;
  }
  auto* arp = rte_pktmbuf_mtod_offset(m, rte_arp_hdr*, kEthLen);
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != 6 ||
      arp->arp_plen != 4) {
    rte_pktmbuf_free(m);
    return;
  }
  const Ip4Addr sender{rte_be_to_cpu_32(arp->arp_data.arp_sip)};
  const Ip4Addr target{rte_be_to_cpu_32(arp->arp_data.arp_tip)};
  const MacAddr sender_mac = to_mac(arp->arp_data.arp_sha);
  const bool for_us = r.is_local4(port, target);
  // RFC 826: update an existing entry; create one when the request is for us.
  if (sender.v != 0) learn(r, neigh_key4(port, sender), sender_mac, for_us);
  if (!for_us || arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
    rte_pktmbuf_free(m);
    return;
  }
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
  arp->arp_data.arp_tha = arp->arp_data.arp_sha;
  arp->arp_data.arp_tip = arp->arp_data.arp_sip;
  arp->arp_data.arp_sha = p.mac;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(target.v);
  write_eth(m, arp->arp_data.arp_tha, p.mac, RTE_ETHER_TYPE_ARP);
  event(r, Event::ArpRepliesSent);
  inject(r, port, m);
}

void Control::handle_nd(Router& r, rte_mbuf* m) {
  const uint8_t port = meta(m).in_port;
  const PortRt& p = r.port(port);
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < kEthLen + 40 + 24) {
    rte_pktmbuf_free(m);
    return;
  }
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen);
  const uint8_t* icmp = reinterpret_cast<const uint8_t*>(ip) + 40;
  const uint32_t icmp_len = std::min<uint32_t>(len - kEthLen - 40, rte_be_to_cpu_16(ip->payload_len));
  if (icmp_len < 24 || icmp[1] != 0 || !icmp6_checksum_ok(ip, icmp, icmp_len)) {
    rte_pktmbuf_free(m);
    return;
  }
  Ip6Addr src, target;
  std::memcpy(src.b.data(), ip->src_addr, 16);
  std::memcpy(target.b.data(), icmp + 8, 16);
  const bool src_unspecified = src == Ip6Addr{};
  if (icmp[0] == kNs) {
    const uint8_t* lla = nd_option(icmp + 24, icmp_len - 24, kOptSource);
    const bool for_us = r.is_local6(port, target);
    if (!src_unspecified && lla != nullptr) {
      MacAddr mac;
      std::memcpy(mac.b.data(), lla, 6);
      learn(r, neigh_key6(port, src), mac, for_us);
    }
    if (!for_us || src_unspecified) {  // DAD probes need no answer: the address is not in use
      rte_pktmbuf_free(m);
      return;
    }
    rte_ether_addr dst_mac;
    if (lla != nullptr) {
      std::memcpy(dst_mac.addr_bytes, lla, 6);
    } else {
      dst_mac = rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr;
    }
    // Router, Solicited, Override.
    if (!build_nd(m, dst_mac, p.mac, target, src, kNa, 0xe0000000u, target, kOptTarget)) {
      // A buffer too small for the answer (not one of ours): answer from a fresh mbuf.
      rte_pktmbuf_free(m);
      m = rte_pktmbuf_alloc(pool_);
      if (m == nullptr) return;
      build_nd(m, dst_mac, p.mac, target, src, kNa, 0xe0000000u, target, kOptTarget);
    }
    event(r, Event::NdAdvertsSent);
    inject(r, port, m);
    return;
  }
  if (icmp[0] == kNa) {
    const uint8_t* lla = nd_option(icmp + 24, icmp_len - 24, kOptTarget);
    MacAddr mac = to_mac(rte_pktmbuf_mtod(m, const rte_ether_hdr*)->src_addr);
    if (lla != nullptr) std::memcpy(mac.b.data(), lla, 6);
    learn(r, neigh_key6(port, target), mac, false);
  }
  rte_pktmbuf_free(m);  // router solicitations/advertisements, redirects: not for a static router
}

void Control::hold(Router& r, rte_mbuf* m) {
  const PktMeta& md = meta(m);
  const NeighKey k = md.family == 4 ? neigh_key4(md.out_port, Ip4Addr{md.hop4}) : [&] {
    Ip6Addr a;
    std::memcpy(a.b.data(), md.hop6, 16);
    return neigh_key6(md.out_port, a);
  }();
  const uint32_t ni = entry(r, k, NeighClass::Probing);
  if (ni == NeighbourTable::kNone) {  // every entry is a static neighbour or a gateway
    event(r, Event::NeighTableFull);
    unreachable_.emplace_back(&r, m);
    return;
  }
  Neighbour& n = r.neighbours().at(ni);
  const uint64_t word = n.word.load(std::memory_order_acquire);
  if (neigh_usable(word)) {  // resolved while the packet was in the ring
    n.held.push_back(m);
    release(r, n, word);
    return;
  }
  if (proc_.nd_hold_packets == 0) {
    rte_pktmbuf_free(m);
    event(r, Event::HeldDropped);
  } else {
    if (n.held.size() >= proc_.nd_hold_packets) {  // drop the oldest, as Linux does
      rte_pktmbuf_free(n.held.front());
      n.held.pop_front();
      event(r, Event::HeldDropped);
    }
    n.held.push_back(m);
  }
  if (!n.probing) start_probing(r, ni, rte_get_tsc_cycles());
}

uint32_t Control::entry(Router& r, const NeighKey& k, NeighClass c) {
  NeighbourTable& t = r.neighbours();
  if (const uint32_t ni = t.find(k); ni != NeighbourTable::kNone) return ni;
  while (t.full()) {
    const uint32_t v = t.victim();
    if (v == NeighbourTable::kNone) return NeighbourTable::kNone;
    evict(r, v);
  }
  return t.create(k, c);
}

void Control::evict(Router& r, uint32_t ni) {
  Neighbour& n = r.neighbours().at(ni);
  for (rte_mbuf* m : n.held) unreachable_.emplace_back(&r, m);
  n.held.clear();
  r.neighbours().remove(ni);
  event(r, Event::NeighEvicted);
}

void Control::start_probing(Router& r, uint32_t ni, uint64_t now) {
  Neighbour& n = r.neighbours().at(ni);
  n.word.store(pack_neigh({}, NeighState::Incomplete), std::memory_order_release);
  n.probing = true;
  n.probes = 0;
  n.probe_start_tsc = now;
  r.neighbours().set_class(ni, NeighClass::Probing);
  probing_.push_back({&r, ni, n.gen});
  attempt_probe(r, ni, now);
}

void Control::attempt_probe(Router& r, uint32_t ni, uint64_t now) {
  if (probe_bucket_[r.index].take(clock_.to_ns(now))) {
    probe(r, ni);
    return;
  }
  Neighbour& n = r.neighbours().at(ni);
  n.deferred = true;
  deferred_.push_back({&r, ni, n.gen});
  event(r, Event::NdProbesDeferred);
  // Stale references pile up under a long flood; drop them now and then.
  if (deferred_.size() > 2 * size_t{r.neighbours().slots()}) {
    std::erase_if(deferred_, [&](const EntryRef& e) { return !current(e) || !e.r->neighbours().at(e.ni).deferred; });
  }
}

void Control::probe(Router& r, uint32_t ni) {
  Neighbour& n = r.neighbours().at(ni);
  n.probes++;
  n.next_probe_tsc = rte_get_tsc_cycles() + hz_ * proc_.nd_retry_ms / 1000;
  if (n.key.family == 4) {
    send_arp_request(r, n.key.port, Ip4Addr{n.key.ip4});
  } else {
    Ip6Addr a;
    std::memcpy(a.b.data(), n.key.ip6, 16);
    send_ns(r, n.key.port, a);
  }
}

void Control::send_arp_request(Router& r, uint8_t port, Ip4Addr target) {
  const PortRt& p = r.port(port);
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) return;
  Ip4Addr src = r.icmp_source4(port);
  for (const auto& a : p.ip4) {
    if (a.contains(target)) src = a.addr;
  }
  auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kEthLen + sizeof(rte_arp_hdr)));
  rte_ether_addr bcast;
  std::memset(bcast.addr_bytes, 0xff, 6);
  write_eth(m, bcast, p.mac, RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(frame + kEthLen);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = 6;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  arp->arp_data.arp_sha = p.mac;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(src.v);
  std::memset(&arp->arp_data.arp_tha, 0, 6);
  arp->arp_data.arp_tip = rte_cpu_to_be_32(target.v);
  event(r, Event::ArpRequestsSent);
  inject(r, port, m);
}

void Control::send_ns(Router& r, uint8_t port, const Ip6Addr& target) {
  const PortRt& p = r.port(port);
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) return;
  Ip6Addr src = p.link_local;
  for (const auto& a : p.ip6) {
    if (a.contains(target)) src = a.addr;
  }
  const Ip6Addr group = solicited_node(target);
  const MacAddr gmac = multicast_mac(group);
  rte_ether_addr dst_mac;
  std::memcpy(dst_mac.addr_bytes, gmac.b.data(), 6);
  build_nd(m, dst_mac, p.mac, src, group, kNs, 0, target, kOptSource);
  event(r, Event::NdSolicitsSent);
  inject(r, port, m);
}

void Control::fail(Router& r, Neighbour& n) {
  n.probing = n.deferred = false;
  n.word.store(pack_neigh({}, NeighState::Failed), std::memory_order_release);
  for (rte_mbuf* m : n.held) unreachable_.emplace_back(&r, m);
  n.held.clear();
}

void Control::send_host_unreachable(Router& r, rte_mbuf* m) {
  if (!unreach_bucket_[r.index].take(clock_.now())) {
    event(r, Event::HeldDropped);
    rte_pktmbuf_free(m);
    return;
  }
  const PktMeta md = meta(m);
  icmp::Refuse refused;
  uint32_t nh = 0;
  int found;
  if (md.family == 4) {
    refused = icmp::make_ip4_error(m, kEthLen, 3, 1, 0, r.icmp_source4(md.in_port));
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen);
    found = refused == icmp::Refuse::None ? r.lookup4(Ip4Addr{rte_be_to_cpu_32(ip->dst_addr)}, nh) : -1;
  } else {
    refused = icmp::make_ip6_error(m, kEthLen, 1, 3, 0, r.icmp_source6(md.in_port));
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen);
    Ip6Addr dst;
    std::memcpy(dst.b.data(), ip->dst_addr, 16);
    found = refused == icmp::Refuse::None ? r.lookup6(dst, nh) : -1;
  }
  if (found != 0 || r.nexthop(nh).kind == NextHop::Kind::Local) {
    event(r, Event::HeldDropped);
    rte_pktmbuf_free(m);
    return;
  }
  // The error goes through resolution like any packet: the source may not be known yet.
  const NextHop& hop = r.nexthop(nh);
  PktMeta& out = meta(m);
  out.out_port = hop.port;
  out.nh = nh;
  out.ctrl = CtrlKind::Resolve;
  if (hop.kind == NextHop::Kind::Gateway) {
    const NeighKey& k = r.neighbours().at(hop.neigh).key;
    out.hop4 = k.ip4;
    std::memcpy(out.hop6, k.ip6, 16);
  } else if (md.family == 4) {
    out.hop4 = rte_be_to_cpu_32(rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen)->dst_addr);
  } else {
    std::memcpy(out.hop6, rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, kEthLen)->dst_addr, 16);
  }
  event(r, Event::IcmpHostUnreachable);
  hold(r, m);
}

}  // namespace pathlab
