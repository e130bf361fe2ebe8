// ipim: a participating IPIM hop on a port's egress (docs/ipim.md, "What a hop does";
// docs/stages.md, "ipim"). Accumulates into every IPIM option it sees and stamps a slot when
// triggered or sampled; values come from the link stage later in the same chain.
//   - stage: ipim
//     sample: 0.01            # probability of a stamp for packets that ask for sampling
//     sample_max_queue: 5ms   # no sampled stamps while the egress queue delay is above this
//     router_id: 10.0.0.1     # or a number; default: unavailable
//     as: 64500               # default: the router's asn (0: unavailable)
//     evolution_offset: 7     # default: random from the seed; rotatable by telemetry
//     capacity: 1gbit         # without a link stage after this one: the capacity to report
//     participate: true       # false: pass the option untouched, as a legacy router does
//     malformed: pass         # pass | drop (ipim/malformed)
//     liar: {queue_scale: 0.1, capacity: 10gbit, others_queue_scale: 10}
#include <fmt/format.h>
#include <rte_telemetry.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/engine/clock.hpp"
#include "pathlab/engine/shared.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/ipim/hop.hpp"
#include "pathlab/ipim/hop4.hpp"
#include "pathlab/net/checksum.hpp"
#include "pathlab/net/ip4_options.hpp"
#include "pathlab/net/ip6_ext.hpp"
#include "pathlab/stages/link.hpp"
#include "pathlab/stages/link_config.hpp"
#include "pathlab/stages/match.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"malformed", "IPIM option (or the option list holding it) malformed (malformed: drop)"},
};
enum Verdict : uint8_t { kVerdictMalformed = 1 };

constexpr CounterDesc kActions[] = {
    {"seen", "packets carrying an IPIM option"},
    {"accumulated", "options whose TTL', evolution, capacity and queue fields this hop updated"},
    {"stamped", "slots written because the packet was sampled"},
    {"triggered", "slots written because the arrival TTL equalled the target TTL"},
    {"overflow", "stamps wanted with no free slot (overflow flag set)"},
    {"sampling_suspended", "sampled stamps skipped because the egress queue was above sample_max_queue"},
    {"legacy_passed", "options passed untouched (participate: false)"},
    {"malformed_passed", "malformed options passed untouched (malformed: pass)"},
    {"lied", "options carrying a liar's values"},
};
enum ActionIndex : size_t {
  kSeen, kAccumulated, kStamped, kTriggered, kOverflow, kSuspended, kLegacy, kMalformedPassed, kLied
};

struct Liar {
  double queue_scale = 1;         // own queue delay reported times this
  uint64_t capacity_bps = 0;      // reported instead of the real capacity (0: the truth)
  double others_queue_scale = 1;  // earlier hops' performance slots: their queue times this
  bool any() const { return queue_scale != 1 || capacity_bps != 0 || others_queue_scale != 1; }
};

struct Params {
  double sample = 0.01;
  Nanos sample_max_queue = 0;  // 0: no load rule
  std::optional<uint32_t> router_id;
  std::optional<uint32_t> as;
  std::optional<uint32_t> evolution_offset;
  uint64_t capacity_bps = 0;
  bool participate = true;
  bool drop_malformed = false;
  Liar liar;
};

// A router's evolution offset: one for all its ports and workers, rotatable at run time.
struct RouterIpim {
  std::string router;
  std::atomic<uint32_t> offset{0};
};

// Every router's offset, for the telemetry command.
class IpimRegistry {
 public:
  static IpimRegistry& instance() {
    static IpimRegistry r;
    return r;
  }
  void add(const std::shared_ptr<RouterIpim>& r) {
    std::lock_guard<std::mutex> g(mu_);
    routers_[r->router] = r;
    if (!registered_) {
      registered_ = true;
      // DPDK refuses help texts of 128 characters or more.
      const int rc = rte_telemetry_register_cmd(
          "/pathlab/ipim", command, "IPIM evolution offsets. Params: none, ROUTER (rotate) or ROUTER,VALUE (set)");
      if (rc != 0) throw std::runtime_error("telemetry: cannot register /pathlab/ipim");
    }
  }

 private:
  static int command(const char*, const char* params, rte_tel_data* d) {
    IpimRegistry& reg = instance();
    std::lock_guard<std::mutex> g(reg.mu_);
    const std::string p = params != nullptr ? params : "";
    if (!p.empty()) {
      const auto comma = p.find(',');
      auto it = reg.routers_.find(p.substr(0, comma));
      auto r = it != reg.routers_.end() ? it->second.lock() : nullptr;
      if (!r) return -1;
      uint32_t v = 0;
      if (comma != std::string::npos) {
        char* end = nullptr;
        const unsigned long long x = std::strtoull(p.c_str() + comma + 1, &end, 0);
        if (end == p.c_str() + comma + 1 || *end != '\0' || x > UINT32_MAX) return -1;
        v = static_cast<uint32_t>(x);
      } else {
        const uint32_t old = r->offset.load(std::memory_order_relaxed);
        do {
          v = static_cast<uint32_t>(rte_rdtsc() * 0x9e3779b97f4a7c15ull >> 32) ^ reg.draws_++;
        } while (v == old);
      }
      r->offset.store(v, std::memory_order_relaxed);
    }
    rte_tel_data_start_dict(d);
    for (const auto& [name, w] : reg.routers_) {
      if (auto r = w.lock()) {
        rte_tel_data_add_dict_u64(d, name.c_str(), r->offset.load(std::memory_order_relaxed));
      }
    }
    return 0;
  }

  std::mutex mu_;
  std::map<std::string, std::weak_ptr<RouterIpim>> routers_;
  uint32_t draws_ = 1;
  bool registered_ = false;
};

// An EWMA of the bits this stage sends, for the available capacity without a link stage.
class TxRate {
 public:
  void add(uint64_t bytes) { bytes_ += bytes; }
  double bps(Nanos now) {
    if (last_ == 0) last_ = now;
    const Nanos dt = now - last_;
    if (dt >= 1'000'000) {
      const double inst = static_cast<double>(bytes_) * 8e9 / static_cast<double>(dt);
      const double a = 1.0 - std::exp(-static_cast<double>(dt) / static_cast<double>(Link::kRateTau));
      rate_ += a * (inst - rate_);
      bytes_ = 0;
      last_ = now;
    }
    return rate_;
  }

 private:
  uint64_t bytes_ = 0;
  Nanos last_ = 0;
  double rate_ = 0;
};

uint16_t available_code(uint64_t cap, double used) {
  const double avail = static_cast<double>(cap) - used;
  return ipim::cap_encode(avail > 0 ? avail : 0);
}

uint8_t level_of(double p) {
  if (!(p > 0)) return 0;
  return static_cast<uint8_t>(std::lround(std::min(p, 1.0) * ipim::kLevelMax));
}

// The walk for the first option of `type` in base[begin, end) (tlv::walk: Stopped with it in
// `o`, Done or Malformed). Senders put the IPIM option first; that case is the walk's first step
// written out, with the same answer.
template <tlv::Format F>
tlv::Walk first_of(const uint8_t* base, uint32_t begin, uint32_t end, uint8_t type,
                   tlv::Option& o) {
  if (base[begin] == type && end - begin >= 2) {
    const uint32_t len = base[begin + 1] + uint32_t{F.len_extra};
    if (len < 2 || len > end - begin) return tlv::Walk::Malformed;
    o = tlv::Option{begin, static_cast<uint16_t>(len), type};
    return tlv::Walk::Stopped;
  }
  return tlv::walk<F>(base, begin, end, [&](const tlv::Option& x) {
    if (x.type != type) return true;
    o = x;
    return false;
  });
}

// Where the option is, or why there is none to touch.
enum class Found : uint8_t { kNone, kOption, kMalformed };

class Ipim final : public MatchStage {
 public:
  Ipim(const StageCommon& c, const StageSite& site, const Params& p,
       std::shared_ptr<RouterIpim> shared)
      : MatchStage(kDrops, kActions, c, site),
        p_(p),
        shared_(std::move(shared)),
        sample_seed_(c.instance_seed(site) ^ 0x1d1d),
        sample_(p.sample, sample_seed_),
        lies_(p.liar.any()),
        lies_about_others_(p.liar.others_queue_scale != 1) {
    if (!site.ip4.empty()) store_be32(egress4_, site.ip4.front().addr.v);
    if (!site.ip6.empty()) std::memcpy(egress6_, site.ip6.front().addr.b.data(), 16);
    has_egress4_ = !site.ip4.empty();
    has_egress6_ = !site.ip6.empty();
    // Every port's first address in wire order, by input port (null: none), for the slots.
    in4_.resize(site.port_ip4.size());
    in6_.resize(site.port_ip6.size());
    for (size_t i = 0; i < in4_.size(); ++i) {
      const auto& a = site.port_ip4[i];
      if (!a.empty()) store_be32(in4_[i].data(), a.front().addr.v);
      ingress4_.push_back(a.empty() ? nullptr : in4_[i].data());
    }
    for (size_t i = 0; i < in6_.size(); ++i) {
      const auto& a = site.port_ip6[i];
      if (!a.empty()) in6_[i] = a.front().addr.b;
      ingress6_.push_back(a.empty() ? nullptr : in6_[i].data());
    }
    for (const auto& a : site.port_ip4) {
      in4_word_.push_back(a.empty() ? ipim::kNoIngressWord : rte_cpu_to_be_32(a.front().addr.v));
    }
    fast4_ = p.participate && match().matches_everything() && !lies_about_others_;
    const uint32_t as = p.as ? *p.as : site.asn;
    hop_.router_id = p.router_id ? *p.router_id : ipim::kU32Unavailable;
    hop_.as = as != 0 ? as : ipim::kU32Unavailable;
  }

  void attach(std::span<const std::unique_ptr<Stage>> chain, size_t self) override {
    for (size_t i = self + 1; i < chain.size(); ++i) {
      if (auto* l = dynamic_cast<Link*>(chain[i].get())) {
        link_ = l;
        break;
      }
    }
  }

  // Replay restarts the sampler per chunk, as MatchStage restarts the probability draw.
  void reseed(uint64_t s) override {
    MatchStage::reseed(s);
    sample_.reseed(sample_seed_ ^ (s * 0x9e3779b97f4a7c15ull));
  }
  // Without a link after it the stage measures its own tx rate (an EWMA over every packet), and
  // what it writes as available capacity depends on the traffic before: replay keeps it in order.
  bool stateful() const override {
    return p_.participate && link_ == nullptr && (p_.capacity_bps != 0 || p_.liar.capacity_bps != 0);
  }

  // With the fast path the stage finds the IPv4 header itself and parses the rest on demand, so the
  // router need not store a view for it.
  bool reads_view() const override { return !fast4_; }

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    Tally t;
    if (!p_.participate) {
      for (uint16_t i = 0; i < b.n; ++i) {
        b.verdict[i] = kPass;
        PktView v;
        if (view_packet(b.pkts[i], v) && match().test(v) && find(v).first == Found::kOption) {
          ++t.n[kSeen];
          ++t.n[kLegacy];
        }
      }
      return t.flush(*this);
    }
    // Per burst: this hop's values, one copy per family (the egress address differs).
    ipim::HopValues h4 = values(b.now);
    const bool sampling_allowed =
        p_.sample_max_queue == 0 || h4.queue_us == ipim::kU32Unavailable ||
        uint64_t{h4.queue_us} * 1000 <= p_.sample_max_queue;
    ipim::HopValues h6 = h4;
    h4.egress = has_egress4_ ? egress4_ : nullptr;
    h6.egress = has_egress6_ ? egress6_ : nullptr;
    uint64_t bytes = 0;
    std::optional<ipim::Hop4Burst> burst4;  // made at the first IPv4 option of the burst
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      rte_mbuf* m = b.pkts[i];
      bytes += m->pkt_len;
      if (fast4_ && (hop4_fast(m, h4, burst4, sampling_allowed, t) || !parse_view(m))) continue;
      PktView v;
      if (!view_packet(m, v) || !match().test(v)) continue;
      const auto [found, opt] = find(v);
      if (found == Found::kNone) continue;
      ++t.n[kSeen];
      if (found == Found::kMalformed) {
        if (p_.drop_malformed) {
          b.verdict[i] = kVerdictMalformed;
        } else {
          ++t.n[kMalformedPassed];
        }
        continue;
      }
      hop(m, v, opt, v.version == 4 ? h4 : h6, sampling_allowed, t);
    }
    if (link_ == nullptr) tx_.add(bytes);
    t.flush(*this);
  }

 private:
  struct Tally {
    uint64_t n[std::size(kActions)] = {};
    uint64_t fast = 0;       // options hop4_fast accumulated into
    uint64_t stamps[4] = {};  // what each hop stamped, by ipim::Stamped
    void flush(Ipim& s) {
      n[kSeen] += fast;
      n[kAccumulated] += fast;
      if (s.lies_) n[kLied] += fast;
      n[kStamped] += stamps[static_cast<size_t>(ipim::Stamped::kSampled)];
      n[kTriggered] += stamps[static_cast<size_t>(ipim::Stamped::kTriggered)];
      n[kOverflow] += stamps[static_cast<size_t>(ipim::Stamped::kOverflow)];
      for (size_t k = 0; k < std::size(kActions); ++k) {
        if (n[k] != 0) s.count_action(k, n[k]);
      }
    }
  };

  // The common case in whole words (ipim/hop4.hpp): IPv4, unfragmented or a first fragment, the
  // IPIM option first and well formed. True when the packet is done with (written, or it carries
  // no option); false sends it down the general path below.
  bool hop4_fast(rte_mbuf* m, const ipim::HopValues& h4, std::optional<ipim::Hop4Burst>& burst,
                 bool sampling_allowed, Tally& t) {
    if (m->packet_type != kPtype4) return m->packet_type != kPtype6;
    uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
    const unsigned ihl = l3[0] & 0x0fu;
    if (ihl <= 5 || (load_be16(l3 + 6) & 0x1fff) != 0) return true;
    // What the option's checks read but its next-slot count: the IHL byte, type, length, version
    // and perf flag. A stream's packets share it, so the checks run again only when it changes.
    const uint32_t shape = (get32(l3 + 20) & kShapeMask) | uint32_t{l3[0]} << 24;
    const unsigned len = l3[21];
    if (shape != shape_) [[unlikely]] {
      if (l3[20] != ipim::kIp4Type || len > ihl * 4 - 20) return false;
      const int n = ipim::ip4_slots(l3[20 + ipim::kOffFlags], 0, len);
      if (n < 0) return false;
      shape_ = shape;
      shape_slots_ = static_cast<unsigned>(n);
    }
    const unsigned slots = shape_slots_;
    if ((l3[20 + ipim::kOffAcc] & ipim::kAccSlotMask) > slots) return false;
    const ipim::Option opt{l3 + 20, len, false};
    if (!burst) burst.emplace(h4);
    ++t.fast;
    bool sampled = (l3[20 + ipim::kOffFlags] & ipim::kFlagSample) != 0 && sample_.hit();
    if (sampled && !sampling_allowed) {
      sampled = false;
      ++t.n[kSuspended];
    }
    // The TTL the packet arrived with: one more than now, unless it left with 255.
    const uint8_t ttl = l3[8];
    const auto arrival = static_cast<uint8_t>(ttl + (ttl != 255));
    const uint16_t port = m->port;
    auto ingress = [this, port] {
      return port < in4_word_.size() ? in4_word_[port] : ipim::kNoIngressWord;
    };
    uint64_t delta = 0;
    const ipim::Stamped st = ipim::hop4(opt, slots, *burst, arrival, sampled, ingress, delta);
    ipim::apply_delta(l3 + 10, delta);
    ++t.stamps[static_cast<size_t>(st)];
    return true;
  }

  // The option in a packet the view parsed: IPv4 first fragments, IPv6 with Hop-by-Hop first.
  std::pair<Found, ipim::Option> find(const PktView& v) const {
    ipim::Option opt;
    if (v.version == 4) {
      if ((v.l3[0] & 0x0f) <= 5 || (load_be16(v.l3 + 6) & 0x1fff) != 0) return {Found::kNone, opt};
      tlv::Option o{};
      const auto w =
          first_of<tlv::kKindLength>(v.l3, 20, ip4opt::header_len(v.l3), ipim::kIp4Type, o);
      if (w == tlv::Walk::Malformed) return {Found::kMalformed, opt};
      if (w != tlv::Walk::Stopped) return {Found::kNone, opt};
      opt = ipim::Option{v.l3 + o.off, o.len, false};
    } else {
      if (v.l3[6] != parse::kIp6HopByHop || v.ip_len < 48) return {Found::kNone, opt};
      const uint32_t hlen = (v.l3[41] + 1u) * 8u;
      if (hlen > v.ip_len - 40) return {Found::kMalformed, opt};
      tlv::Option o{};
      const auto w = first_of<tlv::kIp6>(v.l3, 42, 40 + hlen, ipim::kIp6Type, o);
      if (w == tlv::Walk::Malformed) return {Found::kMalformed, opt};
      if (w != tlv::Walk::Stopped) return {Found::kNone, opt};
      opt = ipim::Option{v.l3 + o.off, o.len, true};
    }
    if (opt.check() != ipim::Malformed::kNone) return {Found::kMalformed, opt};
    return {Found::kOption, opt};
  }

  void hop(rte_mbuf* m, const PktView& v, const ipim::Option& opt, const ipim::HopValues& hv,
           bool sampling_allowed, Tally& t) {
    ipim::HopPacket pk;
    const bool ip4 = v.version == 4;
    const uint8_t ttl = ip4 ? v.l3[8] : v.l3[7];
    pk.arrival_ttl = static_cast<uint8_t>(ttl == 255 ? 255 : ttl + 1);
    pk.ingress = ingress(m->port, ip4);
    bool sampled = (opt.o[ipim::kOffFlags] & ipim::kFlagSample) != 0 && sample_.hit();
    if (sampled && !sampling_allowed) {
      sampled = false;
      ++t.n[kSuspended];
    }
    pk.sampled = sampled;
    const ipim::Stamped st = ip4 ? hop4(v.l3, opt, hv, pk) : hop6(opt, hv, pk);
    ++t.n[kAccumulated];
    count(st, t);
  }

  void count(ipim::Stamped st, Tally& t) const {
    ++t.stamps[static_cast<size_t>(st)];
    if (lies_) ++t.n[kLied];
  }

  // The writes, with the IPv4 header checksum updated from what they changed.
  ipim::Stamped hop4(uint8_t* l3, const ipim::Option& opt, const ipim::HopValues& hv,
                     const ipim::HopPacket& pk) const {
    ipim::WordDelta d;
    if (lies_about_others_) lie_about_others(opt, d);
    ipim::accumulate(opt, hv, d);
    const ipim::Stamped st = ipim::stamp(opt, hv, pk, d);
    // The option's words are the header's, byte-swapped when it starts at an odd offset.
    uint16_t delta = csum::fold(d.sum);
    if ((opt.o - l3) & 1) delta = static_cast<uint16_t>(delta << 8 | delta >> 8);
    const auto ck = static_cast<uint16_t>(~ipim::rd16(l3 + 10));
    ipim::wr16(l3 + 10, static_cast<uint16_t>(~csum::fold(uint32_t{ck} + delta)));
    return st;
  }
  // IPv6 has no header checksum: the same writes, nothing counted.
  ipim::Stamped hop6(const ipim::Option& opt, const ipim::HopValues& hv,
                     const ipim::HopPacket& pk) const {
    ipim::NoDelta none;
    if (lies_about_others_) lie_about_others(opt, none);
    ipim::accumulate(opt, hv, none);
    return ipim::stamp(opt, hv, pk, none);
  }

  // The liar that makes earlier hops look worse: their written performance slots' queues scaled.
  template <class Delta>
  void lie_about_others(const ipim::Option& opt, Delta& d) const {
    if (!opt.perf()) return;
    for (unsigned i = 0; i < opt.next_slot(); ++i) {
      uint8_t* s = opt.slot(i);
      if ((s[1] & ipim::kSlotWritten) == 0 || (s[1] & ipim::kNoQueue) != 0) continue;
      const double q = ipim::rd32(s + ipim::kPerfQueue) * p_.liar.others_queue_scale;
      ipim::put32(s + ipim::kPerfQueue,
                  q >= ipim::kU32Max ? ipim::kU32Max : static_cast<uint32_t>(q), d);
    }
  }

  // The first address of the port the packet came in on: the router's input writes the
  // router-local port index into m->port.
  const uint8_t* ingress(uint16_t port, bool ip4) const {
    const std::vector<const uint8_t*>& in = ip4 ? ingress4_ : ingress6_;
    return port < in.size() ? in[port] : nullptr;
  }

  // This hop's values now: from the link stage after this one, else from `capacity` and the
  // stage's own send rate.
  ipim::HopValues values(Nanos now) {
    ipim::HopValues h = hop_;
    h.evolution_offset = shared_->offset.load(std::memory_order_relaxed);
    h.time_us = static_cast<uint32_t>(static_cast<uint64_t>(now + wall_offset_ns()) / 1000);
    uint64_t cap = p_.capacity_bps;
    double used = 0;
    if (link_ != nullptr) {
      const LinkState s = link_->state(now);
      if (s.rate_bps != 0) cap = s.rate_bps;
      used = s.departure_rate_bps;
      h.queue_us = static_cast<uint32_t>(std::min<Nanos>(s.sojourn / 1000, ipim::kU32Max));
      h.level = level_of(congestion(s));
    } else {
      used = tx_.bps(now);
    }
    if (p_.liar.queue_scale != 1 && h.queue_us != ipim::kU32Unavailable) {
      h.queue_us = static_cast<uint32_t>(std::min<double>(h.queue_us * p_.liar.queue_scale, ipim::kU32Max));
    }
    if (p_.liar.capacity_bps != 0) cap = p_.liar.capacity_bps;
    if (cap != 0) {
      // Two log2 per burst, only when the capacity or the rate moved.
      if (cap != codes_.cap || used != codes_.used) {
        codes_ = {cap, used, ipim::cap_encode(static_cast<double>(cap)), available_code(cap, used)};
      }
      h.cap_code = codes_.cap_code;
      h.avail_code = codes_.avail_code;
    }
    return h;
  }

  // The AQM's drop/mark probability, or the queue's fill under tail drop.
  double congestion(const LinkState& s) const {
    const LinkParams& lp = link_->params();
    if (lp.aqm != LinkParams::Aqm::kTailDrop) return s.drop_probability;
    if (lp.limit_value == 0) return 0;
    double fill = 0;
    switch (lp.limit) {
      case LinkParams::Limit::kPackets:
        fill = static_cast<double>(s.queued_packets) / static_cast<double>(lp.limit_value);
        break;
      case LinkParams::Limit::kBytes:
        fill = static_cast<double>(s.queued_bytes) / static_cast<double>(lp.limit_value);
        break;
      case LinkParams::Limit::kTime:
        fill = static_cast<double>(s.sojourn) / static_cast<double>(lp.limit_value);
        break;
    }
    return fill;
  }

  Params p_;
  std::shared_ptr<RouterIpim> shared_;
  uint64_t sample_seed_;
  Chance sample_;
  ipim::HopValues hop_;
  bool lies_, lies_about_others_;
  std::vector<std::array<uint8_t, 4>> in4_;
  std::vector<uint64_t> in4_word_;  // the same as hop4's ingress_word() gives it
  bool fast4_ = false;
  // hop4_fast's last option shape and its slots: header bytes 20 to 22 (type, length, flags) as
  // loaded, with only the flags ip4_slots reads (version, perf) kept, and the IHL byte on top.
  // 0 matches no packet (its IHL byte is 0x46 or more).
  static constexpr uint32_t kShapeMask =
      0x0000ffffu | uint32_t{0xf0 | ipim::kFlagPerf} << 16;
  uint32_t shape_ = 0;
  unsigned shape_slots_ = 0;
  std::vector<std::array<uint8_t, 16>> in6_;
  std::vector<const uint8_t*> ingress4_, ingress6_;
  uint8_t egress4_[4] = {}, egress6_[16] = {};
  bool has_egress4_ = false, has_egress6_ = false;
  Link* link_ = nullptr;
  TxRate tx_;
  struct Codes {
    uint64_t cap = 0;
    double used = -1;
    uint16_t cap_code = 0, avail_code = 0;
  } codes_;
};

uint32_t parse_u32(YamlMap& m, const std::string& key, bool dotted) {
  const std::string s = m.get<std::string>(key);
  if (dotted && s.find('.') != std::string::npos) {
    if (auto a = parse_ip4(s)) return a->v;
    m.fail(key, fmt::format("'{}' is not a dotted IPv4 address or a number", s));
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (s.empty() || s[0] == '-' || *end != '\0' || errno != 0 || v > UINT32_MAX) {
    m.fail(key, fmt::format("'{}' is not a number from 0 to 4294967295{}", s,
                            dotted ? " or a dotted IPv4 address" : ""));
  }
  return static_cast<uint32_t>(v);
}

Params parse_params(YamlMap& m) {
  Params p;
  if (auto s = m.maybe<double>("sample")) {
    if (!(*s >= 0 && *s <= 1)) m.fail("sample", fmt::format("{} is not a probability in [0, 1]", *s));
    p.sample = *s;
  }
  if (m.has("sample_max_queue")) {
    p.sample_max_queue = parse_duration_key(m, "sample_max_queue");
  }
  if (m.has("router_id")) p.router_id = parse_u32(m, "router_id", true);
  if (m.has("as")) p.as = parse_u32(m, "as", false);
  if (m.has("evolution_offset")) p.evolution_offset = parse_u32(m, "evolution_offset", false);
  if (m.has("capacity")) p.capacity_bps = parse_rate_key(m, "capacity");
  p.participate = m.get_or<bool>("participate", true);
  if (auto mal = m.maybe<std::string>("malformed")) {
    if (*mal != "pass" && *mal != "drop") m.fail("malformed", fmt::format("'{}' is not pass or drop", *mal));
    p.drop_malformed = *mal == "drop";
  }
  if (m.has("liar")) {
    YamlMap l(m.node("liar"), m.file(), m.path("liar"), m.pos("liar"));
    l.only({"queue_scale", "capacity", "others_queue_scale"});
    auto scale = [&l](const char* key) {
      const double f = l.get_or<double>(key, 1.0);
      if (!(f >= 0 && f <= 1e6)) l.fail(key, fmt::format("{} is not a factor from 0 to 1e6", f));
      return f;
    };
    p.liar.queue_scale = scale("queue_scale");
    p.liar.others_queue_scale = scale("others_queue_scale");
    if (l.has("capacity")) p.liar.capacity_bps = parse_rate_key(l, "capacity");
    l.done();
    if (!p.liar.any()) m.fail("liar", "a liar needs queue_scale, capacity or others_queue_scale");
  }
  if (!p.participate && (m.has("sample") || m.has("liar"))) {
    m.fail("participate", "participate: false passes options untouched: sample and liar do nothing");
  }
  return p;
}

const StageRegistration kReg{{
    .name = "ipim",
    .help = "IPIM hop: accumulate TTL', evolution, capacity and queue; stamp slots (docs/ipim.md)",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      m.only({"stage", "match", "seed", "sample", "sample_max_queue", "router_id", "as",
              "evolution_offset", "capacity", "participate", "malformed", "liar"});
      StageCommon c = StageCommon::parse(m);
      const Params p = parse_params(m);
      m.done();
      return [c, p](const StageSite& site) -> std::unique_ptr<Stage> {
        std::shared_ptr<RouterIpim> shared;
        auto make = [&]() {
          auto r = std::make_shared<RouterIpim>();
          r->router = site.router;
          uint64_t z = c.seed ^ std::hash<std::string>{}(site.router);
          z = (z ^ (z >> 31)) * 0x9e3779b97f4a7c15ull;
          r->offset.store(p.evolution_offset ? *p.evolution_offset : static_cast<uint32_t>(z >> 32),
                          std::memory_order_relaxed);
          IpimRegistry::instance().add(r);
          return r;
        };
        if (site.shared != nullptr) {
          shared = site.shared->object<RouterIpim>("ipim", make);
        } else {
          shared = make();
        }
        return std::make_unique<Ipim>(c, site, p, shared);
      };
    },
}};

}  // namespace
}  // namespace pathlab
