#pragma once
// link: the emulation of the link behind an egress port (docs/links.md). A holding stage: each
// accepted packet waits in a preallocated ring until its departure time, and leaves from drain().
// Fast-path header: the parameters are plain values parsed in lib/stages/link.cc.
#include <cstdint>
#include <memory>

#include "pathlab/engine/stage.hpp"

namespace pathlab {

struct LinkParams {
  enum class Limit : uint8_t { kPackets, kBytes, kTime };
  enum class Jitter : uint8_t { kUniform, kNormal };
  enum class Loss : uint8_t { kNone, kRandom, kGilbertElliott };

  uint64_t rate_bps = 0;    // 0: no rate limit (serialization takes no time)
  uint32_t overhead = 24;   // bytes per packet on the wire beyond the mbuf (FCS, preamble, SFD, IFG)
  Limit limit = Limit::kPackets;
  uint64_t limit_value = 1000;  // packets, bytes (frame bytes) or nanoseconds of backlog
  Nanos delay = 0;
  Nanos jitter = 0;
  Jitter distribution = Jitter::kUniform;
  bool reorder = false;
  Loss loss = Loss::kNone;
  double loss_p = 0;             // random: P(loss); gilbert_elliott: P(good -> bad)
  double ge_r = 0, ge_h = 0, ge_k = 1;  // P(bad -> good), P(delivered | bad), P(delivered | good)
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
  double drop_probability = 0;    // the AQM's current drop/mark probability (0: tail drop)
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

  // The link state at `now` (engine time). Call from the owning worker only.
  LinkState state(Nanos now);
  const LinkParams& params() const { return p_; }
  uint32_t ring_capacity() const { return cap_; }

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
  void retire(Nanos now);  // forgets serializer entries that have finished
  bool lost();
  int64_t jitter_sample();
  double uniform();  // [0, 1)
  uint64_t next();
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
  std::unique_ptr<Held[]> ring_;
  uint32_t cap_ = 0, head_ = 0, count_ = 0;
  bool use_heap_ = false;
  // Serializer backlog: a FIFO of wire entries, qcap_ entries.
  std::unique_ptr<Wire[]> wire_;
  uint32_t qcap_ = 0, whead_ = 0, wcount_ = 0;
  uint64_t wbytes_ = 0;
  double rate_ewma_ = 0;
  Nanos rate_at_ = 0;
};

}  // namespace pathlab
