// normalize: the TTL / hop limit and the IPv4 Identification, as normalising boxes rewrite them
// (the changes tracebox reports).
//   - stage: normalize
//     ttl: {set: 64}           # {set: N} | {min: N} | {max: N} | {min: N, max: N}; N in 1..255
//     ip_id: random            # zero | random | sequential (IPv4 only)
//     match: {ip: 4}           # optional, as every stage (stages/match.hpp)
// At least one of `ttl` and `ip_id`. Fragments (MF set or an offset) keep their ID, which the
// receiver needs for reassembly; they are counted. `sequential` is one counter per instance,
// which makes the stage stateful (replay keeps the chain in order on one thread).
#include <fmt/format.h>

#include <array>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

enum ActionIndex : uint8_t {
  kTtlRaised,
  kTtlLowered,
  kIdZeroed,
  kIdRandomized,
  kIdSequenced,
  kFragmentIdKept
};
constexpr CounterDesc kActions[] = {
    {"ttl_raised", "TTL / hop limit raised (ttl: set or min)"},
    {"ttl_lowered", "TTL / hop limit lowered (ttl: set or max)"},
    {"ip_id_zeroed", "IPv4 ID set to 0 (ip_id: zero)"},
    {"ip_id_randomized", "IPv4 ID replaced by a random one (ip_id: random)"},
    {"ip_id_sequenced",
     "IPv4 ID replaced by the next of the instance's counter (ip_id: sequential)"},
    {"fragment_id_kept", "IPv4 fragment whose ID was left alone for reassembly"},
};

enum class IpId : uint8_t { Keep, Zero, Random, Sequential };

struct NormalizeAction {
  bool ttl = false;
  std::array<uint8_t, 256> ttl_map{};  // old TTL -> new TTL
  IpId ip_id = IpId::Keep;
};

class Normalize final : public MatchStage {
 public:
  Normalize(const StageCommon& c, const StageSite& site, const NormalizeAction& a)
      : MatchStage({}, kActions, c, site), a_(a), run_(pick(a)) {
    next_id_ = static_cast<uint16_t>(chance().next());  // counters start anywhere, as hosts' do
  }

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    (this->*run_)(b);
  }
  bool stateful() const override { return a_.ip_id == IpId::Sequential; }

 private:
  using Run = void (Normalize::*)(Batch&);

  template <IpId kId>
  static Run with_id(bool ttl) {
    return ttl ? &Normalize::run<true, kId> : &Normalize::run<false, kId>;
  }
  static Run pick(const NormalizeAction& a) {
    switch (a.ip_id) {
      case IpId::Keep:
        return with_id<IpId::Keep>(true);
      case IpId::Zero:
        return with_id<IpId::Zero>(a.ttl);
      case IpId::Random:
        return with_id<IpId::Random>(a.ttl);
      case IpId::Sequential:
        return with_id<IpId::Sequential>(a.ttl);
    }
    return nullptr;
  }

  template <bool kTtl, IpId kId>
  void run(Batch& b) {
    uint64_t raised = 0, lowered = 0, ids = 0, fragments = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView v;
      if (!view_packet(b.pkts[i], v)) continue;
      const bool v4 = v.version == 4;
      const uint8_t ttl = v.l3[v4 ? 8 : 7];
      const uint8_t new_ttl = kTtl ? a_.ttl_map[ttl] : ttl;
      bool new_id = false, fragment = false;
      if constexpr (kId != IpId::Keep) {
        if (v4) {
          fragment = (load_be16(v.l3 + 6) & kIp4FragmentMask) != 0;
          new_id = !fragment && (kId != IpId::Zero || get16(v.l3 + 4) != 0);
        }
      }
      if (new_ttl == ttl && !new_id && !fragment) continue;
      if (!selected(v)) continue;
      if (new_ttl != ttl) {
        if (v4) {
          const uint8_t w[2] = {new_ttl, v.l3[9]};
          csum::ip4_set16(v.l3, 8, get16(w));
        } else {
          v.l3[7] = new_ttl;  // the hop limit is under no checksum
        }
        ++(new_ttl > ttl ? raised : lowered);
      }
      if constexpr (kId != IpId::Keep) {
        if (new_id) {
          uint16_t id = 0;
          if constexpr (kId == IpId::Random) id = static_cast<uint16_t>(chance().next());
          if constexpr (kId == IpId::Sequential) id = rte_cpu_to_be_16(next_id_++);
          csum::ip4_set16(v.l3, 4, id);
          ++ids;
        }
        fragments += fragment;
      }
    }
    if (raised != 0) count_action(kTtlRaised, raised);
    if (lowered != 0) count_action(kTtlLowered, lowered);
    if constexpr (kId != IpId::Keep) {
      constexpr ActionIndex kIdCounter = kId == IpId::Zero     ? kIdZeroed
                                         : kId == IpId::Random ? kIdRandomized
                                                               : kIdSequenced;
      if (ids != 0) count_action(kIdCounter, ids);
      if (fragments != 0) count_action(kFragmentIdKept, fragments);
    }
  }

  NormalizeAction a_;
  Run run_;
  uint16_t next_id_ = 0;
};

// ---- params -----------------------------------------------------------------------------------

void parse_ttl(YamlMap& m, NormalizeAction& a) {
  const YAML::Node n = m.node("ttl");
  constexpr const char* kForms = "expected {set: N}, {min: N}, {max: N} or {min: N, max: N}";
  if (!n.IsMap() || n.size() == 0) m.fail("ttl", kForms);
  YamlMap sub(n, m.file(), m.path("ttl"), m.pos("ttl"));
  sub.only({"set", "min", "max"});
  unsigned lo = 1, hi = 255;
  if (sub.has("set")) {
    if (sub.has("min") || sub.has("max")) {
      sub.fail(sub.has("min") ? "min" : "max", "cannot be combined with set");
    }
    lo = hi = sub.get_in<unsigned>("set", 1, 255);
  } else {
    lo = sub.get_or_in<unsigned>("min", 1, 1, 255);
    hi = sub.get_or_in<unsigned>("max", 255, 1, 255);
    if (lo > hi) sub.fail("min", fmt::format("{} is above max {}", lo, hi));
  }
  for (unsigned t = 0; t < 256; ++t)
    a.ttl_map[t] = static_cast<uint8_t>(t < lo ? lo : t > hi ? hi : t);
  a.ttl = true;
}

void parse_ip_id(YamlMap& m, NormalizeAction& a) {
  const auto s = m.get<std::string>("ip_id");
  if (s == "zero") {
    a.ip_id = IpId::Zero;
  } else if (s == "random") {
    a.ip_id = IpId::Random;
  } else if (s == "sequential") {
    a.ip_id = IpId::Sequential;
  } else {
    m.fail("ip_id", fmt::format("'{}' is not zero, random or sequential", s));
  }
}

const StageRegistration kReg{{
    .name = "normalize",
    .help = "set or clamp the TTL / hop limit; zero, randomise or sequence the IPv4 ID",
    .drops = {},
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      m.only({"stage", "match", "probability", "seed", "ttl", "ip_id"});
      NormalizeAction a;
      if (m.has("ttl")) parse_ttl(m, a);
      if (m.has("ip_id")) parse_ip_id(m, a);
      if (!a.ttl && a.ip_id == IpId::Keep) m.fail("ttl", "needs `ttl`, `ip_id` or both");
      m.done();
      return [c, a](const StageSite& site) { return std::make_unique<Normalize>(c, site, a); };
    },
}};

}  // namespace
}  // namespace pathlab
