#pragma once
// One emulated router: its ports, routing tables, neighbours, stage chains and per-worker counters,
// and the burst-at-a-time forwarding path:
//   Ethernet input -> IPv4/IPv6 input checks -> ingress stages -> route lookup -> forward
//   (TTL/hop limit, local delivery, ICMP errors, MTU) -> egress stages -> neighbour + L2 rewrite
//   -> tx burst.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_ether.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "pathlab/config/config.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/router/drops.hpp"
#include "pathlab/router/meta.hpp"
#include "pathlab/router/neighbour.hpp"

namespace pathlab {

enum class PortKind : uint8_t { Eth, Ring };

// Fast-path packet state lives in the mbuf's first cache line: packet_type holds the L3 family,
// hash.usr the next-hop index (kNoNextHop: a link-local destination, resolved on the in port).
inline constexpr uint32_t kPtype4 = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4;
inline constexpr uint32_t kPtype6 = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV6;
inline constexpr uint32_t kNoNextHop = UINT32_MAX;

struct PortRt {
  std::string name;
  PortKind kind = PortKind::Eth;
  uint16_t eth_id = 0;
  uint16_t rx_queues = 1;
  rte_ring* rx_ring = nullptr;  // link ports: where the peer enqueues
  rte_ring* tx_ring = nullptr;  // link ports: the peer's rx ring
  rte_ether_addr mac{};
  std::vector<Ip4Prefix> ip4;
  std::vector<Ip6Prefix> ip6;
  Ip6Addr link_local;
  uint16_t mtu = 1500;
  bool rx_cksum_hw = false;     // the NIC verifies IPv4 header checksums
  bool tx_shared = false;       // fewer tx queues than workers: tx under tx_lock
  rte_spinlock_t tx_lock = RTE_SPINLOCK_INITIALIZER;
};

struct NextHop {
  enum class Kind : uint8_t { Local, Connected, Gateway };
  Kind kind = Kind::Connected;
  uint8_t port = 0;
  uint32_t neigh = NeighbourTable::kNone;  // Gateway: the gateway's neighbour entry
};

// Router events that are not drops.
enum class Event : uint8_t {
  EchoReplies,
  IcmpTimeExceeded,
  IcmpNetUnreachable,
  IcmpFragNeeded,
  IcmpHostUnreachable,
  ArpRequestsSent,
  ArpRepliesSent,
  NdSolicitsSent,
  NdAdvertsSent,
  HeldReleased,
  HeldDropped,
  Count
};

inline constexpr CounterDesc kEventDescs[] = {
    {"echo_replies", "echo requests to the router answered"},
    {"icmp_time_exceeded", "ICMP/ICMPv6 time exceeded sent"},
    {"icmp_net_unreachable", "ICMP net unreachable / ICMPv6 no route sent"},
    {"icmp_frag_needed", "ICMP fragmentation needed / ICMPv6 packet too big sent"},
    {"icmp_host_unreachable", "ICMP host unreachable / ICMPv6 address unreachable sent"},
    {"arp_requests_sent", "ARP requests sent"},
    {"arp_replies_sent", "ARP replies sent"},
    {"nd_solicits_sent", "neighbour solicitations sent"},
    {"nd_adverts_sent", "neighbour advertisements sent"},
    {"held_released", "packets released after their next hop resolved"},
    {"held_dropped", "packets dropped while waiting for resolution (queue full or timeout)"},
};
static_assert(std::size(kEventDescs) == static_cast<size_t>(Event::Count));

inline void bump(uint64_t& c, uint64_t n = 1) { __atomic_store_n(&c, c + n, __ATOMIC_RELAXED); }
inline uint64_t load(const uint64_t& c) { return __atomic_load_n(&c, __ATOMIC_RELAXED); }

struct alignas(64) PortCounters {
  uint64_t rx_pkts = 0, rx_bytes = 0, tx_pkts = 0, tx_bytes = 0, ctrl_tx_pkts = 0;
};

// Token bucket for router-generated ICMP errors, one per (router, worker).
struct IcmpLimiter {
  uint64_t tokens_x = 0;       // tokens scaled by the tsc rate
  uint64_t last_tsc = 0;
  uint64_t rate = 0;           // tokens per second
  uint64_t burst = 0;
  bool take(uint64_t now, uint64_t hz);
};

// What one worker owns of a router.
struct RouterWorker {
  alignas(64) uint64_t drops[static_cast<size_t>(Drop::Count)] = {};
  uint64_t consumed = 0;
  uint64_t events[static_cast<size_t>(Event::Count)] = {};
  std::vector<PortCounters> ports;
  std::vector<Chain> ingress;  // per port
  std::vector<Chain> egress;   // per port
  IcmpLimiter icmp;
  Batch in;
  std::vector<Batch> out;      // per port
};

// What the engine gives the router for one worker.
struct WorkerIo {
  unsigned index = 0;
  uint16_t txq = 0;
  rte_ring* ctrl = nullptr;  // worker -> control path
};

class Router {
 public:
  // `slots` counter sets: one per worker, plus one for the control path (the last).
  Router(uint16_t index, const RouterConfig& cfg, const ProcessConfig& proc, unsigned slots);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Forwards one rx burst that arrived on port `in`.
  void process(const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n);
  // Transmits frames whose L2 header is written, counting them as the control path's.
  void send_ctrl(const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n);

  // Control-path helpers (main lcore).
  int lookup4(Ip4Addr dst, uint32_t& nh) const;
  int lookup6(const Ip6Addr& dst, uint32_t& nh) const;
  uint32_t add_nexthop(NextHop h);
  bool is_local4(uint8_t port, Ip4Addr a) const;
  bool is_local6(uint8_t port, const Ip6Addr& a) const;
  Ip4Addr icmp_source4(uint8_t port) const;
  Ip6Addr icmp_source6(uint8_t port) const;

  uint16_t index;
  std::string id;
  uint32_t asn;
  std::vector<PortRt> ports;
  std::vector<NextHop> nexthops;
  std::unique_ptr<NeighbourTable> neigh;
  std::vector<RouterWorker> workers;
  rte_lpm* lpm4 = nullptr;
  rte_lpm6* lpm6 = nullptr;

 private:
  template <bool kVerifyCksum>
  void input(RouterWorker& rw, const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n);
  void forward(RouterWorker& rw, uint8_t in);
  bool forward4(RouterWorker& rw, uint8_t in, rte_mbuf* m, uint32_t nh, bool found);
  bool forward6(RouterWorker& rw, uint8_t in, rte_mbuf* m, uint32_t nh, bool found);
  bool route_generated4(RouterWorker& rw, rte_mbuf* m);
  bool route_generated6(RouterWorker& rw, uint8_t in, rte_mbuf* m);
  void output(RouterWorker& rw, const WorkerIo& io, uint8_t in, uint8_t port);
  // Fills PktMeta for the control path; the fast path keeps its state in the mbuf's first line.
  void hand_over(rte_mbuf* m, CtrlKind kind, uint8_t in, uint8_t family) const;
  void hand_over_unresolved(rte_mbuf* m, uint8_t in, uint8_t port, const NeighKey* gw) const;
  void transmit(RouterWorker& rw, const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n);
  void to_ctrl(RouterWorker& rw, const WorkerIo& io, rte_mbuf** pkts, uint16_t n);
  void drop(RouterWorker& rw, Drop why, rte_mbuf* m) {
    bump(rw.drops[static_cast<size_t>(why)]);
    rte_pktmbuf_free(m);
  }
  void event(RouterWorker& rw, Event e) { bump(rw.events[static_cast<size_t>(e)]); }

  uint64_t tsc_hz_;
};

}  // namespace pathlab
