#pragma once
// One emulated router: its ports, routing tables, neighbours, stage chains and per-worker counters
// behind a small API, and the burst-at-a-time data path, one file a step (lib/router/):
//   eth_input -> ip_input -> ingress stages -> forward (route lookup, local delivery, TTL, MTU;
//   icmp_error) -> output (egress stages, neighbour + L2 rewrite) -> tx.
#include <array>
#include <map>
#include <mutex>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rte_ether.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "pathlab/config/config.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/shared.hpp"
#include "pathlab/net/ptype.hpp"
#include "pathlab/router/drops.hpp"
#include "pathlab/router/meta.hpp"
#include "pathlab/router/neighbour.hpp"

namespace pathlab {

enum class PortKind : uint8_t { Eth, Ring };

// Fast-path packet state lives in the mbuf's first cache line: packet_type holds the L3 family
// (net/ptype.hpp), hash.usr the next-hop index (kNoNextHop: a link-local destination, resolved on
// the in port).
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
  StageReplies,
  NeighEvicted,
  NeighTableFull,
  NdProbesDeferred,
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
    {"stage_replies", "packets stages turned into router replies (reject: ICMP, TCP RST)"},
    {"neigh_evicted", "neighbour entries evicted to make room for a new one (their waiting packets get host unreachable)"},
    {"neigh_table_full", "packets for a new neighbour when every entry was static or a gateway (host unreachable)"},
    {"nd_probes_deferred", "ARP requests / solicitations delayed by the probe rate limit"},
};
static_assert(std::size(kEventDescs) == static_cast<size_t>(Event::Count));

inline void bump(uint64_t& c, uint64_t n = 1) { __atomic_store_n(&c, c + n, __ATOMIC_RELAXED); }
inline uint64_t load(const uint64_t& c) { return __atomic_load_n(&c, __ATOMIC_RELAXED); }

struct alignas(64) PortCounters {
  uint64_t rx_pkts = 0, rx_bytes = 0, tx_pkts = 0, tx_bytes = 0, ctrl_tx_pkts = 0;
};

// Token bucket for router-generated ICMP errors, one per (router, worker), on engine time (the
// `now` of the burst: the TSC live, the capture's clock in replay, what a test says). It starts
// full; a worker that floods errors sends at most burst + rate * elapsed of them.
struct IcmpLimiter {
  uint64_t tokens_x = 0;       // tokens * 10^9: one token per 10^9 / rate ns
  uint64_t last_ns = 0;        // engine time of the last refill; time going back adds nothing
  uint64_t rate = 0;           // tokens per second
  uint64_t burst = 0;
  void reset(uint64_t rate, uint64_t burst);  // full
  bool take(Nanos now);
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
  // IPv4 destinations (host order) of `in` and their positions, gathered by input for the LPM
  // bulk lookup; valid while the ingress chain leaves the batch as it is (an empty chain).
  uint16_t n4 = 0;
  uint16_t idx4[kMaxBurst];
  uint32_t dst4[kMaxBurst];
  std::vector<Batch> out;      // per port
  Batch replies;               // replies generated by egress stages, routed after the outputs
  Batch redirected;            // packets egress stages redirected, sent after the outputs
};

// What the engine gives the router for one worker.
struct WorkerIo {
  unsigned index = 0;
  uint16_t txq = 0;
  rte_ring* ctrl = nullptr;  // worker -> control path
};

// Every counter of a router summed over its workers and the control path (router drops and
// events; stage counters are read through Router::chain()).
struct RouterCounters {
  std::vector<PortCounters> ports;
  std::array<uint64_t, static_cast<size_t>(Drop::Count)> drops{};
  std::array<uint64_t, static_cast<size_t>(Event::Count)> events{};
  uint64_t consumed = 0;
};

class Router {
 public:
  // `slots` counter sets: one per worker, plus one for the control path (the last). Ports get
  // their names, addresses, MTU and queues from cfg; link ports (no device) are ring ports.
  Router(uint16_t index, const RouterConfig& cfg, const ProcessConfig& proc, unsigned slots);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // ---- The data path (a worker; docs/architecture.md, "The data path").
  // Forwards one rx burst that arrived on port `in` at engine time `now`.
  void process(const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n, Nanos now);
  // Releases what this worker's holding stages keep that is due at `now`, and sends it on.
  // Returns how many packets were released.
  uint32_t drain(const WorkerIo& io, Nanos now);
  // Transmits frames whose L2 header is written, counting them as the control path's.
  void send_ctrl(const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n);
  // Some stage may hold packets: workers call drain() every loop, and drain(kForever) at exit.
  bool holds_packets() const { return holds; }

  // ---- Ports.
  size_t port_count() const { return ports.size(); }
  const PortRt& port(uint8_t i) const { return ports[i]; }
  int port_index(std::string_view name) const;  // -1 when the router has no such port
  // Set-up, before any worker runs. set_port_mac also derives the link-local address.
  void set_port_mac(uint8_t i, const rte_ether_addr& mac);
  void attach_eth(uint8_t i, uint16_t eth_id, bool rx_cksum_hw, bool tx_shared);
  void attach_rings(uint8_t i, rte_ring* rx, rte_ring* tx);

  // ---- Routes and next hops (set-up; lookups from the control path too).
  uint32_t add_nexthop(NextHop h);
  const NextHop& nexthop(uint32_t nh) const { return nexthops[nh]; }
  size_t nexthop_count() const { return nexthops.size(); }
  // Throw std::runtime_error when the table refuses. A /0 is installed as two /1s. Of the
  // routes to one prefix, the one with the lowest metric whose port is up is installed; the
  // first added wins a tie (routes.cc).
  void add_route4(const Ip4Prefix& p, uint32_t nh, uint32_t metric = 0);
  void add_route6(const Ip6Prefix& p, uint32_t nh, uint32_t metric = 0);
  // Control path (any thread): the link of a port went down or came back. Routes over it are
  // withdrawn and the best remaining route to each prefix takes over; up, they return.
  // Returns how many prefixes changed their installed route.
  size_t set_port_up(uint8_t port, bool up);
  bool port_up(uint8_t port) const;
  int lookup4(Ip4Addr dst, uint32_t& nh) const;
  int lookup6(const Ip6Addr& dst, uint32_t& nh) const;
  bool is_local4(uint8_t port, Ip4Addr a) const;
  bool is_local6(uint8_t port, const Ip6Addr& a) const;
  Ip4Addr icmp_source4(uint8_t port) const;
  Ip6Addr icmp_source6(uint8_t port) const;

  // ---- Neighbours: the control path writes entries, workers read them.
  NeighbourTable& neighbours() { return *neigh; }
  const NeighbourTable& neighbours() const { return *neigh; }
  void add_static_neighbour(const NeighKey& k, const MacAddr& mac);

  // ---- Stage chains, one per (counter slot, port, direction).
  // The cross-worker state stages of this router share; made again on every call.
  SharedState& init_shared(rte_rcu_qsbr* qsbr);
  void install_chain(unsigned slot, uint8_t port, bool egress, Chain chain);
  const Chain& chain(unsigned slot, uint8_t port, bool egress) const;
  // Restarts the random streams of one slot's stages (replay: per chunk).
  void reseed(unsigned slot, uint64_t seed);

  // ---- Counters.
  unsigned slots() const { return static_cast<unsigned>(workers.size()); }
  RouterCounters counters() const;
  // Packets stages hold right now: taken in minus released, over every slot.
  uint64_t held() const;
  uint64_t created() const;  // packets stages made (link duplicates)
  // An event of the control path, counted in its slot (the last).
  void ctrl_event(Event e) { bump(workers.back().events[static_cast<size_t>(e)]); }
  // Refills every slot's ICMP error bucket: `rate` tokens per second, up to `burst`.
  void set_icmp_limit(uint64_t rate, uint64_t burst);

  const uint16_t index;
  const std::string id;
  const uint32_t asn;

 private:
  std::vector<PortRt> ports;
  std::vector<NextHop> nexthops;
  std::unique_ptr<NeighbourTable> neigh;
  std::vector<RouterWorker> workers;
  rte_lpm* lpm4 = nullptr;
  rte_lpm6* lpm6 = nullptr;
  uint64_t sum_over_stages(uint64_t (*value)(const Stage&)) const;  // every slot's every stage
  // Every configured route, for re-selection when a port goes down or up (routes.cc).
  struct RouteCandidate {
    uint32_t nh;
    uint32_t metric;
  };
  struct RouteSet {
    std::vector<RouteCandidate> candidates;
    uint32_t installed = kNoNextHop;
  };
  std::map<Ip4Prefix, RouteSet> routes4;
  std::map<Ip6Prefix, RouteSet> routes6;
  std::vector<bool> port_down_;
  mutable std::mutex route_mu;  // one writer of the route tables at a time
  void attach_route_rcu(rte_rcu_qsbr* qsbr);
  uint32_t best_route(const RouteSet& s) const;
  void install4(const Ip4Prefix& p, uint32_t nh);  // kNoNextHop: withdraw
  void install6(const Ip6Prefix& p, uint32_t nh);
  // Installs the best of set's candidates if it changed; true when it did.
  template <typename Prefix, typename Install>
  bool reselect(const Prefix& p, RouteSet& set, Install install);
  bool parse_views = false;  // some chain has a stage: input stores the packet view
  bool holds = false;        // some stage may hold packets: workers call drain() every loop
  std::unique_ptr<SharedState> shared;  // cross-worker stage state

  // ICMP errors the forward step sends back to a packet's source (icmp_error.cc).
  enum class IcmpError : uint8_t { NetUnreachable, TimeExceeded, FragNeeded };

  // eth_input.cc: the rx loop, Ethernet input; IP packets go through ip_input into rw.in.
  // Returns the rx bytes of the burst.
  template <bool kVerifyCksum>
  uint64_t input(RouterWorker& rw, const WorkerIo& io, uint8_t in, rte_mbuf** pkts, uint16_t n);
  // ip_input.cc, per packet from the rx loop: `ip` is the IP header, `len` the bytes from it to
  // the end of the frame. ip4_input returns false when it dropped the packet, and gives its
  // destination (host order) for the route lookup.
  enum class IpIn : uint8_t { Keep, Control, Dropped };
  template <bool kVerifyCksum>
  bool ip4_input(RouterWorker& rw, rte_mbuf* m, const uint8_t* ip, uint32_t len, uint32_t& dst);
  IpIn ip6_input(RouterWorker& rw, uint8_t in, rte_mbuf* m, const uint8_t* ip, uint32_t len);
  // forward.cc. `gathered`: rw.dst4/idx4 describe rw.in (input filled them and no stage ran).
  void forward(RouterWorker& rw, uint8_t in, bool gathered);
  bool forward4(RouterWorker& rw, uint8_t in, rte_mbuf* m, uint32_t nh, bool found);
  bool forward6(RouterWorker& rw, uint8_t in, rte_mbuf* m, uint32_t nh, bool found);
  // Routes a packet the router originates (ICMP error, echo reply, stage reply) to its output.
  bool route_generated4(RouterWorker& rw, rte_mbuf* m);
  bool route_generated6(RouterWorker& rw, uint8_t in, rte_mbuf* m);
  void route_replies(RouterWorker& rw, uint8_t in, Batch& b);
  // icmp_error.cc: rate limit, build the error in place, route it back, count it.
  bool icmp_error(RouterWorker& rw, uint8_t in, rte_mbuf* m, IcmpError e, uint16_t mtu = 0);
  // output.cc. Runs every port's pending output, then what egress stages generated or
  // redirected.
  void outputs(RouterWorker& rw, const WorkerIo& io, uint8_t in);
  void output(RouterWorker& rw, const WorkerIo& io, uint8_t in, uint8_t port, bool replies_ok);
  // Moves what an egress chain generated or redirected aside, or drops it when !replies_ok.
  void set_aside(RouterWorker& rw, Batch& b, bool replies_ok);
  // Neighbour resolution, L2 rewrite and tx of rw.out[port] (after its egress stages).
  void send(RouterWorker& rw, const WorkerIo& io, uint8_t in, uint8_t port);
  // Moves a chain's redirected packets to their ports' output batches.
  void redirect(RouterWorker& rw, Batch& b);
  void hand_over_unresolved(rte_mbuf* m, uint8_t in, uint8_t port, const NeighKey* gw) const;
  // tx.cc: the one transmit of a port (link ring or tx queue); returns how many it took.
  uint16_t tx_burst(const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n);
  // `bytes`: the sum of the packets' lengths, counted by the caller's loop.
  void transmit(RouterWorker& rw, const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n,
                uint64_t bytes);
  // Fills PktMeta for the control path; the fast path keeps its state in the mbuf's first line.
  void hand_over(rte_mbuf* m, CtrlKind kind, uint8_t in, uint8_t family) const;
  void to_ctrl(RouterWorker& rw, const WorkerIo& io, rte_mbuf** pkts, uint16_t n);
  void drop(RouterWorker& rw, Drop why, rte_mbuf* m) {
    bump(rw.drops[static_cast<size_t>(why)]);
    rte_pktmbuf_free(m);
  }
  void event(RouterWorker& rw, Event e) { bump(rw.events[static_cast<size_t>(e)]); }
};

}  // namespace pathlab
