// link: the link behind an egress port (docs/links.md): rate, queue, AQM, delay, jitter, loss,
// duplication, corruption.
//   - stage: link
//     rate: 1gbit              # bit, kbit, mbit, gbit, tbit or bits per second; default unlimited
//     overhead: 24             # wire bytes per packet beyond the frame (FCS, preamble, SFD, IFG)
//     queue: {packets: 1000}   # or {bytes: N} or {time: 20ms}: the backlog limit
//     aqm: {type: codel, target: 5ms, interval: 100ms, ecn: true}
//                              # or tail_drop (default), or {type: red, min: B, max: B, max_p: P}
//     delay: 10ms              # propagation delay
//     jitter: 1ms              # added per packet: uniform | normal | pareto | paretonormal
//     reorder: false           # false: jitter never reorders (departures stay in order)
//     loss: {random: 0.01}     # or {gilbert_elliott: {p: .., r: .., h: 0, k: 1}}
//     duplicate: 0.001         # P(a copy follows the packet)
//     corrupt: 0.001           # P(one bit flipped outside the L2 header, checksums left wrong)
//     seed: 7
// A packet leaves when its last bit has left the serializer plus its delay: it waits in a ring
// preallocated at build time (a heap when jitter may reorder), released by drain(now).
#include "pathlab/stages/link.hpp"
#include "pathlab/stages/link_config.hpp"

#include <fmt/format.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/stages/match.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab {
namespace {

enum DropIndex : uint8_t { kQueueFull, kLoss, kAqm, kDown };
constexpr CounterDesc kDrops[] = {
    {"queue_full", "the link's queue was at its limit (tail drop), or its ring was full"},
    {"loss", "lost on the wire (loss: random or gilbert_elliott), after using its serialization time"},
    {"aqm", "dropped by the AQM (red, codel): not ECN-capable, or ecn: false"},
    {"down", "the link was down: arriving, or held when it went down"},
};
enum ActionIndex : uint8_t { kCeMarked, kDuplicated, kDuplicateNoMbuf, kCorrupted };
constexpr CounterDesc kActions[] = {
    {"ce_marked", "ECT packets the AQM marked CE instead of dropping (ecn: true)"},
    {"duplicated", "copies made (duplicate: P); each is counted as created"},
    {"duplicate_no_mbuf", "copies not made because the mbuf pool was empty"},
    {"corrupted", "packets with one bit flipped outside the L2 header (corrupt: P)"},
};

constexpr uint32_t kMinFrame = 34;           // Ethernet + a bare IPv4 header: the ring-size bound
constexpr uint32_t kNoRateInFlight = 16384;  // ring entries for propagation without a rate
constexpr uint64_t kCodelMtu = 1514;         // codel: a backlog this small is never signalled
constexpr double kSignalWeight = 1.0 / 64;   // drop_probability's EWMA weight per arrival
constexpr double kRedMeanPacket = 1000;      // red: bytes per packet the idle decay assumes

uint32_t clamp_ring(double n) {
  if (!(n < Link::kMaxRing)) return Link::kMaxRing;
  return std::max<uint32_t>(static_cast<uint32_t>(n), 1);
}

Nanos ceil_ns(unsigned __int128 fx) { return static_cast<Nanos>((fx + 0xffffffffu) >> 32); }

// The IP header from what Ethernet input left in the mbuf (family, l2_len), without the stored
// view: a link never needs more, and sparing the view saves every packet its parse.
bool ip_header(rte_mbuf* m, PktView& v) {
  const uint32_t family = m->packet_type & RTE_PTYPE_L3_MASK;
  if (family == RTE_PTYPE_L3_IPV4) {
    v.version = 4;
  } else if (family == RTE_PTYPE_L3_IPV6) {
    v.version = 6;
  } else {
    return false;
  }
  if (m->data_len < m->l2_len + (v.version == 4 ? 20u : 40u)) return false;
  v.l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
  return true;
}

// exp(-x) for the EWMAs: first terms of the series for the small steps between bursts.
double decay(double x) { return x < 1.0 / 64 ? 1.0 - x + 0.5 * x * x : std::exp(-x); }

}  // namespace

std::unique_ptr<Link::Store> Link::make_store(const LinkParams& p, uint32_t min_cap, uint32_t min_qcap) {
  auto s = std::make_unique<Store>();
  s->p = p;
  if (p.rate_bps != 0) {
    const double min_wire_ns = (kMinFrame + p.overhead) * 8e9 / static_cast<double>(p.rate_bps);
    switch (p.limit) {
      case LinkParams::Limit::kPackets: s->qcap = clamp_ring(static_cast<double>(p.limit_value)); break;
      case LinkParams::Limit::kBytes: s->qcap = clamp_ring(static_cast<double>(p.limit_value) / kMinFrame + 1); break;
      case LinkParams::Limit::kTime: s->qcap = clamp_ring(static_cast<double>(p.limit_value) / min_wire_ns + 2); break;
    }
    s->qcap = std::max(s->qcap, min_qcap);
    const double spread = p.distribution == LinkParams::Jitter::kUniform ? 1 : 4;
    const double max_delay = static_cast<double>(p.delay) + static_cast<double>(p.jitter) * spread;
    s->cap = clamp_ring(s->qcap + max_delay / min_wire_ns + 2);
    s->wire = std::make_unique_for_overwrite<Wire[]>(s->qcap);
  } else {
    s->cap = kNoRateInFlight;
    if (min_qcap != 0) {  // keeps a backlog the previous rate left
      s->qcap = min_qcap;
      s->wire = std::make_unique_for_overwrite<Wire[]>(s->qcap);
    }
  }
  s->cap = std::max(s->cap, min_cap);
  s->ring = std::make_unique_for_overwrite<Held[]>(s->cap);
  return s;
}

Link::Link(const LinkParams& p) : Stage(kDrops, kActions), seed_(p.seed), rng_(p.seed) {
  store_ = make_store(p, 0, 0);
  ring_ = store_->ring.get();
  cap_ = store_->cap;
  wire_ = store_->wire.get();
  qcap_ = store_->qcap;
  posted_cap_ = cap_;
  posted_qcap_ = qcap_;
  adopt(p);
  uint64_t flag = 0;
  if (rte_mbuf_dyn_rx_timestamp_register(&ts_off_, &flag) != 0) ts_off_ = -1;
}

Link::~Link() {
  for (uint32_t i = 0; i < count_; ++i) {
    rte_pktmbuf_free(ring_[use_heap_ ? i : (head_ + i) % cap_].m);
  }
  delete pending_.exchange(nullptr);
  delete retired_.exchange(nullptr);
}

void Link::adopt(const LinkParams& p) {
  const uint64_t seed = p_.seed;
  const bool first = ns_per_byte_fx_ == 0 && seq_ == 0 && count_ == 0 && wcount_ == 0;
  p_ = p;
  if (!first) p_.seed = seed;  // a change keeps the instance's random stream
  ns_per_byte_fx_ =
      p_.rate_bps == 0
          ? 0
          : static_cast<uint64_t>((static_cast<unsigned __int128>(8'000'000'000ull) << 32) / p_.rate_bps);
  use_heap_ = p_.reorder && p_.jitter != 0;
}

void Link::set_params(const LinkParams& p) {
  delete retired_.exchange(nullptr, std::memory_order_acq_rel);
  auto s = make_store(p, posted_cap_, posted_qcap_);
  posted_cap_ = s->cap;
  posted_qcap_ = s->qcap;
  delete pending_.exchange(s.release(), std::memory_order_acq_rel);  // one not yet taken: replaced
}

void Link::sync() {
  if (pending_.load(std::memory_order_relaxed) != nullptr) [[unlikely]] {
    if (Store* s = pending_.exchange(nullptr, std::memory_order_acq_rel)) apply_store(s);
  }
  const bool d = down_req_.load(std::memory_order_acquire);
  if (d != down_) [[unlikely]] {
    down_ = d;
    if (d) drop_all_held();
  }
}

// Moves what is held and queued into the new rings; departures already fixed stay as they are.
void Link::apply_store(Store* s) {
  const bool heap = s->p.reorder && s->p.jitter != 0;
  Held* dst = s->ring.get();
  uint32_t n = 0;
  if (use_heap_) {  // leaves in departure order, so the new ring is sorted either way
    while (count_ != 0) dst[n++] = heap_pop();
  } else {
    for (uint32_t i = 0; i < count_; ++i) dst[n++] = ring_[(head_ + i) % cap_];
  }
  // A sorted array is a valid min-heap and a valid FIFO ring starting at 0.
  Wire* wdst = s->wire.get();
  uint32_t wn = 0;
  if (wdst != nullptr) {
    for (uint32_t i = 0; i < wcount_; ++i) wdst[wn++] = wire_[(whead_ + i) % qcap_];
  }
  std::unique_ptr<Store> old = std::move(store_);
  store_.reset(s);
  ring_ = s->ring.get();
  cap_ = s->cap;
  wire_ = wdst;
  qcap_ = s->qcap;
  head_ = 0;
  count_ = n;
  whead_ = 0;
  if (wdst == nullptr) wbytes_ = 0;
  wcount_ = wn;
  if (n != 0) last_depart_ = std::max(last_depart_, dst[n - 1].depart);
  adopt(s->p);
  use_heap_ = heap;
  old->p = p_;
  if (Store* prev = retired_.exchange(old.release(), std::memory_order_acq_rel)) {
    graveyard_.reset(prev);  // the control path did not collect it: freed with the link
  }
}

void Link::drop_all_held() {
  while (count_ != 0) {
    rte_mbuf* m = use_heap_ ? heap_pop().m : ring_[head_].m;
    if (!use_heap_) {
      if (++head_ == cap_) head_ = 0;
      --count_;
    }
    drop_held(kDown, m);
  }
  head_ = 0;
  // The wire is cut: nothing is being serialized any more.
  wcount_ = whead_ = 0;
  wbytes_ = 0;
  busy_fx_ = 0;
  last_depart_ = 0;
}

LinkTotals Link::totals() const {
  auto ld = [](const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); };
  return {ld(totals_.accepted),       ld(totals_.sojourn_ns),   ld(totals_.released),
          ld(totals_.late_ns),        ld(totals_.queued_packets), ld(totals_.queued_bytes),
          ld(totals_.backlog_ns),     ld(totals_.rate_bps),     ld(totals_.drop_ppm)};
}

void Link::publish(Nanos now) {
  const LinkState s = state(now);
  auto st = [](uint64_t& field, uint64_t v) { __atomic_store_n(&field, v, __ATOMIC_RELAXED); };
  st(totals_.queued_packets, s.queued_packets);
  st(totals_.queued_bytes, s.queued_bytes);
  st(totals_.backlog_ns, s.sojourn);
  st(totals_.rate_bps, static_cast<uint64_t>(s.departure_rate_bps));
  st(totals_.drop_ppm, static_cast<uint64_t>(s.drop_probability * 1e6));
}

void Link::reseed(uint64_t s) {
  rng_ = seed_ ^ (s * 0x9e3779b97f4a7c15ull);
  ge_bad_ = false;
  have_spare_ = false;
}

uint64_t Link::next() {  // splitmix64, as Chance
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double Link::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

// netem's order: the loss is drawn in the current state, then the state may change.
bool Link::lost() {
  switch (p_.loss) {
    case LinkParams::Loss::kNone: return false;
    case LinkParams::Loss::kRandom: return uniform() < p_.loss_p;
    case LinkParams::Loss::kGilbertElliott: {
      bool l;
      if (ge_bad_) {
        l = uniform() >= p_.ge_h;
        if (uniform() < p_.ge_r) ge_bad_ = false;
      } else {
        l = uniform() >= p_.ge_k;
        if (uniform() < p_.loss_p) ge_bad_ = true;
      }
      return l;
    }
  }
  return false;
}

double Link::normal() {  // Box-Muller, two normals per pair of draws
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * M_PI * uniform();
  spare_ = r * std::sin(a);
  have_spare_ = true;
  return r * std::cos(a);
}

namespace {
// Pareto with shape 3 (netem's pareto table), scaled to mean 0 and standard deviation 1:
// X = (1 - u)^(-1/3) has mean 3/2 and variance 3/4.
double standard_pareto(double u) { return (std::pow(1.0 - u, -1.0 / 3.0) - 1.5) / std::sqrt(0.75); }
}  // namespace

int64_t Link::jitter_sample() {
  const auto j = static_cast<double>(p_.jitter);
  double z = 0;
  switch (p_.distribution) {
    case LinkParams::Jitter::kUniform:
      return static_cast<int64_t>(std::floor(uniform() * (2 * j + 1))) - static_cast<int64_t>(p_.jitter);
    case LinkParams::Jitter::kNormal: z = normal(); break;
    case LinkParams::Jitter::kPareto: z = standard_pareto(uniform()); break;
    case LinkParams::Jitter::kParetoNormal:
      // netem's mix: a quarter normal and three quarters pareto, rescaled to unit variance.
      z = (0.25 * normal() + 0.75 * standard_pareto(uniform())) / std::sqrt(0.25 * 0.25 + 0.75 * 0.75);
      break;
  }
  return std::llround(z * j);
}

void Link::retire(Nanos now) {
  while (wcount_ != 0 && wire_[whead_].end <= now) {
    wbytes_ -= wire_[whead_].bytes;
    if (++whead_ == qcap_) whead_ = 0;
    --wcount_;
  }
}

void Link::heap_push(const Held& h) {
  uint32_t i = count_++;
  while (i != 0) {
    const uint32_t up = (i - 1) / 2;
    const Held& u = ring_[up];
    if (u.depart < h.depart || (u.depart == h.depart && u.seq < h.seq)) break;
    ring_[i] = u;
    i = up;
  }
  ring_[i] = h;
}

Link::Held Link::heap_pop() {
  const Held top = ring_[0];
  const Held last = ring_[--count_];
  uint32_t i = 0;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= count_) break;
    if (c + 1 < count_ && (ring_[c + 1].depart < ring_[c].depart ||
                           (ring_[c + 1].depart == ring_[c].depart && ring_[c + 1].seq < ring_[c].seq))) {
      ++c;
    }
    if (last.depart < ring_[c].depart || (last.depart == ring_[c].depart && last.seq < ring_[c].seq)) break;
    ring_[i] = ring_[c];
    i = c;
  }
  if (count_ != 0) ring_[i] = last;
  return top;
}

// RFC 8289's dequeue decision for the packet whose first bit goes at t, after waiting `sojourn`.
// Serialization is FIFO, so every packet's dequeue time is known when it arrives, and the
// decisions are taken in dequeue order. bytes_ahead (the backlog it found) stands in for the
// backlog at dequeue in the "less than an MTU queued" test.
bool Link::codel_should_signal(Nanos t, Nanos sojourn, uint64_t bytes_ahead) {
  bool ok_to_drop = false;
  if (sojourn < p_.codel_target || bytes_ahead <= kCodelMtu) {
    codel_first_above_ = 0;
  } else if (codel_first_above_ == 0) {
    codel_first_above_ = t + p_.codel_interval;
  } else {
    ok_to_drop = t >= codel_first_above_;
  }
  auto control_law = [this](Nanos from) {
    return from + static_cast<Nanos>(static_cast<double>(p_.codel_interval) / std::sqrt(codel_count_));
  };
  if (codel_dropping_) {
    if (!ok_to_drop) {
      codel_dropping_ = false;
      return false;
    }
    if (t < codel_drop_next_) return false;
    ++codel_count_;
    codel_drop_next_ = control_law(codel_drop_next_);
    return true;
  }
  if (!ok_to_drop) return false;
  codel_dropping_ = true;
  const uint32_t delta = codel_count_ - codel_last_count_;
  codel_count_ = delta > 1 && t - codel_drop_next_ < 16 * p_.codel_interval ? delta : 1;
  codel_drop_next_ = control_law(t);
  codel_last_count_ = codel_count_;
  return true;
}

// RED (Floyd and Jacobson 1993) on the average backlog in bytes, with the count-based spacing
// of marks; above max every packet is signalled.
bool Link::red_should_signal(Nanos idle_ns) {
  const double w = p_.red_weight;
  if (wcount_ == 0 && idle_ns != 0) {  // idle: decay as if small packets had been sent
    const double m = static_cast<double>(idle_ns) * static_cast<double>(p_.rate_bps) / (8e9 * kRedMeanPacket);
    red_avg_ *= std::pow(1 - w, m);
  }
  red_avg_ = (1 - w) * red_avg_ + w * static_cast<double>(wbytes_);
  if (red_avg_ < static_cast<double>(p_.red_min)) {
    red_count_ = -1;
    return false;
  }
  if (red_avg_ >= static_cast<double>(p_.red_max)) {
    red_count_ = 0;
    return true;
  }
  ++red_count_;
  const double pb = p_.red_max_p * (red_avg_ - static_cast<double>(p_.red_min)) /
                    static_cast<double>(p_.red_max - p_.red_min);
  const double denom = 1 - static_cast<double>(red_count_) * pb;
  const double pa = denom <= 0 ? 1.0 : pb / denom;
  if (uniform() < pa) {
    red_count_ = 0;
    return true;
  }
  return false;
}

// The AQM's signal for one packet: kPass, or kPass after a CE mark, or a drop (kAqm + 1).
uint8_t Link::aqm_verdict(rte_mbuf* m, Nanos start, Nanos arrival, uint64_t bytes_ahead) {
  bool signal = false;
  if (p_.aqm == LinkParams::Aqm::kCodel) {
    signal = codel_should_signal(start, start - arrival, bytes_ahead);
  } else {
    signal = red_should_signal(start == arrival && bytes_ahead == 0 ? red_idle_ns_ : 0);
  }
  red_idle_ns_ = 0;
  signal_ewma_ += ((signal ? 1.0 : 0.0) - signal_ewma_) * kSignalWeight;
  if (!signal) return kPass;
  if (p_.ecn) {
    PktView v;
    if (ip_header(m, v)) {
      const uint8_t tc = traffic_class(v);
      if ((tc & kEcnMask) != 0) {  // ECT(0), ECT(1): now CE; CE stays CE
        if ((tc & kEcnMask) != kEcnMask) set_traffic_class(v, static_cast<uint8_t>(tc | kEcnMask));
        count_action(kCeMarked);
        return kPass;
      }
    }
  }
  return kAqm + 1;
}

// One random bit outside the L2 header, in the first segment; checksums are left as they were.
void Link::corrupt_bit(rte_mbuf* m) {
  PktView v;
  uint32_t l2 = 14;
  if (ip_header(m, v)) l2 = m->l2_len;
  if (m->data_len <= l2) return;
  const uint64_t bit = next() % (uint64_t{m->data_len - l2} * 8);
  rte_pktmbuf_mtod_offset(m, uint8_t*, l2 + bit / 8)[0] ^= static_cast<uint8_t>(1u << (bit % 8));
  count_action(kCorrupted);
}

bool Link::enqueue(rte_mbuf* m, Nanos now) {
  const uint32_t len = m->pkt_len;
  Nanos end = now;
  if (p_.rate_bps != 0) {
    bool full = wcount_ == qcap_;
    switch (p_.limit) {
      case LinkParams::Limit::kPackets: full = full || wcount_ >= p_.limit_value; break;
      case LinkParams::Limit::kBytes: full = full || wbytes_ + len > p_.limit_value; break;
      case LinkParams::Limit::kTime: full = full || ceil_ns(busy_fx_) - now > p_.limit_value; break;
    }
    if (full || count_ == cap_) {
      if (p_.aqm == LinkParams::Aqm::kTailDrop) signal_ewma_ += (1.0 - signal_ewma_) * kSignalWeight;
      last_drop_ = kQueueFull;
      return false;
    }
    const Nanos start = ceil_ns(busy_fx_);
    if (p_.aqm != LinkParams::Aqm::kTailDrop) {
      const uint8_t v = aqm_verdict(m, start, now, wbytes_);
      if (v != kPass) {
        last_drop_ = kAqm;
        return false;
      }
    } else {
      signal_ewma_ -= signal_ewma_ * kSignalWeight;
    }
    busy_fx_ += static_cast<unsigned __int128>(len + p_.overhead) * ns_per_byte_fx_;
    end = ceil_ns(busy_fx_);  // the last bit has left
    uint32_t w = whead_ + wcount_++;
    if (w >= qcap_) w -= qcap_;
    wire_[w] = {end, len};
    wbytes_ += len;
    sojourn_sum_ += start - now;
  } else if (count_ == cap_) {
    last_drop_ = kQueueFull;
    return false;
  }
  if (p_.loss != LinkParams::Loss::kNone && lost()) {
    last_drop_ = kLoss;
    return false;
  }
  if (p_.corrupt != 0 && uniform() < p_.corrupt) corrupt_bit(m);
  Nanos depart = end + p_.delay;
  if (p_.jitter != 0) {
    const int64_t d = static_cast<int64_t>(p_.delay) + jitter_sample();
    depart = end + static_cast<Nanos>(std::max<int64_t>(d, 0));
  }
  if (use_heap_) {
    heap_push({depart, seq_++, m});
  } else {
    depart = std::max(depart, last_depart_);
    last_depart_ = depart;
    uint32_t t = head_ + count_++;
    if (t >= cap_) t -= cap_;
    ring_[t] = {depart, 0, m};
  }
  ++accepted_;
  return true;
}

void Link::process(Batch& b) {
  sync();
  const Nanos now = b.now;
  const uint16_t n = b.n;
  if (down_) [[unlikely]] {
    std::memset(b.verdict, kDown + 1, n);
    return;
  }
  if (p_.rate_bps != 0) {
    retire(now);
    const unsigned __int128 now_fx = static_cast<unsigned __int128>(now) << 32;
    if (busy_fx_ < now_fx) {
      red_idle_ns_ = now - ceil_ns(busy_fx_);
      busy_fx_ = now_fx;
    }
  }
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = b.pkts[i];
    rte_mbuf* copy = nullptr;
    if (p_.duplicate != 0 && uniform() < p_.duplicate) {
      copy = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
      count_action(copy != nullptr ? kDuplicated : kDuplicateNoMbuf);
    }
    b.verdict[i] = enqueue(m, now) ? kHeld : static_cast<uint8_t>(last_drop_ + 1);
    if (copy != nullptr) {  // the copy follows its original onto the wire
      if (enqueue(copy, now)) {
        count_created_held();
      } else {
        drop_created(last_drop_, copy);
      }
    }
  }
  __atomic_store_n(&totals_.accepted, accepted_, __ATOMIC_RELAXED);
  __atomic_store_n(&totals_.sojourn_ns, sojourn_sum_, __ATOMIC_RELAXED);
  publish(now);
}

uint16_t Link::drain(Nanos now, rte_mbuf** out, uint16_t room) {
  sync();
  uint16_t n = 0;
  uint64_t bytes = 0, late = 0;
  while (n < room && count_ != 0) {
    Held h;
    if (use_heap_) {
      if (ring_[0].depart > now) break;
      h = heap_pop();
    } else {
      h = ring_[head_];
      if (h.depart > now) break;
      if (++head_ == cap_) head_ = 0;
      --count_;
    }
    if (ts_off_ >= 0) *RTE_MBUF_DYNFIELD(h.m, ts_off_, uint64_t*) = h.depart;
    late += now - h.depart;
    out[n] = h.m;
    bytes += out[n++]->pkt_len;
  }
  if (n != 0 && now != kForever) {
    const double bits = static_cast<double>(bytes + uint64_t{n} * p_.overhead) * 8;
    const double d = now > rate_at_ ? decay(static_cast<double>(now - rate_at_) / kRateTau) : 1.0;
    rate_ewma_ = rate_ewma_ * d + bits * (1e9 / kRateTau);
    rate_at_ = std::max(rate_at_, now);
    __atomic_store_n(&totals_.released, totals_.released + n, __ATOMIC_RELAXED);
    __atomic_store_n(&totals_.late_ns, totals_.late_ns + late, __ATOMIC_RELAXED);
    publish(now);
  }
  return n;
}

LinkState Link::state(Nanos now) {
  sync();
  LinkState s;
  s.rate_bps = p_.rate_bps;
  s.down = down_;
  if (p_.rate_bps != 0) {
    retire(now);
    const Nanos busy = ceil_ns(busy_fx_);
    s.sojourn = busy > now ? busy - now : 0;
  }
  s.queued_packets = wcount_;
  s.queued_bytes = wbytes_;
  s.in_flight = count_;
  s.departure_rate_bps =
      rate_ewma_ * (now > rate_at_ ? decay(static_cast<double>(now - rate_at_) / kRateTau) : 1.0);
  if (p_.aqm == LinkParams::Aqm::kRed) {
    if (red_avg_ < static_cast<double>(p_.red_min)) {
      s.drop_probability = 0;
    } else if (red_avg_ >= static_cast<double>(p_.red_max)) {
      s.drop_probability = 1;
    } else {
      s.drop_probability = p_.red_max_p * (red_avg_ - static_cast<double>(p_.red_min)) /
                           static_cast<double>(p_.red_max - p_.red_min);
    }
  } else {
    s.drop_probability = signal_ewma_;
  }
  return s;
}

// ---- params -----------------------------------------------------------------------------------

namespace {

// "<number><unit>": the number may have a fraction; returns false on any other form.
bool split_number(const std::string& s, double& value, std::string& unit) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, value);
  if (ec != std::errc() || p != s.data() + i) return false;
  unit = s.substr(i);
  return true;
}

struct Unit {
  std::string_view name;
  double mult;
};
constexpr Unit kRateUnits[] = {{"", 1}, {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12}};
constexpr Unit kTimeUnits[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};

// s as "<number><unit>" scaled by its unit's multiplier; false for another form.
bool scaled(const std::string& s, std::span<const Unit> units, bool fold_case, double& out) {
  double v = 0;
  std::string unit;
  if (!split_number(s, v, unit)) return false;
  if (fold_case) {
    for (char& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (unit.empty() && v == 0) {  // a bare 0 needs no unit
    out = 0;
    return true;
  }
  for (const Unit& u : units) {
    if (unit == u.name) {
      out = std::round(v * u.mult);
      return true;
    }
  }
  return false;
}

uint64_t parse_rate(YamlMap& m, std::string_view key) {
  const std::string s = m.get<std::string>(key);
  double bps = 0;
  if (!scaled(s, kRateUnits, true, bps)) {
    m.fail(key, fmt::format("'{}' is not a rate (e.g. 10gbit, 100mbit, 512kbit, or bits per second)", s));
  }
  if (bps == 0) return 0;  // unlimited: a change may lift the rate
  if (!(bps >= 1000 && bps <= 1e13)) m.fail(key, fmt::format("{} is not within 1kbit..10tbit", s));
  return static_cast<uint64_t>(bps);
}

Nanos parse_duration(YamlMap& m, std::string_view key) {
  const std::string s = m.get<std::string>(key);
  double ns = 0;
  if (!scaled(s, kTimeUnits, false, ns)) {
    m.fail(key, fmt::format("'{}' is not a duration (e.g. 20ms, 500us, 1.5s)", s));
  }
  if (!(ns <= 3600e9)) m.fail(key, fmt::format("{} is longer than an hour", s));
  return static_cast<Nanos>(ns);
}

double probability(YamlMap& m, std::string_view key) {
  const double p = m.get<double>(key);
  if (!(p >= 0.0 && p <= 1.0)) m.fail(key, fmt::format("{} is not within 0..1", p));
  return p;
}

void parse_queue(YamlMap& m, LinkParams& p) {
  const YAML::Node n = m.node("queue");
  YamlMap q(n, m.file(), m.path("queue"), m.pos("queue"));
  q.only({"packets", "bytes", "time"});
  if (q.has("packets") + q.has("bytes") + q.has("time") != 1) {
    m.fail("queue", "expected one of {packets: N}, {bytes: N} or {time: DURATION}");
  }
  if (q.has("packets")) {
    p.limit = LinkParams::Limit::kPackets;
    p.limit_value = q.get_in<uint32_t>("packets", 1, Link::kMaxRing);
  } else if (q.has("bytes")) {
    p.limit = LinkParams::Limit::kBytes;
    p.limit_value = q.get_in<uint64_t>("bytes", 64, uint64_t{1} << 32);
  } else {
    p.limit = LinkParams::Limit::kTime;
    p.limit_value = parse_duration(q, "time");
  }
  q.done();
}

void parse_loss(YamlMap& m, LinkParams& p) {
  const YAML::Node n = m.node("loss");
  YamlMap l(n, m.file(), m.path("loss"), m.pos("loss"));
  l.only({"random", "gilbert_elliott"});
  if (l.has("random") == l.has("gilbert_elliott")) {
    m.fail("loss", "expected {random: P} or {gilbert_elliott: {p: P, r: R, h: H, k: K}}");
  }
  if (l.has("random")) {
    p.loss = LinkParams::Loss::kRandom;
    p.loss_p = probability(l, "random");
  } else {
    YamlMap g(l.node("gilbert_elliott"), m.file(), l.path("gilbert_elliott"), l.pos("gilbert_elliott"));
    g.only({"p", "r", "h", "k"});
    p.loss = LinkParams::Loss::kGilbertElliott;
    p.loss_p = probability(g, "p");
    p.ge_r = probability(g, "r");
    p.ge_h = g.has("h") ? probability(g, "h") : 0.0;
    p.ge_k = g.has("k") ? probability(g, "k") : 1.0;
    g.done();
  }
  l.done();
}

// aqm: tail_drop | red | codel, or a map {type: .., ecn: .., and the type's own keys}.
void parse_aqm(YamlMap& m, LinkParams& p) {
  const YAML::Node n = m.node("aqm");
  std::string type;
  std::optional<YamlMap> a;
  if (n.IsScalar()) {
    type = n.as<std::string>();
  } else {
    a.emplace(n, m.file(), m.path("aqm"), m.pos("aqm"));
    type = a->get<std::string>("type");
  }
  if (type == "tail_drop") {
    p.aqm = LinkParams::Aqm::kTailDrop;
    if (a) a->only({"type"});
  } else if (type == "codel") {
    p.aqm = LinkParams::Aqm::kCodel;
    if (a) {
      a->only({"type", "ecn", "target", "interval"});
      if (a->has("target")) p.codel_target = parse_duration(*a, "target");
      if (a->has("interval")) p.codel_interval = parse_duration(*a, "interval");
      if (p.codel_target == 0 || p.codel_interval == 0) m.fail("aqm", "codel's target and interval must be above 0");
    }
  } else if (type == "red") {
    p.aqm = LinkParams::Aqm::kRed;
    if (!a) m.fail("aqm", "red needs {type: red, min: BYTES, max: BYTES, max_p: P}");
    a->only({"type", "ecn", "min", "max", "max_p", "weight"});
    p.red_min = a->get_in<uint64_t>("min", 0, uint64_t{1} << 40);
    p.red_max = a->get_in<uint64_t>("max", 1, uint64_t{1} << 40);
    if (p.red_max <= p.red_min) a->fail("max", "red's max must be above its min");
    p.red_max_p = a->has("max_p") ? probability(*a, "max_p") : 0.1;
    if (a->has("weight")) {
      p.red_weight = probability(*a, "weight");
      if (p.red_weight == 0) a->fail("weight", "red's weight must be above 0");
    }
  } else {
    m.fail("aqm", fmt::format("'{}' is not tail_drop, red or codel", type));
  }
  if (a) {
    p.ecn = a->get_or<bool>("ecn", false);
    a->done();
  }
  if (p.aqm != LinkParams::Aqm::kTailDrop && p.rate_bps == 0) {
    m.fail("aqm", "an AQM needs a rate: without one nothing queues");
  }
}

constexpr std::string_view kParamKeys[] = {
    "rate", "overhead", "queue", "aqm", "delay", "jitter", "distribution", "reorder", "loss",
    "duplicate", "corrupt"};

}  // namespace

LinkParams parse_link_params(YamlMap& m, const LinkParams& base) {
  LinkParams p = base;
  if (m.has("rate")) p.rate_bps = parse_rate(m, "rate");
  if (m.has("overhead")) p.overhead = m.get_in<uint32_t>("overhead", 0, 256);
  if (m.has("queue")) parse_queue(m, p);
  if (m.has("delay")) p.delay = parse_duration(m, "delay");
  if (m.has("jitter")) p.jitter = parse_duration(m, "jitter");
  if (auto d = m.maybe<std::string>("distribution")) {
    if (*d == "uniform") {
      p.distribution = LinkParams::Jitter::kUniform;
    } else if (*d == "normal") {
      p.distribution = LinkParams::Jitter::kNormal;
    } else if (*d == "pareto") {
      p.distribution = LinkParams::Jitter::kPareto;
    } else if (*d == "paretonormal") {
      p.distribution = LinkParams::Jitter::kParetoNormal;
    } else {
      m.fail("distribution", fmt::format("'{}' is not uniform, normal, pareto or paretonormal", *d));
    }
  }
  if (m.has("reorder")) p.reorder = m.get<bool>("reorder");
  if (m.has("loss")) parse_loss(m, p);
  if (m.has("duplicate")) p.duplicate = probability(m, "duplicate");
  if (m.has("corrupt")) p.corrupt = probability(m, "corrupt");
  if (m.has("aqm")) {
    parse_aqm(m, p);
  } else if (p.aqm != LinkParams::Aqm::kTailDrop && p.rate_bps == 0) {
    m.fail("rate", "the link's AQM needs a rate");
  }
  return p;
}

std::span<const std::string_view> link_param_keys() { return kParamKeys; }

namespace {

const StageRegistration kReg{{
    .name = "link",
    .help = "link emulation: rate, queue, AQM (red, codel, ECN), delay, jitter, loss, duplication, "
            "corruption (holds packets)",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      m.only({"stage", "seed", "rate", "overhead", "queue", "aqm", "delay", "jitter",
              "distribution", "reorder", "loss", "duplicate", "corrupt"});
      const StageCommon c = StageCommon::parse(m);
      const LinkParams p = parse_link_params(m, LinkParams{});
      m.done();
      return [c, p](const StageSite& site) {
        LinkParams q = p;
        q.seed = c.instance_seed(site);
        return std::make_unique<Link>(q);
      };
    },
}};

}  // namespace
uint64_t parse_rate_key(YamlMap& m, std::string_view key) { return parse_rate(m, key); }
Nanos parse_duration_key(YamlMap& m, std::string_view key) { return parse_duration(m, key); }

}  // namespace pathlab
