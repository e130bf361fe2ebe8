#pragma once
// link: the emulation of the link behind an egress port (docs/links.md). A holding stage: each
// accepted packet waits in a preallocated ring until its departure time, and leaves from drain().
// Fast-path header: the parameters are plain values parsed in lib/stages/link.cc.
#include <atomic>
#include <cstdint>
#include <memory>

#include "pathlab/engine/stage.hpp"

namespace pathlab {

struct LinkParams {
  enum class Limit : uint8_t { kPackets, kBytes, kTime };
  enum class Jitter : uint8_t { kUniform, kNormal, kPareto, kParetoNormal };
  enum class Loss : uint8_t { kNone, kRandom, kGilbertElliott };
  enum class Aqm : uint8_t { kTailDrop, kRed, kCodel };

  uint64_t rate_bps = 0;    // 0: no rate limit (serialization takes no time)
  uint32_t overhead = 24;   // bytes per packet on the wire beyond the mbuf (FCS, preamble, SFD, IFG)
  Limit limit = Limit::kPackets;
  uint64_t limit_value = 1000;  // packets, bytes (frame bytes) or nanoseconds of backlog
  Aqm aqm = Aqm::kTailDrop;
  bool ecn = false;             // AQM: CE-mark ECT packets instead of dropping them
  uint64_t red_min = 0, red_max = 0;  // red: average backlog thresholds, bytes
  double red_max_p = 0.1;             // red: marking probability at red_max
  double red_weight = 0.002;          // red: the average's EWMA weight per arrival
  Nanos codel_target = 5'000'000;     // codel: acceptable standing sojourn time
  Nanos codel_interval = 100'000'000; // codel: the window a standing queue must persist for
  Nanos delay = 0;
  Nanos jitter = 0;
  Jitter distribution = Jitter::kUniform;
  bool reorder = false;
  Loss loss = Loss::kNone;
  double loss_p = 0;             // random: P(loss); gilbert_elliott: P(good -> bad)
  double ge_r = 0, ge_h = 0, ge_k = 1;  // P(bad -> good), P(delivered | bad), P(delivered | good)
  double duplicate = 0;          // P(a second copy follows the packet)
  double corrupt = 0;            // P(one random bit flipped outside the L2 header)
  uint64_t seed = 0;             // resolved per instance
};

// What the link looks like now, for readers on the owning worker (IPIM later). Cheap: no walk.
struct LinkState {
  uint64_t rate_bps = 0;          // configured; 0 = unlimited
  uint32_t queued_packets = 0;    // waiting for or in serialization (not in propagation)
  uint64_t queued_bytes = 0;      // their frame bytes (pkt_len)
  uint32_t in_flight = 0;         // every packet held: queued plus in propagation
  Nanos sojourn = 0;              // how long a packet arriving now waits before its first bit goes
  double departure_rate_bps = 0;  // EWMA of released bits per second (time constant kRateTau)
  double drop_probability = 0;    // the AQM's current drop/mark probability (see docs/links.md)
  bool down = false;
};

// Running totals of a link instance, and its state as the worker last published it (after each
// burst it took in or released), readable from any thread (relaxed loads).
struct LinkTotals {
  uint64_t accepted = 0;      // packets that entered the queue (duplicates included)
  uint64_t sojourn_ns = 0;    // sum over accepted packets of their queueing time (first bit - arrival)
  uint64_t released = 0;      // packets released by drain() at a finite time
  uint64_t late_ns = 0;       // sum over them of (drain time - departure time)
  uint64_t queued_packets = 0, queued_bytes = 0;  // the serializer backlog then
  uint64_t backlog_ns = 0;    // the sojourn a packet arriving then would have had
  uint64_t departure_rate_bps = 0;
  uint64_t drop_ppm = 0;      // drop_probability in parts per million
};

class Link final : public Stage {
 public:
  static constexpr Nanos kRateTau = 10'000'000;  // 10 ms: the departure-rate EWMA's time constant
  static constexpr uint32_t kMaxRing = 1u << 16;  // entries per ring, at most

  explicit Link(const LinkParams& p);
  ~Link() override;

  void process(Batch& b) override;
  bool holds() const override { return true; }
  uint16_t drain(Nanos now, rte_mbuf** out, uint16_t room) override;
  void reseed(uint64_t s) override;
  bool stateful() const override { return true; }
  bool reads_view() const override { return false; }  // finds the IP header itself

  // The link state at `now` (engine time). Call from the owning worker only.
  LinkState state(Nanos now);
  const LinkParams& params() const { return p_; }
  uint32_t ring_capacity() const { return cap_; }
  LinkTotals totals() const;

  // ---- Control path (any one thread at a time); effective at the owning worker's next
  // process() or drain(). No packet is lost by a change except as the new state says.
  // Down: every packet held and every packet arriving is dropped as `down`.
  void set_down(bool down) { down_req_.store(down, std::memory_order_release); }
  bool down_requested() const { return down_req_.load(std::memory_order_acquire); }
  // New parameters for packets arriving from then on; packets already queued keep their
  // departure times. Allocates the new rings here, never on the worker.
  void set_params(const LinkParams& p);

 private:
  struct Held {
    Nanos depart;
    uint64_t seq;  // arrival order: ties in the heap leave in order
    rte_mbuf* m;
  };
  struct Wire {
    Nanos end;       // when the last bit has left
    uint32_t bytes;  // frame bytes
  };
  // Rings sized for one parameter set; replaced whole by set_params.
  struct Store {
    LinkParams p;
    std::unique_ptr<Held[]> ring;
    uint32_t cap = 0;
    std::unique_ptr<Wire[]> wire;
    uint32_t qcap = 0;
  };
  static std::unique_ptr<Store> make_store(const LinkParams& p, uint32_t min_cap, uint32_t min_qcap);
  void adopt(const LinkParams& p);  // derived constants of p_
  void sync();                      // applies what the control path asked for
  void apply_store(Store* s);
  void drop_all_held();
  void retire(Nanos now);  // forgets serializer entries that have finished
  bool enqueue(rte_mbuf* m, Nanos now);  // false: dropped, the reason in last_drop_
  uint8_t aqm_verdict(rte_mbuf* m, Nanos start, Nanos arrival, uint64_t bytes_ahead);
  bool codel_should_signal(Nanos t, Nanos sojourn, uint64_t bytes_ahead);
  bool red_should_signal(Nanos idle_ns);
  bool lost();
  int64_t jitter_sample();
  double normal();
  double uniform();  // [0, 1)
  uint64_t next();
  void corrupt_bit(rte_mbuf* m);
  void heap_push(const Held& h);
  Held heap_pop();

  LinkParams p_;
  uint64_t seed_;
  uint64_t rng_;
  bool ge_bad_ = false;
  bool have_spare_ = false;
  double spare_ = 0;            // Box-Muller's second normal
  uint64_t ns_per_byte_fx_ = 0;  // 32.32 fixed point
  unsigned __int128 busy_fx_ = 0;  // serializer busy until (ns, 32.32)
  Nanos last_depart_ = 0;
  uint64_t seq_ = 0;
  // Release ring (FIFO) or heap (reorder with jitter): cap_ entries.
  std::unique_ptr<Store> store_;
  Held* ring_ = nullptr;
  uint32_t cap_ = 0, head_ = 0, count_ = 0;
  bool use_heap_ = false;
  // Serializer backlog: a FIFO of wire entries, qcap_ entries.
  Wire* wire_ = nullptr;
  uint32_t qcap_ = 0, whead_ = 0, wcount_ = 0;
  uint64_t wbytes_ = 0;
  double rate_ewma_ = 0;
  Nanos rate_at_ = 0;
  // AQM state.
  double signal_ewma_ = 0;  // fraction of recent arrivals dropped or marked (tail drop, codel)
  double red_avg_ = 0;
  Nanos red_idle_ns_ = 0;  // how long the serializer had been idle when this burst came
  int64_t red_count_ = -1;
  bool codel_dropping_ = false;
  Nanos codel_first_above_ = 0;
  Nanos codel_drop_next_ = 0;
  uint32_t codel_count_ = 0, codel_last_count_ = 0;
  uint8_t last_drop_ = 0;
  bool down_ = false;
  int ts_off_ = -1;  // the mbuf timestamp field: the departure time of a released packet
  // Control path -> worker.
  std::atomic<bool> down_req_{false};
  std::atomic<Store*> pending_{nullptr};
  std::atomic<Store*> retired_{nullptr};
  uint32_t posted_cap_ = 0, posted_qcap_ = 0;  // the control path's view of the ring sizes
  std::unique_ptr<Store> graveyard_;           // a retired store the control path missed
  uint64_t accepted_ = 0, sojourn_sum_ = 0;     // the worker's totals, published in totals_
  void publish(Nanos now);  // the live part of totals_
  struct alignas(64) Totals {
    uint64_t accepted = 0, sojourn_ns = 0, released = 0, late_ns = 0;
    uint64_t queued_packets = 0, queued_bytes = 0, backlog_ns = 0, rate_bps = 0, drop_ppm = 0;
  } totals_;
};

}  // namespace pathlab
