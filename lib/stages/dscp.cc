// dscp: DiffServ remarking (RFC 2474): the top six bits of the IPv4 ToS / IPv6 traffic class.
//   - stage: dscp
//     action: {set: ef}        # {set: DSCP} | zero | bleach_precedence | {map: {FROM: TO, ...}}
//     ecn: keep                # keep (default) | zero: also clear the two ECN bits
//     match: {proto: tcp}      # optional, as every stage (stages/match.hpp)
// A DSCP is 0..63 or a name: cs0..cs7, af11..af43, ef, va, le. Every action is one table from
// the old ToS byte to the new one, built at parse time.
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <optional>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

enum ActionIndex : uint8_t { kSet, kZeroed, kPrecedenceBleached, kMapped, kEcnZeroed };
constexpr CounterDesc kActions[] = {
    {"set", "DSCP changed to the configured value (action: set)"},
    {"zeroed", "DSCP changed to 0 (action: zero)"},
    {"precedence_bleached", "class-selector (precedence) bits cleared (action: bleach_precedence)"},
    {"mapped", "DSCP changed through the table (action: map)"},
    {"ecn_zeroed", "ECN bits cleared along with the remark (ecn: zero)"},
};

struct DscpAction {
  std::array<uint8_t, 256> tos{};  // ToS / traffic class -> new value
  uint8_t counter = kSet;
};

class Dscp final : public MatchStage {
 public:
  Dscp(const StageCommon& c, const StageSite& site, const DscpAction& a)
      : MatchStage({}, kActions, c, site), a_(a) {}

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    // Only the IP header is read or written: skip the transport parse when the match allows.
    if (match().needs_upper_layer()) return run<false, false>(b);
    return selects_all() ? run<true, true>(b) : run<true, false>(b);
  }

 private:
  // kL3Only: view_l3 instead of view_packet; kAll: selects_all(), no per-packet test.
  template <bool kL3Only, bool kAll>
  void run(Batch& b) {
    uint64_t remarked = 0, ecn_zeroed = 0;
    const uint16_t n = b.n;  // a local: stores into packets may alias b.n
    std::memset(b.verdict, kPass, n);
    for (uint16_t i = 0; i < n; ++i) {
      PktView v;
      if (!(kL3Only ? view_l3(b.pkts[i], v) : view_packet(b.pkts[i], v))) continue;
      const uint8_t tc = traffic_class(v);
      const uint8_t new_tc = a_.tos[tc];
      if (new_tc == tc || (!kAll && !selected(v))) continue;
      set_traffic_class(v, new_tc);
      remarked += ((tc ^ new_tc) & ~kEcnMask) != 0;
      ecn_zeroed += ((tc ^ new_tc) & kEcnMask) != 0;
    }
    if (remarked != 0) count_action(a_.counter, remarked);
    if (ecn_zeroed != 0) count_action(kEcnZeroed, ecn_zeroed);
  }

  DscpAction a_;
};

// ---- params -----------------------------------------------------------------------------------

constexpr const char* kDscpForms = "0..63, cs0..cs7, af11..af43, ef, va or le";

// RFC 2474 class selectors, RFC 2597 AFxy = 8x + 2y, RFC 3246 EF, RFC 5865 VOICE-ADMIT,
// RFC 8622 LE.
std::optional<uint8_t> dscp_value(std::string_view s) {
  if (s == "ef") return 46;
  if (s == "va") return 44;
  if (s == "le") return 1;
  if (s.size() == 3 && s.substr(0, 2) == "cs" && s[2] >= '0' && s[2] <= '7') {
    return static_cast<uint8_t>((s[2] - '0') * 8);
  }
  if (s.size() == 4 && s.substr(0, 2) == "af" && s[2] >= '1' && s[2] <= '4' && s[3] >= '1' &&
      s[3] <= '3') {
    return static_cast<uint8_t>((s[2] - '0') * 8 + (s[3] - '0') * 2);
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 63) return std::nullopt;
  return static_cast<uint8_t>(v);
}

uint8_t dscp_at(const YAML::Node& n, const std::string& file, const std::string& path) {
  const std::string s = n.IsScalar() ? n.Scalar() : std::string("?");
  const auto v = dscp_value(s);
  if (!v)
    throw ConfigError(pos_of(n, file), path, fmt::format("'{}' is not a DSCP ({})", s, kDscpForms));
  return *v;
}

// `map: {FROM: TO, ...}`: values not listed keep their DSCP.
std::array<uint8_t, 64> parse_map(const YAML::Node& n, const std::string& file,
                                  const std::string& path) {
  if (!n.IsMap() || n.size() == 0) {
    throw ConfigError(pos_of(n, file), path, "expected a map of DSCP to DSCP, e.g. {ef: 0}");
  }
  std::array<uint8_t, 64> table{};
  std::array<bool, 64> seen{};
  for (unsigned d = 0; d < 64; ++d) table[d] = static_cast<uint8_t>(d);
  for (const auto& kv : n) {
    const std::string at = path + "." + kv.first.Scalar();
    const uint8_t from = dscp_at(kv.first, file, at);
    if (seen[from]) throw ConfigError(pos_of(kv.first, file), at, "DSCP listed twice");
    seen[from] = true;
    table[from] = dscp_at(kv.second, file, at);
  }
  return table;
}

constexpr const char* kModes = "zero, bleach_precedence, {set: DSCP} or {map: {FROM: TO}}";

DscpAction parse_action(YamlMap& m) {
  std::array<uint8_t, 64> table{};
  for (unsigned d = 0; d < 64; ++d) table[d] = static_cast<uint8_t>(d);
  DscpAction a;
  const YAML::Node n = m.node("action");
  if (!n.IsDefined()) m.fail("action", "missing required key");
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "zero") {
      table.fill(0);
      a.counter = kZeroed;
    } else if (s == "bleach_precedence") {
      for (unsigned d = 0; d < 64; ++d) table[d] = static_cast<uint8_t>(d & 0x07);
      a.counter = kPrecedenceBleached;
    } else {
      m.fail("action", fmt::format("'{}' is not {}", s, kModes));
    }
  } else {
    if (!n.IsMap() || n.size() != 1) m.fail("action", fmt::format("expected one of {}", kModes));
    YamlMap sub(n, m.file(), m.path("action"), m.pos("action"));
    sub.only({"set", "map"});
    if (sub.has("set")) {
      table.fill(dscp_at(sub.node("set"), m.file(), sub.path("set")));
      a.counter = kSet;
    } else {
      table = parse_map(sub.node("map"), m.file(), sub.path("map"));
      a.counter = kMapped;
    }
  }
  uint8_t ecn_keep = kEcnMask;
  if (auto e = m.maybe<std::string>("ecn")) {
    if (*e == "zero") {
      ecn_keep = 0;
    } else if (*e != "keep") {
      m.fail("ecn", fmt::format("'{}' is not keep or zero", *e));
    }
  }
  for (unsigned t = 0; t < 256; ++t)
    a.tos[t] = static_cast<uint8_t>(table[t >> 2] << 2 | (t & ecn_keep));
  return a;
}

const StageRegistration kReg{{
    .name = "dscp",
    .help = "DSCP remarking: set, zero, bleach the precedence bits, or map through a table",
    .drops = {},
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      m.only({"stage", "match", "probability", "seed", "action", "ecn"});
      const DscpAction a = parse_action(m);
      m.done();
      return [c, a](const StageSite& site) { return std::make_unique<Dscp>(c, site, a); };
    },
}};

}  // namespace
}  // namespace pathlab
