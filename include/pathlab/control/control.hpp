#pragma once
// The control path, on the main lcore: answers ARP and neighbour solicitations for the routers'
// addresses, resolves next hops while holding the packets that wait (bounded queue, retries,
// then ICMP host unreachable), and hands every packet it sends to a worker through an inject ring.
// The neighbour table is bounded (neighbour.hpp): a new neighbour evicts the least useful entry,
// and the evicted entry's waiting packets are answered with host unreachable. Probes (ARP
// requests, solicitations) and host-unreachable errors each pass a token bucket per router; a
// probe without a token waits, newest first, so that a fresh host is probed at once even while
// a scan keeps the bucket empty.
#include <cstdint>
#include <utility>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "pathlab/config/config.hpp"
#include "pathlab/engine/clock.hpp"
#include "pathlab/router/router.hpp"

namespace pathlab {

class Control {
 public:
  Control(std::vector<Router*> routers, std::vector<rte_ring*> from_workers, rte_ring* inject,
          rte_mempool* pool, const ProcessConfig& proc);
  // Drains the workers' rings and runs due timers. Returns the number of packets handled.
  unsigned poll();
  // Frees every packet still held (at shutdown).
  void flush();

 private:
  void handle(rte_mbuf* m);
  void handle_arp(Router& r, rte_mbuf* m);
  void handle_nd(Router& r, rte_mbuf* m);
  void hold(Router& r, rte_mbuf* m);
  void learn(Router& r, const NeighKey& k, const MacAddr& mac, bool create);
  // The entry for k, made (evicting if the table is full) when absent; kNone when every entry
  // is pinned.
  uint32_t entry(Router& r, const NeighKey& k, NeighClass c);
  void evict(Router& r, uint32_t ni);
  void start_probing(Router& r, uint32_t ni, uint64_t now);
  // Sends a probe when the router's probe bucket has a token; defers it otherwise.
  void attempt_probe(Router& r, uint32_t ni, uint64_t now);
  void probe(Router& r, uint32_t ni);
  void run_probes(uint64_t now);
  // Host-unreachable for the packets of evicted or failed entries, outside any table walk.
  void answer_waiting();
  void send_arp_request(Router& r, uint8_t port, Ip4Addr target);
  void send_ns(Router& r, uint8_t port, const Ip6Addr& target);
  void release(Router& r, Neighbour& n, uint64_t word);
  void fail(Router& r, Neighbour& n);
  void send_host_unreachable(Router& r, rte_mbuf* m);
  void inject(Router& r, uint8_t port, rte_mbuf* m);
  void event(Router& r, Event e);
  void expire(uint64_t now);

  std::vector<Router*> routers_;
  std::vector<rte_ring*> from_workers_;
  rte_ring* inject_;
  rte_mempool* pool_;
  ProcessConfig proc_;
  uint64_t hz_;
  TscClock clock_;  // engine time for the token buckets
  struct EntryRef {
    Router* r;
    uint32_t ni;
    uint64_t gen;
  };
  bool current(const EntryRef& e) const;
  std::vector<EntryRef> probing_;
  std::vector<EntryRef> deferred_;  // probes waiting for a token; served from the back
  std::vector<std::pair<Router*, rte_mbuf*>> unreachable_;  // packets to answer
  std::vector<IcmpLimiter> probe_bucket_;   // by router index
  std::vector<IcmpLimiter> unreach_bucket_;
  uint64_t next_expiry_tsc_ = 0;
};

}  // namespace pathlab
