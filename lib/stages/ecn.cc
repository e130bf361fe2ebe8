// ecn: the boxes that break Explicit Congestion Notification (RFC 3168): the ECN field of the IP
// header (IPv4 ToS, IPv6 traffic class) and the ECE/CWR negotiation of TCP.
//   - stage: ecn
//     ip: bleach               # bleach | set_ce | drop_ect
//                              # | {rewrite: {ect0: ect1, ...}} | {tos_overwrite: 0..255}
//     tcp: strip_syn_flags     # strip_syn_flags | strip_flags | drop_ecn_setup_syn | reflect
//     ecn_fallback: pass       # with drop_ecn_setup_syn: pass (default) | drop
//     match: {proto: tcp}      # optional, as every stage (stages/match.hpp)
// At least one of `ip` and `tcp`; with both, one match and one draw cover both. Every action is a
// table from the old byte (ToS / TCP flags) to the new one, built at parse time.
// `ecn_fallback: drop` also black-holes the plain SYNs a client retransmits after its ECN-setup
// SYN went unanswered (RFC 3168 6.1.1.1; Linux net.ipv4.tcp_ecn_fallback), so that the ECN
// connection fails outright; the stage then remembers those connections (it is stateful).
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"ect", "packet marked ECT(0), ECT(1) or CE (ip: drop_ect)"},
    {"ecn_setup_syn", "ECN-setup SYN: SYN with ECE and CWR, without ACK (tcp: drop_ecn_setup_syn)"},
    {"ecn_fallback_syn",
     "plain SYN retransmitted for a connection whose ECN-setup SYN was dropped (ecn_fallback: "
     "drop)"},
};
constexpr uint8_t kVerdictEct = 1;          // kDrops[0] + 1
constexpr uint8_t kVerdictSetupSyn = 2;     // kDrops[1] + 1
constexpr uint8_t kVerdictFallbackSyn = 3;  // kDrops[2] + 1

enum ActionIndex : uint8_t {
  kBleached,
  kTosOverwritten,
  kRewritten,
  kCeSet,
  kSynStripped,
  kFlagsStripped,
  kReflected,
  kNoAction
};
constexpr CounterDesc kActions[] = {
    {"bleached", "ECN field cleared to not-ECT (ip: bleach)"},
    {"tos_overwritten", "whole ToS / traffic-class byte overwritten (ip: tos_overwrite)"},
    {"rewritten", "ECN codepoint changed through the table (ip: rewrite)"},
    {"ce_set", "ECN field set to CE (ip: set_ce)"},
    {"syn_flags_stripped", "ECE/CWR cleared on a SYN or SYN-ACK (tcp: strip_syn_flags)"},
    {"flags_stripped", "ECE/CWR cleared on a TCP segment (tcp: strip_flags)"},
    {"reflected", "ECE and CWR both set on a SYN-ACK (tcp: reflect)"},
};

constexpr uint8_t kEceCwr = kTcpEce | kTcpCwr;

// What an instance does, as byte -> byte tables plus a drop verdict per byte value.
struct EcnAction {
  bool ip = false, tcp = false;
  std::array<uint8_t, 256> tos{};         // ToS / traffic class -> new value
  std::array<uint8_t, 256> tos_drop{};    // ToS -> verdict (0: keep)
  std::array<uint8_t, 256> flags{};       // TCP flags byte -> new value
  std::array<uint8_t, 256> flags_drop{};  // TCP flags byte -> verdict (0: keep)
  uint8_t ip_counter = kNoAction, tcp_counter = kNoAction;
  bool drop_fallback = false;  // ecn_fallback: drop

  EcnAction() {
    for (unsigned i = 0; i < 256; ++i) tos[i] = flags[i] = static_cast<uint8_t>(i);
  }
};

// The flags byte is the low half of the 16-bit word at TCP offset 12 (data offset, flags).
inline void set_tcp_flags(const PktView& v, uint8_t flags) {
  const uint8_t w[2] = {v.l4[12], flags};
  l4_set16(v, 12, get16(w));
}

// The connections whose ECN-setup SYN was dropped, by a fingerprint of addresses, ports and
// initial sequence number (a retransmitted SYN repeats all of them). Direct-mapped: a newer
// connection takes the slot of an older one. Sized once, when the instance is built.
class DroppedSyns {
 public:
  void reserve() { slots_.assign(kSlots, 0); }
  void add(const PktView& v) {
    const uint64_t f = fingerprint(v);
    slots_[f % kSlots] = f;
  }
  bool has(const PktView& v) const {
    const uint64_t f = fingerprint(v);
    return slots_[f % kSlots] == f;
  }

 private:
  static constexpr size_t kSlots = 4096;
  static uint64_t fingerprint(const PktView& v) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    auto mix = [&h](const uint8_t* p) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
      h ^= h >> 29;
    };
    const uint8_t* addrs = v.l3 + (v.version == 4 ? 12 : 8);
    for (unsigned off = 0; off < (v.version == 4 ? 8u : 32u); off += 8) mix(addrs + off);
    mix(v.l4);     // ports and sequence number
    return h | 1;  // 0 marks an empty slot
  }
  std::vector<uint64_t> slots_;
};

class Ecn final : public MatchStage {
 public:
  Ecn(const StageCommon& c, const StageSite& site, const EcnAction& a)
      : MatchStage(kDrops, kActions, c, site), a_(a) {
    if (!a.tcp) {
      // Only the IP header is read or written: skip the transport parse when the match allows.
      run_ = c.match.needs_upper_layer() ? &Ecn::run<true, false, false>
             : selects_all()             ? &Ecn::run<true, false, false, true, true>
                                         : &Ecn::run<true, false, false, true>;
    } else if (a.drop_fallback) {
      run_ = a.ip ? &Ecn::run<true, true, true> : &Ecn::run<false, true, true>;
      dropped_syns_.reserve();
    } else {
      run_ = a.ip ? &Ecn::run<true, true, false> : &Ecn::run<false, true, false>;
    }
  }

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    (this->*run_)(b);
  }
  bool stateful() const override { return a_.drop_fallback; }

 private:
  // kL3Only: view_l3 instead of view_packet; kAll: selects_all(), no per-packet test.
  template <bool kIp, bool kTcp, bool kFallback, bool kL3Only = false, bool kAll = false>
  void run(Batch& b) {
    uint64_t ip_changed = 0, tcp_changed = 0;
    const uint16_t n = b.n;  // a local: stores into packets may alias b.n
    std::memset(b.verdict, kPass, n);
    for (uint16_t i = 0; i < n; ++i) {
      PktView v;
      if (!(kL3Only ? view_l3(b.pkts[i], v) : view_packet(b.pkts[i], v))) continue;
      if constexpr (kFallback) {
        // Decided when the ECN-setup SYN was: no new draw.
        if (v.tcp_ok && (v.tcp_flags & (kTcpSyn | kTcpAck | kEceCwr)) == kTcpSyn &&
            dropped_syns_.has(v)) {
          b.verdict[i] = kVerdictFallbackSyn;
          continue;
        }
      }
      uint8_t tc = 0, new_tc = 0, flags = 0, new_flags = 0, drop = 0;
      if constexpr (kIp) {
        tc = traffic_class(v);
        new_tc = a_.tos[tc];
        drop = a_.tos_drop[tc];
      }
      if constexpr (kTcp) {
        if (v.tcp_ok) {
          flags = v.tcp_flags;
          new_flags = a_.flags[flags];
          if (drop == 0) drop = a_.flags_drop[flags];
        }
      }
      if (new_tc == tc && new_flags == flags && drop == 0) continue;
      if (!kAll && !selected(v)) continue;
      if (drop != 0) {
        if constexpr (kFallback) {
          if (drop == kVerdictSetupSyn) dropped_syns_.add(v);
        }
        b.verdict[i] = drop;
        continue;
      }
      if (new_tc != tc) {
        set_traffic_class(v, new_tc);
        ++ip_changed;
      }
      if (new_flags != flags) {
        set_tcp_flags(v, new_flags);
        view_set_tcp_flags(b.pkts[i], new_flags);
        ++tcp_changed;
      }
    }
    if (ip_changed != 0) count_action(a_.ip_counter, ip_changed);
    if (tcp_changed != 0) count_action(a_.tcp_counter, tcp_changed);
  }

  EcnAction a_;
  void (Ecn::*run_)(Batch&);
  DroppedSyns dropped_syns_;
};

// ---- params -----------------------------------------------------------------------------------

[[noreturn]] void fail_at(const YAML::Node& n, const std::string& file, const std::string& path,
                          const std::string& msg) {
  throw ConfigError(pos_of(n, file), path, msg);
}

// not-ect 00, ect1 01, ect0 10, ce 11 (RFC 3168 5), or the number 0..3.
std::optional<uint8_t> codepoint(std::string_view s) {
  static constexpr std::pair<std::string_view, uint8_t> kNames[] = {
      {"not-ect", 0}, {"ect1", 1}, {"ect0", 2}, {"ce", 3}};
  for (const auto& [n, cp] : kNames) {
    if (s == n) return cp;
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 3) return std::nullopt;
  return static_cast<uint8_t>(v);
}

// `rewrite: {FROM: TO, ...}`: codepoints not listed keep their value.
void parse_rewrite(const YAML::Node& n, const std::string& file, const std::string& path,
                   EcnAction& a) {
  if (!n.IsMap() || n.size() == 0) {
    fail_at(n, file, path, "expected a map of codepoint to codepoint, e.g. {ect0: ect1}");
  }
  std::array<uint8_t, 4> to = {0, 1, 2, 3};
  std::array<bool, 4> seen{};
  for (const auto& kv : n) {
    const std::string from_s = kv.first.Scalar();
    const std::string at = path + "." + from_s;
    const auto from = codepoint(from_s);
    if (!from) {
      fail_at(kv.first, file, at,
              fmt::format("'{}' is not a codepoint (not-ect, ect0, ect1, ce or 0..3)", from_s));
    }
    if (seen[*from]) fail_at(kv.first, file, at, "codepoint listed twice");
    seen[*from] = true;
    const auto to_cp = kv.second.IsScalar() ? codepoint(kv.second.Scalar()) : std::nullopt;
    if (!to_cp) {
      fail_at(kv.second, file, at,
              fmt::format("'{}' is not a codepoint (not-ect, ect0, ect1, ce or 0..3)",
                          kv.second.IsScalar() ? kv.second.Scalar() : std::string("?")));
    }
    to[*from] = *to_cp;
  }
  for (unsigned t = 0; t < 256; ++t)
    a.tos[t] = static_cast<uint8_t>((t & ~kEcnMask) | to[t & kEcnMask]);
  a.ip_counter = kRewritten;
}

constexpr const char* kIpModes =
    "bleach, set_ce, drop_ect, {rewrite: {FROM: TO}} or {tos_overwrite: 0..255}";

void parse_ip(YamlMap& m, EcnAction& a) {
  const YAML::Node n = m.node("ip");
  a.ip = true;
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "bleach") {
      for (unsigned t = 0; t < 256; ++t) a.tos[t] = static_cast<uint8_t>(t & ~kEcnMask);
      a.ip_counter = kBleached;
    } else if (s == "set_ce") {
      for (unsigned t = 0; t < 256; ++t) a.tos[t] = static_cast<uint8_t>(t | kEcnMask);
      a.ip_counter = kCeSet;
    } else if (s == "drop_ect") {
      for (unsigned t = 0; t < 256; ++t) a.tos_drop[t] = (t & kEcnMask) != 0 ? kVerdictEct : 0;
    } else {
      m.fail("ip", fmt::format("'{}' is not {}", s, kIpModes));
    }
    return;
  }
  if (!n.IsMap() || n.size() != 1) m.fail("ip", fmt::format("expected one of {}", kIpModes));
  YamlMap sub(n, m.file(), m.path("ip"), m.pos("ip"));
  sub.only({"rewrite", "tos_overwrite"});
  if (sub.has("tos_overwrite")) {
    const auto value = sub.get_in<unsigned>("tos_overwrite", 0, 255);
    a.tos.fill(static_cast<uint8_t>(value));
    a.ip_counter = kTosOverwritten;
  } else {
    parse_rewrite(sub.node("rewrite"), m.file(), sub.path("rewrite"), a);
  }
}

void parse_tcp(YamlMap& m, EcnAction& a) {
  const auto s = m.get<std::string>("tcp");
  a.tcp = true;
  if (s == "strip_syn_flags") {
    a.tcp_counter = kSynStripped;
  } else if (s == "strip_flags") {
    a.tcp_counter = kFlagsStripped;
  } else if (s == "reflect") {
    a.tcp_counter = kReflected;
  } else if (s != "drop_ecn_setup_syn") {
    m.fail(
        "tcp",
        fmt::format("'{}' is not strip_syn_flags, strip_flags, drop_ecn_setup_syn or reflect", s));
  }
  for (unsigned f = 0; f < 256; ++f) {
    const bool syn = (f & kTcpSyn) != 0, ack = (f & kTcpAck) != 0;
    const auto cleared = static_cast<uint8_t>(f & ~kEceCwr);
    switch (a.tcp_counter) {
      case kSynStripped:
        a.flags[f] = syn ? cleared : a.flags[f];
        break;
      case kFlagsStripped:
        a.flags[f] = cleared;
        break;
      case kReflected:
        a.flags[f] = syn && ack ? static_cast<uint8_t>(f | kEceCwr) : a.flags[f];
        break;
      default:
        // RFC 3168 6.1.1: an ECN-setup SYN has SYN, ECE and CWR set, and no ACK.
        if (syn && !ack && (f & kEceCwr) == kEceCwr) a.flags_drop[f] = kVerdictSetupSyn;
    }
  }
}

const StageRegistration kReg{{
    .name = "ecn",
    .help = "ECN bleaching, rewriting, CE marking, ECT drops; TCP ECN negotiation stripping, "
            "ECN-setup SYN drops, flag reflection",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      EcnAction a;
      if (m.has("ip")) parse_ip(m, a);
      if (m.has("tcp")) parse_tcp(m, a);
      if (auto f = m.maybe<std::string>("ecn_fallback")) {
        const bool drops_setup_syns = a.tcp && a.tcp_counter == kNoAction;  // the one TCP drop mode
        if (!drops_setup_syns) m.fail("ecn_fallback", "only with tcp: drop_ecn_setup_syn");
        if (*f == "drop") {
          a.drop_fallback = true;
        } else if (*f != "pass") {
          m.fail("ecn_fallback", fmt::format("'{}' is not pass or drop", *f));
        }
      }
      m.done();
      if (!a.ip && !a.tcp) m.fail("ip", "needs `ip`, `tcp` or both");
      return [c, a](const StageSite& site) { return std::make_unique<Ecn>(c, site, a); };
    },
}};

}  // namespace
}  // namespace pathlab
