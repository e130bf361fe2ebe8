#pragma once
// The control path, on the main lcore: answers ARP and neighbour solicitations for the routers'
// addresses, resolves next hops while holding the packets that wait (bounded queue, retries,
// then ICMP host unreachable), and hands every packet it sends to a worker through an inject ring.
#include <cstdint>
#include <utility>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "pathlab/config/config.hpp"
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
  void probe(Router& r, uint32_t ni);
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
  std::vector<std::pair<Router*, uint32_t>> probing_;
  uint64_t next_expiry_tsc_ = 0;
};

}  // namespace pathlab
