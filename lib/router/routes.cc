// Routes: every configured route to a prefix is kept with its metric, and the best one whose
// port is up is installed in the LPM. A port's link going down withdraws its routes and the
// next best takes over; coming back up restores them (static routes with `metric:` give the
// backup path). Writers hold route_mu; workers read the LPM without locks: rte_lpm writes each
// table entry atomically, and with the dataplane's QSBR variable attached its freed tbl8 groups
// are reused only after every worker has passed a quiescent state.
#define ALLOW_EXPERIMENTAL_API 1  // rte_lpm_rcu_qsbr_add (DPDK 22.11)
#include <fmt/format.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

#include <stdexcept>

#include "pathlab/router/router.hpp"

namespace pathlab {

void Router::attach_route_rcu(rte_rcu_qsbr* qsbr) {
  if (qsbr == nullptr) return;
  rte_lpm_rcu_config c{};
  c.v = qsbr;
  c.mode = RTE_LPM_QSBR_MODE_DQ;
  if (rte_lpm_rcu_qsbr_add(lpm4, &c) != 0) {
    throw std::runtime_error(fmt::format("router {}: route table RCU", id));
  }
}

uint32_t Router::best_route(const RouteSet& s) const {
  uint32_t best = kNoNextHop, metric = 0;
  for (const RouteCandidate& c : s.candidates) {
    const NextHop& h = nexthops[c.nh];
    if (h.kind != NextHop::Kind::Local && port_down_[h.port]) continue;
    if (best == kNoNextHop || c.metric < metric) {
      best = c.nh;
      metric = c.metric;
    }
  }
  return best;
}

template <typename Prefix, typename Install>
bool Router::reselect(const Prefix& p, RouteSet& set, Install install) {
  const uint32_t b = best_route(set);
  if (b == set.installed) return false;
  install(p, b);
  set.installed = b;
  return true;
}

void Router::install4(const Ip4Prefix& p, uint32_t nh) {
  // rte_lpm takes depths 1..32: a /0 is two /1s.
  const uint32_t net = p.network().addr.v;
  const bool ok = nh == kNoNextHop
                      ? (p.len == 0 ? rte_lpm_delete(lpm4, 0, 1) == 0 && rte_lpm_delete(lpm4, 0x80000000u, 1) == 0
                                    : rte_lpm_delete(lpm4, net, p.len) == 0)
                      : (p.len == 0 ? rte_lpm_add(lpm4, 0, 1, nh) == 0 && rte_lpm_add(lpm4, 0x80000000u, 1, nh) == 0
                                    : rte_lpm_add(lpm4, net, p.len, nh) == 0);
  if (!ok) throw std::runtime_error(fmt::format("router {}: cannot change route {}", id, to_string(p)));
}

void Router::install6(const Ip6Prefix& p, uint32_t nh) {
  bool ok;
  if (p.len == 0) {
    Ip6Addr lo, hi;
    hi.b[0] = 0x80;
    ok = nh == kNoNextHop
             ? rte_lpm6_delete(lpm6, lo.b.data(), 1) == 0 && rte_lpm6_delete(lpm6, hi.b.data(), 1) == 0
             : rte_lpm6_add(lpm6, lo.b.data(), 1, nh) == 0 && rte_lpm6_add(lpm6, hi.b.data(), 1, nh) == 0;
  } else {
    const Ip6Addr net = p.network().addr;
    ok = nh == kNoNextHop ? rte_lpm6_delete(lpm6, net.b.data(), p.len) == 0
                          : rte_lpm6_add(lpm6, net.b.data(), p.len, nh) == 0;
  }
  if (!ok) throw std::runtime_error(fmt::format("router {}: cannot change route {}", id, to_string(p)));
}

void Router::add_route4(const Ip4Prefix& p, uint32_t nh, uint32_t metric) {
  std::lock_guard lock(route_mu);
  RouteSet& set = routes4[p];
  set.candidates.push_back({nh, metric});
  reselect(p, set, [this](const Ip4Prefix& q, uint32_t n) { install4(q, n); });
}

void Router::add_route6(const Ip6Prefix& p, uint32_t nh, uint32_t metric) {
  std::lock_guard lock(route_mu);
  RouteSet& set = routes6[p];
  set.candidates.push_back({nh, metric});
  reselect(p, set, [this](const Ip6Prefix& q, uint32_t n) { install6(q, n); });
}

size_t Router::set_port_up(uint8_t port, bool up) {
  std::lock_guard lock(route_mu);
  if (port >= port_down_.size() || port_down_[port] == !up) return 0;
  port_down_[port] = !up;
  size_t changed = 0;
  for (auto& [prefix, set] : routes4) {
    changed += reselect(prefix, set, [this](const Ip4Prefix& q, uint32_t n) { install4(q, n); });
  }
  for (auto& [prefix, set] : routes6) {
    changed += reselect(prefix, set, [this](const Ip6Prefix& q, uint32_t n) { install6(q, n); });
  }
  return changed;
}

bool Router::port_up(uint8_t port) const {
  std::lock_guard lock(route_mu);
  return port < port_down_.size() && !port_down_[port];
}

}  // namespace pathlab
