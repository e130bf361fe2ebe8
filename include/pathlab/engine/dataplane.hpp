#pragma once
// Builds the routers, ports, links and workers of a validated Config, runs them, and reports.
// Set-up runs on the main lcore after rte_eal_init; workers run on the other lcores; the main
// lcore then runs the control path and the stats timer.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

struct rte_rcu_qsbr;

#include "pathlab/config/config.hpp"
#include "pathlab/engine/clock.hpp"
#include "pathlab/engine/link_control.hpp"
#include "pathlab/control/control.hpp"
#include "pathlab/router/router.hpp"
#include "pathlab/stats/stats.hpp"

namespace pathlab {

struct PollEntry {
  Router* router = nullptr;
  uint8_t port = 0;
  uint16_t queue = 0;
};

struct Worker {
  unsigned lcore = 0;
  WorkerIo io;
  std::vector<PollEntry> polls;
  rte_ring* inject = nullptr;  // control -> this worker (worker 0 only)
  IdlePolicy idle = IdlePolicy::Adaptive;
  uint16_t burst = 32;
  std::vector<Router*>* routers = nullptr;
  std::atomic<bool>* stop = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;  // shared stage state: one quiescent report per loop
  TscClock clock;
};

// Router construction shared by the live dataplane and offline replay (pathlab replay).
// A router for cfg.routers[ri] with `slots` counter sets, its ports' names, addresses and MTUs
// filled in; each port's device or rings and its MAC are the caller's (Router::attach_*,
// Router::set_port_mac).
std::unique_ptr<Router> make_router(const Config& cfg, size_t ri, unsigned slots);
// The MAC of a port that has none configured and no device to ask: 02:70:6c:<router>:<port>:01.
rte_ether_addr fallback_port_mac(const PortConfig& pc, size_t ri, size_t pi);
// Router and port index of `router.port`; throws when absent.
std::pair<Router*, uint8_t> find_port(const std::vector<Router*>& routers, const std::string& rid,
                                      const std::string& pname);
// The two ends of a link know each other's addresses: static neighbours on each side.
void learn_link_peers(Router& a, uint8_t pa, Router& b, uint8_t pb);
// Connected, local and static routes, and static neighbours.
void install_routes(Router& r, const RouterConfig& rc);
// Stage chains for workers [0, workers). as_worker >= 0 builds every slot as that worker (same
// site, hence the same seeds), which replay uses so that output does not depend on the slot.
// qsbr: the RCU variable shared tables reclaim through (null: one thread, no reclamation delay).
void install_chains(Router& r, const RouterConfig& rc, unsigned workers, int as_worker = -1,
                    rte_rcu_qsbr* qsbr = nullptr);

class Dataplane {
 public:
  explicit Dataplane(const Config& cfg);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Creates the mempool, ports, rings, tables and chains; starts nothing.
  void build();
  // Starts the ports and launches the workers (after build).
  void launch();
  void start() {
    build();
    launch();
  }
  // Runs the control path until stop is set or duration ends (0: forever): control messages,
  // link commands from telemetry, the config's link events (timed from launch()), stats.
  void run(double duration_s, double stats_interval_s, const std::atomic<bool>& stop_signal);
  // Stops workers and ports.
  void stop();

  const std::vector<Router*>& routers() const { return routers_; }
  Router* router(std::string_view id) const;
  // For tests and benchmarks that drive a built (not launched) dataplane from one thread.
  Control& control() { return *control_; }
  // The links (after build): control-path calls from the main thread only.
  LinkControl& links() { return *links_; }
  Worker& worker(unsigned i) { return *workers_[i]; }
  rte_mempool* pool() const { return pool_; }
  RouterTotals totals(const Router& r) const;
  std::vector<RouterTotals> totals() const;
  // After stop(), which closes the ports, in_use is 0 unless an mbuf leaked.
  MbufUse mbufs() const;
  std::string summary_json(double seconds) const {
    return pathlab::summary_json(totals(), seconds, mbufs());
  }

 private:
  [[gnu::cold]] void setup_mempool();
  [[gnu::cold]] void setup_routers();
  [[gnu::cold]] void setup_port(Router& r, uint8_t idx, const PortConfig& pc);
  [[gnu::cold]] void setup_links();
  [[gnu::cold]] void setup_rcu();
  [[gnu::cold]] void setup_workers();
  void print_stats(double interval_s);
  void drain_rings();
  // /pathlab/link commands: the telemetry thread queues them, run() answers them.
  struct LinkRequest;
  std::string link_command(const std::string& text);
  unsigned serve_link_requests();

  Config cfg_;
  unsigned nworkers_ = 0;
  rte_mempool* pool_ = nullptr;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::vector<std::unique_ptr<Router>> owned_;
  std::vector<Router*> routers_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<rte_ring*> rings_;
  std::unique_ptr<Control> control_;
  std::unique_ptr<LinkControl> links_;
  std::mutex link_lock_;
  std::deque<std::shared_ptr<LinkRequest>> link_requests_;
  std::chrono::steady_clock::time_point launched_at_{};
  std::vector<uint16_t> eth_ports_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  bool started_once_ = false;  // the telemetry source points here
  std::vector<RouterTotals> last_;
};

}  // namespace pathlab
