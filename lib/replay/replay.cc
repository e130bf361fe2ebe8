#include "pathlab/replay/replay.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "pathlab/engine/dataplane.hpp"
#include "pathlab/engine/tsan.hpp"
#include "pathlab/replay/pcap.hpp"
#include "pathlab/net/view.hpp"
#include "pathlab/router/meta.hpp"

namespace pathlab {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return sig == 0 ? "" : fmt::format("signal {}", sig);
  }
}

constexpr unsigned kTapRing = 1024;  // > one burst's output: taps are drained after every burst
constexpr unsigned kTokensPerThread = 2;

unsigned resolve_threads(const ReplayOptions& opt) {
  unsigned t = opt.threads != 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  return std::min(t, kMaxReplayThreads);
}

unsigned resolve_chunk(const Config& cfg, const ReplayOptions& opt) {
  const unsigned b = cfg.process.burst;
  return std::max(1u, (opt.chunk + b - 1) / b) * b;
}

uint32_t mbuf_room(const Config& cfg) {
  uint16_t max_mtu = 1500;
  for (const auto& r : cfg.routers) {
    for (const auto& p : r.ports) max_mtu = std::max(max_mtu, p.mtu);
  }
  // As the live pool: frames up to the largest MTU stay single-segment.
  return std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, max_mtu + RTE_ETHER_HDR_LEN + 8 + RTE_PKTMBUF_HEADROOM);
}

// A config with a `link` stage (today the only stage that holds packets; replay_eal_args sizes
// memory before any stage is built, so this goes by the config).
bool config_holds(const Config& cfg) {
  for (const auto& r : cfg.routers) {
    for (const auto& p : r.ports) {
      for (const auto* chain : {&p.ingress, &p.egress}) {
        for (const StageSpec& st : *chain) {
          if (st.kind == "link") return true;
        }
      }
    }
  }
  return false;
}

// Mbufs in flight: every live token's chunk, twice over, and slack; plus, when links hold
// packets, as many as a live run's pool (process.mbufs), which is what it could hold live.
uint32_t pool_size(const Config& cfg, const ReplayOptions& opt) {
  const unsigned tokens = resolve_threads(opt) * kTokensPerThread;
  return tokens * resolve_chunk(cfg, opt) * 2 + 1024 + (config_holds(cfg) ? cfg.process.mbufs : 0);
}

// One router port in replay: a ring ethdev whose tx queue s is slot s's tap.
struct Tap {
  uint16_t eth_id = 0;
  std::vector<rte_ring*> rings;  // per slot
  Router* peer = nullptr;        // link end: what is sent arrives on peer.peer_port
  uint8_t peer_port = 0;
  int capture = -1;              // device port: index of its output file
};

// A captured frame larger than one mbuf: never loaded, counted as a live rx of it would be.
struct Oversized {
  uint64_t ts = 0;
  uint32_t len = 0;
};

// A piece of the capture moving through the pipeline. Allocated once per token.
struct Chunk {
  uint64_t index = 0;
  std::vector<rte_mbuf*> in;                // as read; nullptr for each of `big`, in order
  std::vector<Oversized> big;
  std::vector<std::vector<rte_mbuf*>> out;  // per capture, in transmit order
};

// What one processing slot owns: its worker index in every router and its scratch space.
struct Slot {
  WorkerIo io;
  Nanos now = 0;  // engine time of the slot's last burst (timed replay: never goes back)
  std::vector<std::array<uint64_t, 4>> ctrl;  // per router, by CtrlKind: packets for the control path
  uint64_t big_pkts = 0, big_bytes = 0;        // oversized frames received (and dropped)
  rte_mbuf* buf[kMaxBurst];
};

struct Capture {
  Router* router = nullptr;
  uint8_t port = 0;
  std::unique_ptr<PcapWriter> writer;
};

class ReplayEngine {
 public:
  ReplayEngine(const Config& cfg, const ReplayOptions& opt) : cfg_(cfg), opt_(opt) {}
  ~ReplayEngine();
  void build();
  void run();
  ReplayResult report() const;

 private:
  void build_port(size_t ri, size_t pi);
  void unlimit_icmp();
  rte_mbuf* load(const PcapRecord& rec);
  void process(Chunk& c, Slot& s);
  void process_timed(Chunk& c, Slot& s);
  void advance(Chunk& c, Slot& s, Nanos now);
  void settle(Chunk& c, Slot& s, Nanos now);
  Nanos stamp(const rte_mbuf* m) const { return *RTE_MBUF_DYNFIELD(m, ts_off_, const uint64_t*); }
  void release_held(Chunk& c);
  void write(Chunk& c);
  std::string json() const;
  std::string text() const;
  int stop_signal() const { return opt_.stop != nullptr ? opt_.stop->load(std::memory_order_relaxed) : 0; }

  // Per-router figures for the summary: the router's totals plus what replay did with the
  // packets it handed to the (absent) control path.
  struct Figures {
    RouterTotals t;
    uint64_t arp = 0, nd = 0, unresolved = 0;
    uint64_t drops() const { return t.dropped() + unresolved; }
    uint64_t consumed() const { return t.consumed - unresolved; }
    bool balanced() const { return totals().balanced(); }
    // The router's totals as replay reports them: unresolved next hops are drops, the control
    // path's share is what ARP and ND took.
    RouterTotals totals() const {
      RouterTotals r = t;
      r.drops.emplace_back("replay/unresolved_neighbour", unresolved);
      r.consumed = consumed();
      r.consumed_by = {{"arp", arp}, {"nd", nd}};
      return r;
    }
  };
  Figures figures(size_t ri) const;

  const Config& cfg_;
  ReplayOptions opt_;
  unsigned threads_ = 1;
  unsigned chunk_ = 0;
  std::string serial_reason_;
  bool timed_ = false;  // some stage holds packets: every packet arrives at its own timestamp
  rte_mempool* pool_ = nullptr;
  int ts_off_ = -1;
  uint64_t ts_flag_ = 0;
  std::vector<std::unique_ptr<Router>> owned_;
  std::vector<Router*> routers_;
  std::vector<std::vector<Tap>> taps_;  // [router][port]
  std::vector<rte_ring*> rings_;
  std::vector<uint16_t> eth_ids_;
  std::vector<Capture> captures_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Router* in_router_ = nullptr;
  uint8_t in_port_ = 0;
  uint64_t packets_ = 0, chunks_ = 0;
  uint32_t max_frame_ = 0;  // what one mbuf holds; larger frames are dropped as multi-segment
  int interrupted_ = 0;     // the signal that stopped the reading
  bool nano_ = false;
};

ReplayEngine::~ReplayEngine() {
  for (uint16_t id : eth_ids_) {
    char name[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(id, name);
    rte_eth_dev_stop(id);
    rte_eth_dev_close(id);
    rte_vdev_uninit(name);  // the ring vdev's name is free again: run_replay can run again
  }
  owned_.clear();
  for (rte_ring* r : rings_) {
    rte_mbuf* m = nullptr;
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    rte_ring_free(r);
  }
  rte_mempool_free(pool_);
}

void ReplayEngine::build_port(size_t ri, size_t pi) {
  Router& r = *routers_[ri];
  const PortConfig& pc = cfg_.routers[ri].ports[pi];
  Tap& tap = taps_[ri][pi];
  for (unsigned s = 0; s < threads_; ++s) {
    rte_ring* ring = rte_ring_create(fmt::format("plr{}_{}_{}", ri, pi, s).c_str(), kTapRing, SOCKET_ID_ANY,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ring == nullptr) fail(fmt::format("{}.{}: ring: {}", r.id, pc.name, rte_strerror(rte_errno)));
    rings_.push_back(ring);
    tap.rings.push_back(ring);
  }
  const std::string name = fmt::format("net_ring_plr{}_{}", ri, pi);
  const int id = rte_eth_from_rings(name.c_str(), tap.rings.data(), threads_, tap.rings.data(), threads_,
                                    rte_socket_id());
  if (id < 0) fail(fmt::format("{}.{}: ring port: {}", r.id, pc.name, rte_strerror(rte_errno)));
  tap.eth_id = static_cast<uint16_t>(id);
  eth_ids_.push_back(tap.eth_id);
  const rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(tap.eth_id, static_cast<uint16_t>(threads_), static_cast<uint16_t>(threads_), &conf);
  for (uint16_t q = 0; rc == 0 && q < threads_; ++q) {
    rc = rte_eth_rx_queue_setup(tap.eth_id, q, kTapRing, rte_socket_id(), nullptr, pool_);
    if (rc == 0) rc = rte_eth_tx_queue_setup(tap.eth_id, q, kTapRing, rte_socket_id(), nullptr);
  }
  if (rc == 0) rc = rte_eth_dev_start(tap.eth_id);
  if (rc != 0) fail(fmt::format("{}.{}: ring port set-up: {}", r.id, pc.name, rte_strerror(-rc)));

  // tx queue = slot: the router puts slot s's frames on ring s.
  r.attach_eth(static_cast<uint8_t>(pi), tap.eth_id, false, false);
  r.set_port_mac(static_cast<uint8_t>(pi), fallback_port_mac(pc, ri, pi));
  if (!pc.device.empty()) {
    tap.capture = static_cast<int>(captures_.size());
    captures_.push_back({&r, static_cast<uint8_t>(pi), nullptr});  // the writer comes in build()
  }
}

// Replay does not rate-limit ICMP errors: the buckets are per processing slot, so a limit would
// make the output depend on --threads. Each starts with 10^9 tokens and refills at 1/s.
void ReplayEngine::unlimit_icmp() {
  for (Router* r : routers_) r->set_icmp_limit(1, 1'000'000'000);
}

void ReplayEngine::build() {
  threads_ = resolve_threads(opt_);
  chunk_ = resolve_chunk(cfg_, opt_);
  if (opt_.chunk == 0 || opt_.chunk > 1u << 20) fail("--chunk wants 1..1048576 packets");

  // Slots: 0..threads-1 process; Router keeps its last counter slot for the control path.
  const unsigned slots = threads_;
  for (size_t ri = 0; ri < cfg_.routers.size(); ++ri) {
    owned_.push_back(make_router(cfg_, ri, slots + 1));
    routers_.push_back(owned_.back().get());
  }
  const std::string rid = opt_.router.empty() ? cfg_.routers.front().id : opt_.router;
  const RouterConfig* rc = nullptr;
  for (const auto& r : cfg_.routers) {
    if (r.id == rid) rc = &r;
  }
  if (rc == nullptr) fail(fmt::format("--router {}: no such router", rid));
  const std::string pname = opt_.port.empty() ? rc->ports.front().name : opt_.port;
  std::tie(in_router_, in_port_) = find_port(routers_, rid, pname);

  const uint32_t n = pool_size(cfg_, opt_);
  init_packet_view();
  pool_ = rte_pktmbuf_pool_create("plr_mbufs", n, 0, kMetaSize, static_cast<uint16_t>(mbuf_room(cfg_)),
                                  rte_socket_id());
  if (pool_ == nullptr) fail(fmt::format("mbuf pool of {} mbufs: {}", n, rte_strerror(rte_errno)));
  max_frame_ = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  if (rte_mbuf_dyn_rx_timestamp_register(&ts_off_, &ts_flag_) != 0) {
    fail(fmt::format("mbuf timestamp field: {}", rte_strerror(rte_errno)));
  }

  taps_.resize(routers_.size());
  for (size_t ri = 0; ri < routers_.size(); ++ri) {
    taps_[ri].resize(routers_[ri]->port_count());
    for (size_t pi = 0; pi < routers_[ri]->port_count(); ++pi) build_port(ri, pi);
  }
  for (const LinkConfig& l : cfg_.links) {
    auto [ra, pa] = find_port(routers_, l.a_router, l.a_port);
    auto [rb, pb] = find_port(routers_, l.b_router, l.b_port);
    learn_link_peers(*ra, pa, *rb, pb);
    taps_[ra->index][pa].peer = rb;
    taps_[ra->index][pa].peer_port = pb;
    taps_[rb->index][pb].peer = ra;
    taps_[rb->index][pb].peer_port = pa;
  }
  for (size_t ri = 0; ri < routers_.size(); ++ri) {
    install_routes(*routers_[ri], cfg_.routers[ri]);
    // Every slot is built as worker 0: the same seeds whatever slot a chunk lands on. (Stages
    // that share state per worker, e.g. tcp_seq's tables, are stateful: replay then uses slot 0
    // alone, below.)
    install_chains(*routers_[ri], cfg_.routers[ri], slots, 0);
  }
  unlimit_icmp();

  // With a holding stage, replay runs on the capture's clock packet by packet (process_timed),
  // and departure times are nanoseconds: the files are then nanosecond pcaps whatever the input.
  for (Router* r : routers_) timed_ = timed_ || r->holds_packets();
  for (Capture& cap : captures_) {
    cap.writer = std::make_unique<PcapWriter>(
        replay_output_path(opt_.out, cap.router->id, cap.router->port(cap.port).name), nano_ || timed_);
  }

  // A stage whose decisions depend on earlier packets needs them all, in order: one thread. So
  // does a stage that holds packets: what it releases goes out with a later chunk of its slot.
  for (Router* r : routers_) {
    for (uint8_t pi = 0; pi < r->port_count() && serial_reason_.empty(); ++pi) {
      for (const bool egress : {false, true}) {
        const Chain& ch = r->chain(0, pi, egress);
        for (size_t si = 0; si < ch.stages().size() && serial_reason_.empty(); ++si) {
          const Stage& st = *ch.stages()[si];
          if (st.stateful() || st.holds()) {
            serial_reason_ = fmt::format("{}.{}.{}[{}] {}", r->id, r->port(pi).name,
                                         egress ? "egress" : "ingress", si,
                                         st.stateful() ? "is stateful" : "holds packets");
          }
        }
      }
    }
  }

  for (unsigned s = 0; s < slots; ++s) {
    auto slot = std::make_unique<Slot>();
    slot->io.index = s;
    slot->io.txq = static_cast<uint16_t>(s);
    slot->io.ctrl = rte_ring_create(fmt::format("plr_ctrl{}", s).c_str(), kTapRing, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (slot->io.ctrl == nullptr) fail(fmt::format("control ring: {}", rte_strerror(rte_errno)));
    rings_.push_back(slot->io.ctrl);
    slot->ctrl.assign(routers_.size(), {});
    slots_.push_back(std::move(slot));
  }
}

// Copies one captured frame, at most max_frame_ bytes, into an mbuf.
rte_mbuf* ReplayEngine::load(const PcapRecord& rec) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    fail(timed_ ? fmt::format("mbuf pool exhausted: stages hold more packets than process.mbufs ({}) allows; "
                              "raise it",
                              cfg_.process.mbufs)
                : std::string("mbuf pool exhausted; try a smaller --chunk"));
  }
  *RTE_MBUF_DYNFIELD(m, ts_off_, uint64_t*) = rec.ts_ns;
  const auto n = static_cast<uint16_t>(rec.frame.size());
  char* data = rte_pktmbuf_append(m, n);
  if (n != 0) std::memcpy(data, rec.frame.data(), n);  // caplen 0: an empty frame, a runt
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  if (opt_.set_dst_mac && m->data_len >= RTE_ETHER_ADDR_LEN && !rte_is_multicast_ether_addr(&eth->dst_addr)) {
    eth->dst_addr = in_router_->port(in_port_).mac;
  }
  return m;
}

void ReplayEngine::process(Chunk& c, Slot& s) {
  if (timed_) return process_timed(c, s);
  // Random streams restart from the chunk index: a chunk's fate does not depend on its slot.
  for (Router* r : routers_) r->reseed(s.io.index, c.index);
  const size_t burst = cfg_.process.burst;
  size_t bi = 0;
  for (size_t off = 0; off < c.in.size(); off += burst) {
    const size_t n = std::min(burst, c.in.size() - off);
    // The capture's clock: a burst arrives at its first packet's timestamp.
    const Nanos now = c.in[off] != nullptr ? stamp(c.in[off]) : c.big[bi].ts;
    // Oversized frames are counted as live input counts a chain (eth/multi_segment, see
    // figures()); the rest of the burst goes on, compacted in place.
    uint16_t k = 0;
    for (size_t i = off; i < off + n; ++i) {
      if (c.in[i] != nullptr) {
        c.in[off + k++] = c.in[i];
      } else {
        ++s.big_pkts;
        s.big_bytes += c.big[bi++].len;
      }
    }
    if (k != 0) in_router_->process(s.io, in_port_, c.in.data() + off, k, now);
    settle(c, s, now);
    s.now = now;
  }
  c.in.clear();  // the routers own those mbufs now
  c.big.clear();
}

// Some stage holds packets (a link): time is the capture's, packet by packet. A burst is a run of
// consecutive packets with the same timestamp (at most process.burst), processed at that time,
// after everything due by then has left. Replay is serial here (holding stages are), so the slot
// sees every chunk in order and its clock carries over.
void ReplayEngine::process_timed(Chunk& c, Slot& s) {
  if (c.index == 0) {
    for (Router* r : routers_) r->reseed(s.io.index, 0);  // one stream from the start
  }
  size_t k = 0, bi = 0;
  for (rte_mbuf* m : c.in) {
    if (m != nullptr) {
      c.in[k++] = m;
    } else {  // counted, never loaded (figures())
      ++s.big_pkts;
      s.big_bytes += c.big[bi++].len;
    }
  }
  const size_t burst = cfg_.process.burst;
  for (size_t off = 0; off < k;) {
    const Nanos t = stamp(c.in[off]);
    size_t n = 1;
    while (n < burst && off + n < k && stamp(c.in[off + n]) == t) ++n;
    // Engine time never goes back: a capture out of order has its late records arrive at the
    // latest time seen (their own timestamps stay on them).
    const Nanos now = std::max(t, s.now);
    advance(c, s, now);
    in_router_->process(s.io, in_port_, c.in.data() + off, static_cast<uint16_t>(n), now);
    settle(c, s, now);
    s.now = now;
    off += n;
  }
  c.in.clear();  // the routers own those mbufs now
  c.big.clear();
}

// Releases everything due by `now` from every holding stage, in departure order, and moves it
// on, until nothing more is due: what a router releases may reach a peer that holds it. Each
// router's release is settled before the next router drains, so a peer later in the config
// takes it in before it releases its own.
void ReplayEngine::advance(Chunk& c, Slot& s, Nanos now) {
  for (bool more = true; more;) {
    more = false;
    for (Router* r : routers_) {
      if (r->holds_packets() && r->drain(s.io, now) != 0) {
        more = true;
        settle(c, s, now);
      }
    }
  }
}

// After the last chunk: every held packet is released and sent on.
void ReplayEngine::release_held(Chunk& c) {
  if (!timed_) return;
  for (const auto& s : slots_) advance(c, *s, kForever);
}

// Moves what the last burst produced: link frames to the peer router (in a fixed order, until
// nothing moves), device frames to the chunk's outputs, control-path packets to the counters.
// Link frames reach the peer at `now`; in a timed replay at their own timestamp (their departure
// from the link stage that held them, else their arrival) when that is earlier, in runs of
// equal timestamps.
void ReplayEngine::settle(Chunk& c, Slot& s, Nanos now) {
  for (bool moved = true; moved;) {
    moved = false;
    for (auto& router_taps : taps_) {
      for (Tap& tap : router_taps) {
        rte_ring* ring = tap.rings[s.io.index];
        unsigned k;
        while ((k = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(s.buf), kMaxBurst, nullptr)) != 0) {
          if (tap.peer == nullptr) {
            auto& out = c.out[static_cast<size_t>(tap.capture)];
            out.insert(out.end(), s.buf, s.buf + k);
            continue;
          }
          moved = true;
          if (!timed_) {
            tap.peer->process(s.io, tap.peer_port, s.buf, static_cast<uint16_t>(k), now);
            continue;
          }
          for (unsigned off = 0; off < k;) {
            const Nanos t = stamp(s.buf[off]);
            unsigned n = 1;
            while (off + n < k && n < cfg_.process.burst && stamp(s.buf[off + n]) == t) ++n;
            tap.peer->process(s.io, tap.peer_port, s.buf + off, static_cast<uint16_t>(n), std::min(t, now));
            off += n;
          }
        }
      }
    }
    unsigned k;
    while ((k = rte_ring_sc_dequeue_burst(s.io.ctrl, reinterpret_cast<void**>(s.buf), kMaxBurst, nullptr)) != 0) {
      for (unsigned i = 0; i < k; ++i) {
        const PktMeta& md = meta(s.buf[i]);
        ++s.ctrl[md.router][static_cast<size_t>(md.ctrl) & 3];
        rte_pktmbuf_free(s.buf[i]);
      }
    }
  }
}

void ReplayEngine::write(Chunk& c) {
  std::array<std::span<const uint8_t>, 64> segs;
  for (size_t j = 0; j < c.out.size(); ++j) {
    PcapWriter& w = *captures_[j].writer;
    for (rte_mbuf* m : c.out[j]) {
      size_t ns = 0;
      for (rte_mbuf* seg = m; seg != nullptr && ns < segs.size(); seg = seg->next) {
        segs[ns++] = {rte_pktmbuf_mtod(seg, const uint8_t*), seg->data_len};
      }
      w.write(stamp(m), {segs.data(), ns});  // as it is now: a link stage writes the departure
      rte_pktmbuf_free(m);
    }
    c.out[j].clear();
  }
}

void ReplayEngine::run() {
  PcapReader reader(opt_.in);
  nano_ = reader.nanosecond();
  build();
  if (!serial_reason_.empty()) threads_ = 1;

  const size_t tokens = size_t{threads_} * kTokensPerThread;
  std::vector<std::unique_ptr<Chunk>> chunks;
  tbb::concurrent_queue<Chunk*> free_chunks;
  for (size_t i = 0; i < tokens; ++i) {
    auto c = std::make_unique<Chunk>();
    c->in.reserve(chunk_);
    c->out.resize(captures_.size());
    for (auto& o : c->out) o.reserve(chunk_);
    free_chunks.push(c.get());
    chunks.push_back(std::move(c));
  }
  tbb::concurrent_bounded_queue<Slot*> free_slots;
  for (unsigned s = 0; s < threads_; ++s) free_slots.push(slots_[s].get());

  bool done = false;
  // TBB orders the filters inside libtbb, where ThreadSanitizer cannot see it: the serial ones
  // run one call at a time on any thread, a chunk goes read -> work -> emit -> read, and the
  // pipeline returns after the last call. So does the mbuf pool, whose ring is in DPDK: an mbuf
  // freed by work or emit is allocated again by a later read. The tsan:: calls restate those
  // orderings for TSan (nothing in other builds), so that it reports only what they leave open.
  auto read = [&](tbb::flow_control& fc) -> Chunk* {
    tsan::acquire(&reader);
    tsan::acquire(pool_);
    Chunk* c = nullptr;
    if (done) {
      fc.stop();
      tsan::release(&reader);
      return nullptr;
    }
    if (!free_chunks.try_pop(c)) fail("replay: no free chunk");  // a free token always has one
    tsan::acquire(c);
    c->index = chunks_;
    PcapRecord rec;
    while (c->in.size() < chunk_ && !done) {
      // A signal stops the reading; what was read goes through and out as usual.
      if ((interrupted_ = stop_signal()) != 0 || !reader.next(rec)) {
        done = true;
      } else if (rec.frame.size() > max_frame_) {
        c->in.push_back(nullptr);
        c->big.push_back({rec.ts_ns, static_cast<uint32_t>(rec.frame.size())});
      } else {
        c->in.push_back(load(rec));
      }
    }
    if (c->in.empty()) {
      tsan::release(c);
      free_chunks.push(c);
      fc.stop();
      tsan::release(&reader);
      return nullptr;
    }
    packets_ += c->in.size();
    ++chunks_;
    tsan::release(c);
    tsan::release(&reader);
    return c;
  };
  auto work = [&](Chunk* c) -> Chunk* {
    tsan::acquire(c);
    tsan::acquire(pool_);
    Slot* s = nullptr;
    free_slots.pop(s);  // never waits long: at most `threads` chunks are in this filter
    tsan::acquire(s);
    process(*c, *s);
    tsan::release(s);
    tsan::release(pool_);
    free_slots.push(s);
    tsan::release(c);
    return c;
  };
  auto emit = [&](Chunk* c) {
    tsan::acquire(&captures_);
    tsan::acquire(c);
    write(*c);
    tsan::release(pool_);
    tsan::release(&captures_);
    tsan::release(c);
    free_chunks.push(c);
  };
  // Allow `threads` even beyond the machine's count (the output is the same either way).
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, threads_);
  tbb::task_arena arena(static_cast<int>(threads_));
  arena.execute([&] {
    tbb::parallel_pipeline(tokens,
                           tbb::make_filter<void, Chunk*>(tbb::filter_mode::serial_in_order, read) &
                               tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::parallel, work) &
                               tbb::make_filter<Chunk*, void>(tbb::filter_mode::serial_in_order, emit));
  });
  // Every filter call is over: what they did happens before the rest.
  tsan::acquire(&reader);
  tsan::acquire(&captures_);
  tsan::acquire(pool_);
  for (const auto& s : slots_) tsan::acquire(s.get());
  Chunk* last = nullptr;
  if (!free_chunks.try_pop(last)) fail("replay: no free chunk");
  tsan::acquire(last);
  release_held(*last);
  write(*last);
  // Every file written out before any is renamed into place.
  for (Capture& cap : captures_) cap.writer->flush();
  for (Capture& cap : captures_) cap.writer->close();
}

ReplayEngine::Figures ReplayEngine::figures(size_t ri) const {
  Figures f;
  f.t = router_totals(*routers_[ri], threads_);
  uint64_t big = 0;
  for (const auto& s : slots_) {
    f.arp += s->ctrl[ri][static_cast<size_t>(CtrlKind::Arp)];
    f.nd += s->ctrl[ri][static_cast<size_t>(CtrlKind::Nd)];
    f.unresolved += s->ctrl[ri][static_cast<size_t>(CtrlKind::Resolve)];
    if (routers_[ri] == in_router_) {
      f.t.ports[in_port_].rx_pkts += s->big_pkts;
      f.t.ports[in_port_].rx_bytes += s->big_bytes;
      big += s->big_pkts;
    }
  }
  for (auto& [name, v] : f.t.drops) {
    if (name == kDropDescs[static_cast<size_t>(Drop::EthMultiSegment)].name) v += big;
  }
  return f;
}

std::string ReplayEngine::text() const {
  std::string out = fmt::format(
      "pathlab replay: {} packets from {} as received on {}.{}; {} chunk(s) of up to {}; {} thread(s){}\n",
      packets_, opt_.in, in_router_->id, in_router_->port(in_port_).name, chunks_, chunk_, threads_,
      serial_reason_.empty() ? "" : fmt::format(" (serial: {})", serial_reason_));
  if (interrupted_ != 0) {
    out += fmt::format("interrupted by {} after {} packets: the rest of {} was not read\n", signal_name(interrupted_),
                       packets_, opt_.in);
  }
  for (size_t ri = 0; ri < routers_.size(); ++ri) {
    const Router& r = *routers_[ri];
    const Figures f = figures(ri);
    out += fmt::format("router {}\n", r.id);
    for (uint8_t pi = 0; pi < r.port_count(); ++pi) {
      const PortTotals& p = f.t.ports[pi];
      const Tap& tap = taps_[ri][pi];
      out += fmt::format("  port {:<10} rx {:>8} pkts {:>10} bytes  tx {:>8} pkts {:>10} bytes  -> {}\n", r.port(pi).name,
                         p.rx_pkts, p.rx_bytes, p.tx_pkts, p.tx_bytes,
                         tap.capture >= 0 ? captures_[static_cast<size_t>(tap.capture)].writer->path()
                                          : fmt::format("link to {}.{}", tap.peer->id, tap.peer->port(tap.peer_port).name));
    }
    for (const auto& [name, v] : f.t.drops) {
      if (v != 0) out += fmt::format("  drop {:<40} {}\n", name, v);
    }
    if (f.unresolved != 0) out += fmt::format("  drop {:<40} {}\n", "replay/unresolved_neighbour", f.unresolved);
    for (const auto& [name, v] : f.t.events) {
      if (v != 0) out += fmt::format("  event {:<39} {}\n", name, v);
    }
    if (f.arp + f.nd != 0) {
      out += fmt::format("  consumed by the control path (not replayed): arp {}, nd {}\n", f.arp, f.nd);
    }
    // Packets stages made (link duplicates) enter the books beside rx.
    out += fmt::format("  accounting: rx {}{} = tx {} + drops {} + consumed {} + held {}: {}\n", f.t.rx(),
                       f.t.created != 0 ? fmt::format(" + created {}", f.t.created) : "", f.t.tx(), f.drops(),
                       f.consumed(), f.t.held, f.balanced() ? "balanced" : "NOT BALANCED");
  }
  return out;
}

std::string ReplayEngine::json() const {
  std::string out = fmt::format(
      "{{\"pathlab\":\"replay\",\"input\":\"{}\",\"ingress\":\"{}.{}\",\"packets\":{},\"chunks\":{},"
      "\"chunk\":{},\"threads\":{},\"serial\":\"{}\",\"interrupted\":{},\"signal\":\"{}\",\"routers\":[",
      opt_.in, in_router_->id, in_router_->port(in_port_).name, packets_, chunks_, chunk_, threads_,
      serial_reason_, interrupted_ != 0, signal_name(interrupted_));
  for (size_t ri = 0; ri < routers_.size(); ++ri) {
    out += (ri ? "," : "") + router_json(figures(ri).totals(), [&](size_t pi) {
      const int cap = taps_[ri][pi].capture;
      return fmt::format("\"file\":{}", cap >= 0 ? fmt::format("\"{}\"", captures_[static_cast<size_t>(cap)].writer->path())
                                                : std::string("null"));
    });
  }
  return out + "]}";
}

ReplayResult ReplayEngine::report() const {
  fmt::print("{}{}", opt_.json ? json() : text(), opt_.json ? "\n" : "");
  ReplayResult res{true, interrupted_};
  for (size_t ri = 0; ri < routers_.size(); ++ri) res.balanced = res.balanced && figures(ri).balanced();
  return res;
}

}  // namespace

std::string replay_output_path(const std::string& out, const std::string& router, const std::string& port) {
  std::string stem = out;
  if (stem.size() > 5 && stem.ends_with(".pcap")) stem.resize(stem.size() - 5);
  return fmt::format("{}.{}.{}.pcap", stem, router, port);
}

std::vector<std::string> replay_eal_args(const Config& cfg, const ReplayOptions& opt) {
  // Each router's rte_lpm and rte_lpm6 hold a 2^24-entry table (64 MiB each).
  const uint64_t pool_mb = uint64_t{pool_size(cfg, opt)} * (mbuf_room(cfg) + 256 + kMetaSize) >> 20;
  const uint64_t mem_mb = 128 + 160 * cfg.routers.size() + pool_mb * 5 / 4;
  return {"pathlab-replay", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "-m",
          std::to_string(mem_mb), "--file-prefix", fmt::format("pl-replay-{}", getpid()), "--log-level",
          "*:warning"};
}

ReplayResult run_replay(const Config& cfg, const ReplayOptions& opt) {
  if (opt.in.empty() || opt.out.empty()) fail("replay needs --in and --out");
  ReplayEngine e(cfg, opt);
  e.run();
  return e.report();
}

}  // namespace pathlab
