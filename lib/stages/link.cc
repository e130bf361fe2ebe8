// link: the link behind an egress port (docs/links.md): rate, queue, delay, jitter, loss.
//   - stage: link
//     rate: 1gbit              # bit, kbit, mbit, gbit, tbit or bits per second; default unlimited
//     overhead: 24             # wire bytes per packet beyond the frame (FCS, preamble, SFD, IFG)
//     queue: {packets: 1000}   # or {bytes: N} or {time: 20ms}: the backlog limit (tail drop)
//     delay: 10ms              # propagation delay
//     jitter: 1ms              # added per packet, drawn from distribution: uniform | normal
//     reorder: false           # false: jitter never reorders (departures stay in order)
//     loss: {random: 0.01}     # or {gilbert_elliott: {p: .., r: .., h: 0, k: 1}}
//     seed: 7
// A packet leaves when its last bit has left the serializer plus its delay: it waits in a ring
// preallocated at build time (a heap when jitter may reorder), released by drain(now).
#include "pathlab/stages/link.hpp"

#include <fmt/format.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <span>
#include <string>

#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/stages/match.hpp"

namespace pathlab {
namespace {

enum DropIndex : uint8_t { kQueueFull, kLoss };
constexpr CounterDesc kDrops[] = {
    {"queue_full", "the link's queue was at its limit (tail drop), or its ring was full"},
    {"loss", "lost on the wire (loss: random or gilbert_elliott), after using its serialization time"},
};

constexpr uint32_t kMinFrame = 34;           // Ethernet + a bare IPv4 header: the ring-size bound
constexpr uint32_t kNoRateInFlight = 16384;  // ring entries for propagation without a rate

uint32_t clamp_ring(double n) {
  if (!(n < Link::kMaxRing)) return Link::kMaxRing;
  return std::max<uint32_t>(static_cast<uint32_t>(n), 1);
}

}  // namespace

Link::Link(const LinkParams& p) : Stage(kDrops, {}), p_(p), seed_(p.seed), rng_(p.seed) {
  if (p_.rate_bps != 0) {
    ns_per_byte_fx_ = static_cast<uint64_t>((static_cast<unsigned __int128>(8'000'000'000ull) << 32) /
                                            p_.rate_bps);
    const double min_wire_ns = (kMinFrame + p_.overhead) * 8e9 / static_cast<double>(p_.rate_bps);
    switch (p_.limit) {
      case LinkParams::Limit::kPackets: qcap_ = clamp_ring(static_cast<double>(p_.limit_value)); break;
      case LinkParams::Limit::kBytes: qcap_ = clamp_ring(static_cast<double>(p_.limit_value) / kMinFrame + 1); break;
      case LinkParams::Limit::kTime: qcap_ = clamp_ring(static_cast<double>(p_.limit_value) / min_wire_ns + 2); break;
    }
    const double max_delay =
        static_cast<double>(p_.delay) +
        static_cast<double>(p_.jitter) * (p_.distribution == LinkParams::Jitter::kNormal ? 4 : 1);
    cap_ = clamp_ring(qcap_ + max_delay / min_wire_ns + 2);
    wire_ = std::make_unique_for_overwrite<Wire[]>(qcap_);
  } else {
    cap_ = kNoRateInFlight;
  }
  use_heap_ = p_.reorder && p_.jitter != 0;
  ring_ = std::make_unique_for_overwrite<Held[]>(cap_);
}

Link::~Link() {
  for (uint32_t i = 0; i < count_; ++i) {
    rte_pktmbuf_free(ring_[use_heap_ ? i : (head_ + i) % cap_].m);
  }
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

int64_t Link::jitter_sample() {
  const auto j = static_cast<double>(p_.jitter);
  if (p_.distribution == LinkParams::Jitter::kUniform) {
    return static_cast<int64_t>(std::floor(uniform() * (2 * j + 1))) - static_cast<int64_t>(p_.jitter);
  }
  double z;  // Box-Muller, two normals per pair of draws
  if (have_spare_) {
    z = spare_;
    have_spare_ = false;
  } else {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * M_PI * uniform();
    z = r * std::cos(a);
    spare_ = r * std::sin(a);
    have_spare_ = true;
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

void Link::process(Batch& b) {
  const Nanos now = b.now;
  const uint16_t n = b.n;
  const bool rated = p_.rate_bps != 0;
  if (rated) {
    retire(now);
    const unsigned __int128 now_fx = static_cast<unsigned __int128>(now) << 32;
    if (busy_fx_ < now_fx) busy_fx_ = now_fx;
  }
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = b.pkts[i];
    const uint32_t len = m->pkt_len;
    Nanos end = now;
    if (rated) {
      bool full = wcount_ == qcap_;
      switch (p_.limit) {
        case LinkParams::Limit::kPackets: break;  // qcap_ is the limit
        case LinkParams::Limit::kBytes: full = full || wbytes_ + len > p_.limit_value; break;
        case LinkParams::Limit::kTime:
          full = full || static_cast<Nanos>((busy_fx_ + 0xffffffffu) >> 32) - now > p_.limit_value;
          break;
      }
      if (full || count_ == cap_) {
        b.verdict[i] = kQueueFull + 1;
        continue;
      }
      busy_fx_ += static_cast<unsigned __int128>(len + p_.overhead) * ns_per_byte_fx_;
      end = static_cast<Nanos>((busy_fx_ + 0xffffffffu) >> 32);  // the last bit has left
      uint32_t w = whead_ + wcount_++;
      if (w >= qcap_) w -= qcap_;
      wire_[w] = {end, len};
      wbytes_ += len;
    } else if (count_ == cap_) {
      b.verdict[i] = kQueueFull + 1;
      continue;
    }
    if (lost()) {
      b.verdict[i] = kLoss + 1;
      continue;
    }
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
    b.verdict[i] = kHeld;
  }
}

uint16_t Link::drain(Nanos now, rte_mbuf** out, uint16_t room) {
  uint16_t n = 0;
  uint64_t bytes = 0;
  if (use_heap_) {
    while (n < room && count_ != 0 && ring_[0].depart <= now) {
      out[n] = heap_pop().m;
      bytes += out[n++]->pkt_len;
    }
  } else {
    while (n < room && count_ != 0 && ring_[head_].depart <= now) {
      out[n] = ring_[head_].m;
      bytes += out[n++]->pkt_len;
      if (++head_ == cap_) head_ = 0;
      --count_;
    }
  }
  if (n != 0 && now != kForever) {
    const double bits = static_cast<double>(bytes + uint64_t{n} * p_.overhead) * 8;
    const double decay =
        now > rate_at_ ? std::exp(-static_cast<double>(now - rate_at_) / kRateTau) : 1.0;
    rate_ewma_ = rate_ewma_ * decay + bits * (1e9 / kRateTau);
    rate_at_ = std::max(rate_at_, now);
  }
  return n;
}

LinkState Link::state(Nanos now) {
  LinkState s;
  s.rate_bps = p_.rate_bps;
  if (p_.rate_bps != 0) {
    retire(now);
    const auto busy = static_cast<Nanos>((busy_fx_ + 0xffffffffu) >> 32);
    s.sojourn = busy > now ? busy - now : 0;
  }
  s.queued_packets = wcount_;
  s.queued_bytes = wbytes_;
  s.in_flight = count_;
  s.departure_rate_bps =
      rate_ewma_ * (now > rate_at_ ? std::exp(-static_cast<double>(now - rate_at_) / kRateTau) : 1.0);
  s.drop_probability = 0;
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

LinkParams parse_link(YamlMap& m) {
  LinkParams p;
  if (m.has("rate")) p.rate_bps = parse_rate(m, "rate");
  p.overhead = m.get_or_in<uint32_t>("overhead", 24, 0, 256);
  if (m.has("queue")) parse_queue(m, p);
  if (m.has("delay")) p.delay = parse_duration(m, "delay");
  if (m.has("jitter")) p.jitter = parse_duration(m, "jitter");
  if (auto d = m.maybe<std::string>("distribution")) {
    if (*d == "uniform") {
      p.distribution = LinkParams::Jitter::kUniform;
    } else if (*d == "normal") {
      p.distribution = LinkParams::Jitter::kNormal;
    } else if (*d == "pareto" || *d == "paretonormal") {
      m.fail("distribution", fmt::format("'{}' is not supported yet (uniform or normal)", *d));
    } else {
      m.fail("distribution", fmt::format("'{}' is not uniform or normal", *d));
    }
  }
  p.reorder = m.get_or<bool>("reorder", false);
  if (m.has("loss")) parse_loss(m, p);
  return p;
}

const StageRegistration kReg{{
    .name = "link",
    .help = "link emulation: rate, queue limit, delay, jitter and loss (holds packets)",
    .drops = kDrops,
    .actions = {},
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      m.only({"stage", "seed", "rate", "overhead", "queue", "delay", "jitter", "distribution",
              "reorder", "loss"});
      const StageCommon c = StageCommon::parse(m);
      const LinkParams p = parse_link(m);
      m.done();
      return [c, p](const StageSite& site) {
        LinkParams q = p;
        q.seed = c.instance_seed(site);
        return std::make_unique<Link>(q);
      };
    },
}};

}  // namespace
}  // namespace pathlab
