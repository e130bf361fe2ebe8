#include "pathlab/engine/dataplane.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_telemetry.h>

#include "pathlab/engine/tsan.hpp"
#include "pathlab/net/view.hpp"
#include "pathlab/router/meta.hpp"

namespace pathlab {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

rte_ether_addr to_ether(const MacAddr& m) {
  rte_ether_addr a;
  std::memcpy(a.addr_bytes, m.b.data(), 6);
  return a;
}

MacAddr from_ether(const rte_ether_addr& a) {
  MacAddr m;
  std::memcpy(m.b.data(), a.addr_bytes, 6);
  return m;
}

// Idle back-off: spin, then pause, then sleep, so a lab can share its cores with its hosts.
void back_off(unsigned idle) {
  if (idle < 256) {
    rte_pause();
  } else if (idle < 2048) {
    for (int i = 0; i < 32; ++i) rte_pause();
  } else {
    rte_delay_us_sleep(idle < 8192 ? 20 : 100);
  }
}

int worker_main(void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  rte_mbuf* pkts[kMaxBurst];
  unsigned idle = 0;
  std::vector<Router*> holding;
  for (Router* r : *w.routers) {
    if (r->holds_packets()) holding.push_back(r);
  }
  if (w.qsbr != nullptr) {
    rte_rcu_qsbr_thread_register(w.qsbr, w.io.index);
    rte_rcu_qsbr_thread_online(w.qsbr, w.io.index);
  }
  while (!w.stop->load(std::memory_order_relaxed)) {
    unsigned got = 0;
    const Nanos now = w.clock.now();
    for (Router* r : holding) got += r->drain(w.io, now);
    for (const PollEntry& p : w.polls) {
      const PortRt& port = p.router->port(p.port);
      const uint16_t n =
          port.kind == PortKind::Ring
              ? static_cast<uint16_t>(rte_ring_sc_dequeue_burst(
                    port.rx_ring, reinterpret_cast<void**>(pkts), w.burst, nullptr))
              : rte_eth_rx_burst(port.eth_id, p.queue, pkts, w.burst);
      if (n != 0) {
        got += n;
        // The burst's time is read after rx, not the loop's `now`: a worker preempted between
        // the two would stamp what arrived meanwhile with a time in the past, and a link stage
        // would release those packets early (ping RTTs below 2 x delay on a loaded host).
        p.router->process(w.io, p.port, pkts, n, w.clock.now());
        // What fell due while the burst was processed leaves now rather than after the next
        // rx: a link's departure error is then half a burst's processing time, not a loop's.
        if (p.router->holds_packets()) got += p.router->drain(w.io, w.clock.now());
      }
    }
    if (w.inject != nullptr) {
      const unsigned n = rte_ring_sc_dequeue_burst(w.inject, reinterpret_cast<void**>(pkts), 32, nullptr);
      for (unsigned i = 0; i < n; ++i) {
        const PktMeta& md = meta(pkts[i]);
        (*w.routers)[md.router]->send_ctrl(w.io, md.out_port, &pkts[i], 1);
      }
      got += n;
    }
    if (w.qsbr != nullptr) rte_rcu_qsbr_quiescent(w.qsbr, w.io.index);
    if (got != 0) {
      idle = 0;
    } else if (w.idle == IdlePolicy::Adaptive) {
      back_off(holding.empty() ? ++idle : std::min(++idle, 2047u));  // holders: no sleeping
    }
  }
  // Nothing held is lost at exit: release everything and send it while the ports still run.
  for (Router* r : holding) {
    while (r->drain(w.io, kForever) != 0) {
    }
  }
  if (w.qsbr != nullptr) {
    rte_rcu_qsbr_thread_offline(w.qsbr, w.io.index);
    rte_rcu_qsbr_thread_unregister(w.qsbr, w.io.index);
  }
  // Dataplane::stop() waits for this return in rte_eal_mp_wait_lcore(), inside librte_eal
  // where ThreadSanitizer cannot see it (engine/tsan.hpp).
  tsan::release(&w);
  return 0;
}

uint16_t port_by_name(const std::string& name) {
  uint16_t id = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) return RTE_MAX_ETHPORTS;
  return id;
}

}  // namespace

Dataplane::Dataplane(const Config& cfg) : cfg_(cfg) {
  if (cfg_.process.workers.empty()) {
    const unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    if (lcore >= RTE_MAX_LCORE) fail("no worker lcore: give EAL at least two lcores (-l 0,1)");
    WorkerConfig w;
    w.lcore = lcore;
    for (const auto& r : cfg_.routers) {
      for (const auto& p : r.ports) {
        for (uint16_t q = 0; q < p.rx_queues; ++q) w.poll.push_back({r.id, p.name, q});
      }
    }
    cfg_.process.workers.push_back(w);
  }
  for (const auto& w : cfg_.process.workers) {
    if (!rte_lcore_is_enabled(w.lcore) || w.lcore == rte_get_main_lcore()) {
      fail(fmt::format("worker lcore {} is not an enabled worker lcore (EAL -l)", w.lcore));
    }
  }
  nworkers_ = static_cast<unsigned>(cfg_.process.workers.size());
}

struct Dataplane::LinkRequest {
  std::string text;
  std::promise<std::string> reply;
};

Dataplane::~Dataplane() {
  stop();
  if (started_once_) {
    set_telemetry_source({});
    set_telemetry_mbufs({});
    set_telemetry_links({}, {});  // waits for a command in progress
  }
  control_.reset();
  owned_.clear();
  for (rte_ring* r : rings_) rte_ring_free(r);
  for (uint16_t id : eth_ports_) rte_eth_dev_close(id);
  rte_mempool_free(pool_);
  rte_free(qsbr_);
}

void Dataplane::setup_mempool() {
  init_packet_view();
  uint64_t need = 4096;
  uint16_t max_mtu = 1500;
  for (const auto& r : cfg_.routers) {
    for (const auto& p : r.ports) {
      max_mtu = std::max(max_mtu, p.mtu);
      if (!p.device.empty()) {
        need += uint64_t{p.rx_queues} * cfg_.process.rx_desc + uint64_t{nworkers_} * cfg_.process.tx_desc;
      }
      need += uint64_t{nworkers_} * kMaxBurst;
    }
  }
  for (const auto& l : cfg_.links) need += 2ull * l.ring_size;
  need += uint64_t{nworkers_ + 1} * (cfg_.process.mbuf_cache + 4096);
  const uint32_t n = static_cast<uint32_t>(std::max<uint64_t>(cfg_.process.mbufs, need));
  const uint32_t room = std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE,
                                           max_mtu + RTE_ETHER_HDR_LEN + 8 + RTE_PKTMBUF_HEADROOM);
  pool_ = rte_pktmbuf_pool_create("pl_mbufs", n, std::min<uint32_t>(cfg_.process.mbuf_cache, 512),
                                  kMetaSize, static_cast<uint16_t>(room), rte_socket_id());
  if (pool_ == nullptr) fail(fmt::format("mbuf pool of {} mbufs: {}", n, rte_strerror(rte_errno)));
}

void Dataplane::setup_port(Router& r, uint8_t idx, const PortConfig& pc) {
  std::string name = pc.device;
  std::string args;
  if (const auto comma = name.find(','); comma != std::string::npos) {
    args = name.substr(comma + 1);
    name.resize(comma);
  }
  const uint16_t want_q = static_cast<uint16_t>(std::max<unsigned>(pc.rx_queues, nworkers_));
  if (name.rfind("net_af_packet", 0) == 0 && args.find("qpairs=") == std::string::npos) {
    args += fmt::format("{}qpairs={}", args.empty() ? "" : ",", want_q);
  }
  uint16_t id = port_by_name(name);
  if (id == RTE_MAX_ETHPORTS) {
    const int rc = name.rfind("net_", 0) == 0 ? rte_vdev_init(name.c_str(), args.c_str())
                                              : rte_dev_probe(pc.device.c_str());
    if (rc != 0) fail(fmt::format("{}.{}: cannot create device '{}': {}", r.id, pc.name, pc.device, rte_strerror(-rc)));
    id = port_by_name(name);
    if (id == RTE_MAX_ETHPORTS) fail(fmt::format("{}.{}: device '{}' has no ethdev port", r.id, pc.name, pc.device));
  }
  eth_ports_.push_back(id);
  bool rx_cksum_hw = false, tx_shared = false;

  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(id, &info) != 0) fail(fmt::format("{}.{}: no device info", r.id, pc.name));
  if (pc.rx_queues > info.max_rx_queues) {
    fail(fmt::format("{}.{}: {} rx queues asked, device has {}", r.id, pc.name, pc.rx_queues, info.max_rx_queues));
  }
  rte_eth_conf conf{};
  if (pc.rx_queues > 1 && info.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    rx_cksum_hw = true;
  }
  uint16_t txq = static_cast<uint16_t>(nworkers_);
  if (txq > info.max_tx_queues) {
    txq = 1;
    tx_shared = true;
    fmt::print(stderr, "pathlab: {}.{}: device has {} tx queue(s) for {} workers; tx is serialised\n",
               r.id, pc.name, info.max_tx_queues, nworkers_);
  }
  int rc = rte_eth_dev_configure(id, pc.rx_queues, txq, &conf);
  if (rc != 0) fail(fmt::format("{}.{}: configure: {}", r.id, pc.name, rte_strerror(-rc)));
  uint16_t nrx = cfg_.process.rx_desc, ntx = cfg_.process.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
  for (uint16_t q = 0; q < pc.rx_queues; ++q) {
    rc = rte_eth_rx_queue_setup(id, q, nrx, rte_eth_dev_socket_id(id), nullptr, pool_);
    if (rc != 0) fail(fmt::format("{}.{}: rx queue {}: {}", r.id, pc.name, q, rte_strerror(-rc)));
  }
  for (uint16_t q = 0; q < txq; ++q) {
    rc = rte_eth_tx_queue_setup(id, q, ntx, rte_eth_dev_socket_id(id), nullptr);
    if (rc != 0) fail(fmt::format("{}.{}: tx queue {}: {}", r.id, pc.name, q, rte_strerror(-rc)));
  }
  if (rte_eth_dev_set_mtu(id, pc.mtu) != 0) {
    fmt::print(stderr, "pathlab: {}.{}: device refused MTU {}; the router still enforces it\n", r.id, pc.name, pc.mtu);
  }
  rte_ether_addr mac;
  if (!pc.mac.is_zero()) {
    mac = to_ether(pc.mac);
    rte_eth_dev_default_mac_addr_set(id, &mac);  // best effort; promiscuous mode covers refusal
  } else {
    rte_eth_macaddr_get(id, &mac);
  }
  rte_eth_promiscuous_enable(id);
  r.attach_eth(idx, id, rx_cksum_hw, tx_shared);
  r.set_port_mac(idx, mac);
}

std::unique_ptr<Router> make_router(const Config& cfg, size_t ri, unsigned slots) {
  return std::make_unique<Router>(static_cast<uint16_t>(ri), cfg.routers[ri], cfg.process, slots);
}

rte_ether_addr fallback_port_mac(const PortConfig& pc, size_t ri, size_t pi) {
  MacAddr m = pc.mac;
  if (m.is_zero()) m.b = {0x02, 0x70, 0x6c, static_cast<uint8_t>(ri), static_cast<uint8_t>(pi), 0x01};
  return to_ether(m);
}

std::pair<Router*, uint8_t> find_port(const std::vector<Router*>& routers, const std::string& rid,
                                      const std::string& pname) {
  for (Router* r : routers) {
    if (r->id != rid) continue;
    if (const int i = r->port_index(pname); i >= 0) return {r, static_cast<uint8_t>(i)};
  }
  fail(fmt::format("port {}.{} not found", rid, pname));
}

void learn_link_peers(Router& a, uint8_t pa, Router& b, uint8_t pb) {
  auto learn_peer = [](Router& self, uint8_t sp, const PortRt& peer) {
    const MacAddr mac = from_ether(peer.mac);
    for (const auto& x : peer.ip4) self.add_static_neighbour(neigh_key4(sp, x.addr), mac);
    for (const auto& x : peer.ip6) self.add_static_neighbour(neigh_key6(sp, x.addr), mac);
    self.add_static_neighbour(neigh_key6(sp, peer.link_local), mac);
  };
  learn_peer(a, pa, b.port(pb));
  learn_peer(b, pb, a.port(pa));
}

void Dataplane::setup_routers() {
  for (size_t ri = 0; ri < cfg_.routers.size(); ++ri) {
    const RouterConfig& rc = cfg_.routers[ri];
    auto r = make_router(cfg_, ri, nworkers_ + 1);
    for (size_t pi = 0; pi < rc.ports.size(); ++pi) {
      const PortConfig& pc = rc.ports[pi];
      const auto port = static_cast<uint8_t>(pi);
      if (pc.device.empty()) {
        r->set_port_mac(port, fallback_port_mac(pc, ri, pi));  // a ring port (the constructor)
      } else {
        setup_port(*r, port, pc);
      }
    }
    routers_.push_back(r.get());
    owned_.push_back(std::move(r));
  }
  setup_links();
  for (size_t ri = 0; ri < cfg_.routers.size(); ++ri) {
    install_routes(*routers_[ri], cfg_.routers[ri]);
    install_chains(*routers_[ri], cfg_.routers[ri], nworkers_, -1, qsbr_);
  }
}

void Dataplane::setup_links() {
  for (size_t li = 0; li < cfg_.links.size(); ++li) {
    const LinkConfig& l = cfg_.links[li];
    auto [ra, pa] = find_port(routers_, l.a_router, l.a_port);
    auto [rb, pb] = find_port(routers_, l.b_router, l.b_port);
    rte_ring* ab = rte_ring_create(fmt::format("pl_l{}ab", li).c_str(), l.ring_size, SOCKET_ID_ANY, RING_F_SC_DEQ);
    rte_ring* ba = rte_ring_create(fmt::format("pl_l{}ba", li).c_str(), l.ring_size, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (ab == nullptr || ba == nullptr) fail(fmt::format("link {}: rings: {}", l.name, rte_strerror(rte_errno)));
    rings_.push_back(ab);
    rings_.push_back(ba);
    ra->attach_rings(pa, ba, ab);
    rb->attach_rings(pb, ab, ba);
    // Each side knows the other's addresses: static neighbours, no resolution over the link.
    learn_link_peers(*ra, pa, *rb, pb);
  }
}

void install_routes(Router& r, const RouterConfig& rc) {
  const uint32_t local = r.add_nexthop({NextHop::Kind::Local, 0, NeighbourTable::kNone});
  for (size_t pi = 0; pi < r.port_count(); ++pi) {
    const auto port = static_cast<uint8_t>(pi);
    const uint32_t connected = r.add_nexthop({NextHop::Kind::Connected, port, NeighbourTable::kNone});
    for (const auto& a : r.port(port).ip4) {
      r.add_route4(a, connected);
      r.add_route4({a.addr, 32}, local);
    }
    for (const auto& a : r.port(port).ip6) {
      r.add_route6(a, connected);
      r.add_route6({a.addr, 128}, local);
    }
  }
  auto port_of = [&](const std::string& name) -> uint8_t {
    const int i = r.port_index(name);
    return i < 0 ? UINT8_MAX : static_cast<uint8_t>(i);
  };
  // A static route's port: the one named, else the one whose subnet holds the gateway.
  auto add_routes = [&](const auto& routes, auto addrs_of, auto neigh_key, auto add) {
    for (const auto& rt : routes) {
      uint8_t port = port_of(rt.port);
      for (size_t i = 0; rt.via && port == UINT8_MAX && i < r.port_count(); ++i) {
        for (const auto& a : addrs_of(r.port(static_cast<uint8_t>(i)))) {
          if (a.contains(*rt.via)) port = static_cast<uint8_t>(i);
        }
      }
      if (port == UINT8_MAX) fail(fmt::format("router {}: route {} has no port", r.id, to_string(rt.prefix)));
      NextHop h{NextHop::Kind::Connected, port, NeighbourTable::kNone};
      if (rt.via) {
        h.kind = NextHop::Kind::Gateway;
        h.neigh = r.neighbours().pin(neigh_key(port, *rt.via));
        if (h.neigh == NeighbourTable::kNone) {
          fail(fmt::format("router {}: more gateways and static neighbours than process.neighbours.max_entries", r.id));
        }
      }
      add(rt.prefix, r.add_nexthop(h), rt.metric);
    }
  };
  add_routes(
      rc.routes4, [](const PortRt& p) -> const auto& { return p.ip4; }, neigh_key4,
      [&](const Ip4Prefix& p, uint32_t nh, uint32_t metric) { r.add_route4(p, nh, metric); });
  add_routes(
      rc.routes6, [](const PortRt& p) -> const auto& { return p.ip6; }, neigh_key6,
      [&](const Ip6Prefix& p, uint32_t nh, uint32_t metric) { r.add_route6(p, nh, metric); });
  for (const auto& n : rc.neighbours4) r.add_static_neighbour(neigh_key4(port_of(n.port), n.ip), n.mac);
  for (const auto& n : rc.neighbours6) r.add_static_neighbour(neigh_key6(port_of(n.port), n.ip), n.mac);
}

void install_chains(Router& r, const RouterConfig& rc, unsigned workers, int as_worker,
                    rte_rcu_qsbr* qsbr) {
  SharedState& shared = r.init_shared(qsbr);
  for (size_t pi = 0; pi < rc.ports.size(); ++pi) {
    const PortConfig& pc = rc.ports[pi];
    for (const bool egress : {false, true}) {
      const auto& specs = egress ? pc.egress : pc.ingress;
      for (unsigned w = 0; w < workers; ++w) {
        std::vector<std::unique_ptr<Stage>> stages;
        const unsigned site_worker = as_worker >= 0 ? static_cast<unsigned>(as_worker) : w;
        for (const auto& spec : specs) {
          StageSite site{r.id,    pc.name, egress, pc.mtu,  site_worker,
                         pc.ipv4, pc.ipv6, spec.name, workers, &shared};
          site.asn = rc.asn;
          for (const PortConfig& any : rc.ports) {
            site.port_ip4.push_back(any.ipv4);
            site.port_ip6.push_back(any.ipv6);
            site.port_names.push_back(any.name);
          }
          stages.push_back(spec.build(site));
          name_stage(*stages.back(), spec.name);
        }
        r.install_chain(w, static_cast<uint8_t>(pi), egress, Chain(std::move(stages)));
      }
    }
  }
}

void Dataplane::setup_rcu() {
  const size_t sz = rte_rcu_qsbr_get_memsize(nworkers_);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("pl_qsbr", sz, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, nworkers_) != 0) fail("RCU QSBR variable");
}

void Dataplane::setup_workers() {
  std::vector<rte_ring*> ctrl;
  rte_ring* inject = rte_ring_create("pl_inject", 4096, SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (inject == nullptr) fail(fmt::format("inject ring: {}", rte_strerror(rte_errno)));
  rings_.push_back(inject);
  for (unsigned wi = 0; wi < nworkers_; ++wi) {
    const WorkerConfig& wc = cfg_.process.workers[wi];
    auto w = std::make_unique<Worker>();
    w->lcore = wc.lcore;
    w->io.index = wi;
    w->io.txq = static_cast<uint16_t>(wi);
    w->io.ctrl = rte_ring_create(fmt::format("pl_ctrl{}", wi).c_str(), 4096, SOCKET_ID_ANY,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (w->io.ctrl == nullptr) fail(fmt::format("control ring: {}", rte_strerror(rte_errno)));
    rings_.push_back(w->io.ctrl);
    ctrl.push_back(w->io.ctrl);
    w->inject = wi == 0 ? inject : nullptr;
    w->idle = cfg_.process.idle;
    w->burst = cfg_.process.burst;
    w->routers = &routers_;
    w->stop = &stop_;
    w->qsbr = qsbr_;
    for (const auto& ps : wc.poll) {
      for (Router* r : routers_) {
        if (r->id != ps.router) continue;
        if (const int i = r->port_index(ps.port); i >= 0) {
          w->polls.push_back({r, static_cast<uint8_t>(i), ps.queue});
        }
      }
    }
    workers_.push_back(std::move(w));
  }
  control_ = std::make_unique<Control>(routers_, ctrl, inject, pool_, cfg_.process);
}

Router* Dataplane::router(std::string_view id) const {
  for (Router* r : routers_) {
    if (r->id == id) return r;
  }
  return nullptr;
}

void Dataplane::build() {
  setup_mempool();
  setup_rcu();
  setup_routers();
  setup_workers();
  links_ = std::make_unique<LinkControl>(cfg_, routers_, nworkers_);
}

void Dataplane::launch() {
  for (uint16_t id : eth_ports_) {
    const int rc = rte_eth_dev_start(id);
    if (rc != 0) fail(fmt::format("port {}: start: {}", id, rte_strerror(-rc)));
  }
  set_telemetry_source([this] { return totals(); });
  set_telemetry_mbufs([this] { return mbufs(); });
  set_telemetry_links([this] { return links_->report(); },
                      [this](const std::string& text) { return link_command(text); });
  started_once_ = true;
  stop_ = false;
  if (!workers_.empty()) workers_.front()->clock.set_wall_clock();
  for (auto& w : workers_) {
    const int rc = rte_eal_remote_launch(worker_main, w.get(), w->lcore);
    if (rc != 0) fail(fmt::format("lcore {}: launch failed", w->lcore));
  }
  started_ = true;
  launched_at_ = Clock::now();
}

// The telemetry thread: hands the command to the control path (run()) and waits for its answer.
std::string Dataplane::link_command(const std::string& text) {
  auto req = std::make_shared<LinkRequest>();
  req->text = text;
  std::future<std::string> answer = req->reply.get_future();
  {
    std::lock_guard<std::mutex> g(link_lock_);
    link_requests_.push_back(req);
  }
  if (answer.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    std::lock_guard<std::mutex> g(link_lock_);
    auto it = std::find(link_requests_.begin(), link_requests_.end(), req);
    if (it != link_requests_.end()) {
      link_requests_.erase(it);
      return "error: the control path did not take the command within 2 s (pathlab stopping?)";
    }
  }
  return answer.get();  // taken: it is being answered
}

unsigned Dataplane::serve_link_requests() {
  unsigned n = 0;
  for (;;) {
    std::shared_ptr<LinkRequest> req;
    {
      std::lock_guard<std::mutex> g(link_lock_);
      if (link_requests_.empty()) return n;
      req = std::move(link_requests_.front());
      link_requests_.pop_front();
    }
    std::string reply;
    try {
      reply = links_->command(req->text);
    } catch (const std::exception& e) {
      reply = std::string("error: ") + e.what();
    }
    req->reply.set_value(std::move(reply));
    ++n;
  }
}

void Dataplane::run(double duration_s, double stats_interval_s, const std::atomic<bool>& stop_signal) {
  const auto t0 = Clock::now();
  auto next_stats = t0 + std::chrono::duration<double>(stats_interval_s);
  last_ = totals();
  while (!stop_signal.load()) {
    const auto now = Clock::now();
    if (duration_s > 0 && std::chrono::duration<double>(now - t0).count() >= duration_s) break;
    unsigned handled = control_->poll();
    handled += serve_link_requests();
    if (links_->events_left() != 0) {
      links_->run_events(static_cast<Nanos>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - launched_at_).count()));
    }
    if (stats_interval_s > 0 && now >= next_stats) {
      print_stats(stats_interval_s);
      next_stats += std::chrono::duration<double>(stats_interval_s);
    }
    if (handled == 0) rte_delay_us_sleep(100);
  }
}

void Dataplane::stop() {
  if (control_ == nullptr) return;
  if (started_) {
    started_ = false;
    stop_ = true;
    rte_eal_mp_wait_lcore();
    for (auto& w : workers_) tsan::acquire(w.get());  // worker_main's release
  }
  control_->poll();  // what the workers handed over last
  control_->flush();
  for (uint16_t id : eth_ports_) rte_eth_dev_stop(id);
  drain_rings();
  // Closing releases what the PMDs keep in their rx rings: every mbuf is back in the pool.
  for (uint16_t id : eth_ports_) rte_eth_dev_close(id);
  eth_ports_.clear();
}

MbufUse Dataplane::mbufs() const {
  if (pool_ == nullptr) return {};
  return {pool_->size, rte_mempool_in_use_count(pool_)};
}

void Dataplane::drain_rings() {
  rte_mbuf* m = nullptr;
  for (rte_ring* r : rings_) {
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
  }
}

RouterTotals Dataplane::totals(const Router& r) const { return router_totals(r, nworkers_); }

std::vector<RouterTotals> Dataplane::totals() const {
  std::vector<RouterTotals> all;
  for (const Router* r : routers_) all.push_back(totals(*r));
  name_link_directions(all, cfg_);
  return all;
}

void Dataplane::print_stats(double interval_s) {
  std::vector<RouterTotals> now = totals();
  fmt::print("{}\n", stats_line(now, last_, interval_s));
  std::fflush(stdout);
  last_ = std::move(now);
}

}  // namespace pathlab
