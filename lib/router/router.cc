// The router's construction, tables and API, and the order of its data path: process() and
// drain() call the steps, each in its own file (see router.hpp).
#include "pathlab/router/router.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_errno.h>

#include "pathlab/router/meta.hpp"

namespace pathlab {

Router::Router(uint16_t idx, const RouterConfig& cfg, const ProcessConfig& proc, unsigned nslots)
    : index(idx), id(cfg.id), asn(cfg.asn) {
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
    rte_lpm_free(lpm4);
    rte_lpm6_free(lpm6);
    throw std::runtime_error(fmt::format("router {}: route tables: {}", id, rte_strerror(rte_errno)));
  }
  neigh = std::make_unique<NeighbourTable>(tag + "_neigh", proc.nd_max_entries);
  ports.resize(cfg.ports.size());
  port_down_.assign(cfg.ports.size(), false);
  for (size_t pi = 0; pi < cfg.ports.size(); ++pi) {
    const PortConfig& pc = cfg.ports[pi];
    PortRt& p = ports[pi];
    p.name = pc.name;
    p.kind = pc.device.empty() ? PortKind::Ring : PortKind::Eth;
    p.ip4 = pc.ipv4;
    p.ip6 = pc.ipv6;
    p.mtu = pc.mtu;
    p.rx_queues = pc.rx_queues;
  }
  workers.resize(nslots);
  for (auto& rw : workers) {
    rw.ports.resize(cfg.ports.size());
    rw.ingress.resize(cfg.ports.size());
    rw.egress.resize(cfg.ports.size());
    rw.out.resize(cfg.ports.size());
  }
  set_icmp_limit(proc.icmp_rate, proc.icmp_burst);
}

Router::~Router() {
  rte_lpm_free(lpm4);
  rte_lpm6_free(lpm6);
}

// ---- The data path, in order.

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

// Packets an ingress stage releases go on from the route lookup; packets an egress stage
// releases go on to L2 rewrite and tx on their port.
uint32_t Router::drain(const WorkerIo& io, Nanos now) {
  RouterWorker& rw = workers[io.index];
  uint32_t released = 0;
  rw.in.now = now;
  for (Batch& ob : rw.out) ob.now = now;
  for (uint8_t p = 0; p < ports.size(); ++p) {
    Chain& ingress = rw.ingress[p];
    if (ingress.holds()) {
      rw.in.n = 0;
      released += ingress.drain(now, rw.in);
      if (rw.in.ngen != 0) route_replies(rw, p, rw.in);
      if (rw.in.nredirect != 0) redirect(rw, rw.in);
      forward(rw, p, false);
      outputs(rw, io, p);
    }
    Chain& egress = rw.egress[p];
    if (egress.holds()) {
      Batch& b = rw.out[p];
      released += egress.drain(now, b);
      set_aside(rw, b, true);
      if (b.n != 0) send(rw, io, p, p);
      outputs(rw, io, p);
    }
  }
  return released;
}

// ---- Hand-over to the control path (input and output steps).

void Router::hand_over(rte_mbuf* m, CtrlKind kind, uint8_t in, uint8_t family) const {
  PktMeta& md = meta(m);
  md.ctrl = kind;
  md.router = index;
  md.in_port = in;
  md.family = family;
}

void Router::to_ctrl(RouterWorker& rw, const WorkerIo& io, rte_mbuf** pkts, uint16_t n) {
  const unsigned sent = rte_ring_sp_enqueue_burst(io.ctrl, reinterpret_cast<void**>(pkts), n, nullptr);
  bump(rw.consumed, sent);
  for (unsigned i = sent; i < n; ++i) drop(rw, Drop::CtrlRingFull, pkts[i]);
}

// ---- Ports.

int Router::port_index(std::string_view name) const {
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

void Router::set_port_mac(uint8_t i, const rte_ether_addr& mac) {
  PortRt& p = ports[i];
  p.mac = mac;
  MacAddr m;
  std::copy(mac.addr_bytes, mac.addr_bytes + 6, m.b.begin());
  p.link_local = link_local_from_mac(m);
}

void Router::attach_eth(uint8_t i, uint16_t eth_id, bool rx_cksum_hw, bool tx_shared) {
  PortRt& p = ports[i];
  p.kind = PortKind::Eth;
  p.eth_id = eth_id;
  p.rx_cksum_hw = rx_cksum_hw;
  p.tx_shared = tx_shared;
}

void Router::attach_rings(uint8_t i, rte_ring* rx, rte_ring* tx) {
  PortRt& p = ports[i];
  p.kind = PortKind::Ring;
  p.rx_ring = rx;
  p.tx_ring = tx;
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

// ---- Routes, next hops and neighbours.

uint32_t Router::add_nexthop(NextHop h) {
  nexthops.push_back(h);
  return static_cast<uint32_t>(nexthops.size() - 1);
}

int Router::lookup4(Ip4Addr dst, uint32_t& nh) const { return rte_lpm_lookup(lpm4, dst.v, &nh); }

int Router::lookup6(const Ip6Addr& dst, uint32_t& nh) const {
  return rte_lpm6_lookup(lpm6, dst.b.data(), &nh);
}

void Router::add_static_neighbour(const NeighKey& k, const MacAddr& mac) {
  const uint32_t ni = neigh->pin(k);
  if (ni == NeighbourTable::kNone) {
    throw std::runtime_error(fmt::format("router {}: neighbour table full", id));
  }
  neigh->at(ni).word.store(pack_neigh(mac, NeighState::Static), std::memory_order_release);
}

// ---- Stage chains.

SharedState& Router::init_shared(rte_rcu_qsbr* qsbr) {
  shared = std::make_unique<SharedState>(fmt::format("r{}", index), qsbr);
  neigh->attach_rcu(qsbr);
  attach_route_rcu(qsbr);
  return *shared;
}

void Router::install_chain(unsigned slot, uint8_t port, bool egress, Chain chain) {
  for (const auto& st : chain.stages()) parse_views = parse_views || st->reads_view();
  if (chain.holds()) holds = true;
  (egress ? workers[slot].egress : workers[slot].ingress)[port] = std::move(chain);
}

const Chain& Router::chain(unsigned slot, uint8_t port, bool egress) const {
  return (egress ? workers[slot].egress : workers[slot].ingress)[port];
}

void Router::reseed(unsigned slot, uint64_t seed) {
  for (const auto* chains : {&workers[slot].ingress, &workers[slot].egress}) {
    for (const Chain& ch : *chains) {
      for (const auto& st : ch.stages()) st->reseed(seed);
    }
  }
}

// ---- Counters.

RouterCounters Router::counters() const {
  RouterCounters c;
  c.ports.resize(ports.size());
  for (const RouterWorker& rw : workers) {
    for (size_t i = 0; i < ports.size(); ++i) {
      c.ports[i].rx_pkts += load(rw.ports[i].rx_pkts);
      c.ports[i].rx_bytes += load(rw.ports[i].rx_bytes);
      c.ports[i].tx_pkts += load(rw.ports[i].tx_pkts);
      c.ports[i].tx_bytes += load(rw.ports[i].tx_bytes);
      c.ports[i].ctrl_tx_pkts += load(rw.ports[i].ctrl_tx_pkts);
    }
    for (size_t i = 0; i < c.drops.size(); ++i) c.drops[i] += load(rw.drops[i]);
    for (size_t i = 0; i < c.events.size(); ++i) c.events[i] += load(rw.events[i]);
    c.consumed += load(rw.consumed);
  }
  return c;
}

uint64_t Router::sum_over_stages(uint64_t (*value)(const Stage&)) const {
  uint64_t n = 0;
  for (const RouterWorker& rw : workers) {
    for (const auto* chains : {&rw.ingress, &rw.egress}) {
      for (const Chain& ch : *chains) {
        for (const auto& st : ch.stages()) n += value(*st);
      }
    }
  }
  return n;
}

uint64_t Router::held() const {
  return sum_over_stages([](const Stage& s) { return s.held_now(); });
}

uint64_t Router::created() const {
  return sum_over_stages([](const Stage& s) { return s.created_count(); });
}

void Router::set_icmp_limit(uint64_t rate, uint64_t burst) {
  for (RouterWorker& rw : workers) rw.icmp.reset(rate, burst);
}

}  // namespace pathlab
