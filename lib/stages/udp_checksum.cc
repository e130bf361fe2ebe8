// udp_checksum: boxes that mishandle UDP's zero checksum. Over IPv4 a 0 means "no checksum"
// (RFC 768); over IPv6 it is invalid (RFC 8200 8.1; RFC 6935/6936 allow it only for tunnels),
// and receivers such as Linux drop it, so IPv6 has its own key.
//   - stage: udp_checksum
//     action: drop_zero        # IPv4: drop_zero | fill
//     ipv6_zero: pass          # IPv6: pass (default, counted) | drop | fill
//     match: {dport: 53, proto: udp}   # optional, as every stage (stages/match.hpp)
// `fill` computes the checksum a sender would have (0 is sent as 0xffff). It cannot for a first
// fragment (the rest of the datagram is elsewhere) or a UDP length outside 8..the IP payload:
// those pass unchanged and are counted. UDP with a non-zero checksum is never touched.
#include <fmt/format.h>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"zero_checksum", "IPv4 UDP with checksum 0 (action: drop_zero)"},
    {"ipv6_zero_checksum", "IPv6 UDP with checksum 0 (ipv6_zero: drop)"},
};
constexpr uint8_t kVerdictZero4 = 1;  // kDrops[0] + 1
constexpr uint8_t kVerdictZero6 = 2;  // kDrops[1] + 1

enum ActionIndex : uint8_t {
  kFilled,
  kIpv6Filled,
  kIpv6ZeroPassed,
  kFragmentNotFilled,
  kBadLengthNotFilled
};
constexpr CounterDesc kActions[] = {
    {"filled", "IPv4 UDP checksum 0 replaced by the computed one (action: fill)"},
    {"ipv6_filled", "IPv6 UDP checksum 0 replaced by the computed one (ipv6_zero: fill)"},
    {"ipv6_zero_passed", "IPv6 UDP with checksum 0 let through unchanged (ipv6_zero: pass)"},
    {"fragment_not_filled",
     "first fragment of a UDP datagram with checksum 0, left unchanged (fill)"},
    {"bad_length_not_filled",
     "UDP length outside 8..IP payload with checksum 0, left unchanged (fill)"},
};

enum class Action : uint8_t { DropZero, Fill };
enum class V6Zero : uint8_t { Pass, Drop, Fill };

// Why fill() could not compute the checksum, as the counter to bump; kFilled when it did.
ActionIndex fill(const PktView& v) {
  // MF (a later fragment has no UDP header in view): a first fragment.
  if (v.version == 4 && (load_be16(v.l3 + 6) & kIp4Mf) != 0) return kFragmentNotFilled;
  const uint16_t udp_len = load_be16(v.l4 + 4);
  if (udp_len < 8 || udp_len > v.l4_len) return kBadLengthNotFilled;
  // Over the UDP length, as the receiver sums (bytes past it inside the IP packet are not UDP's).
  uint16_t ck = static_cast<uint16_t>(~l4_sum(v, udp_len));
  put16(v.l4 + 6, ck == 0 ? 0xffff : ck);
  return kFilled;
}

class UdpChecksum final : public MatchStage {
 public:
  UdpChecksum(const StageCommon& c, const StageSite& site, Action a, V6Zero v6)
      : MatchStage(kDrops, kActions, c, site), run_(pick(a, v6)) {}

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    (this->*run_)(b);
  }

 private:
  using Run = void (UdpChecksum::*)(Batch&);

  template <Action kA>
  static Run with_action(V6Zero v6) {
    switch (v6) {
      case V6Zero::Pass:
        return &UdpChecksum::run<kA, V6Zero::Pass>;
      case V6Zero::Drop:
        return &UdpChecksum::run<kA, V6Zero::Drop>;
      case V6Zero::Fill:
        return &UdpChecksum::run<kA, V6Zero::Fill>;
    }
    return nullptr;
  }
  static Run pick(Action a, V6Zero v6) {
    return a == Action::DropZero ? with_action<Action::DropZero>(v6)
                                 : with_action<Action::Fill>(v6);
  }

  template <Action kA, V6Zero kV6>
  void run(Batch& b) {
    uint64_t counts[std::size(kActions)] = {};
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView v;
      if (!view_packet(b.pkts[i], v) || !v.udp_ok || get16(v.l4 + 6) != 0) continue;
      if (!selected(v)) continue;
      if (v.version == 4) {
        if constexpr (kA == Action::DropZero) {
          b.verdict[i] = kVerdictZero4;
        } else {
          ++counts[fill(v)];
        }
      } else if constexpr (kV6 == V6Zero::Drop) {
        b.verdict[i] = kVerdictZero6;
      } else if constexpr (kV6 == V6Zero::Fill) {
        const ActionIndex r = fill(v);
        ++counts[r == kFilled ? kIpv6Filled : r];
      } else {
        ++counts[kIpv6ZeroPassed];
      }
    }
    for (size_t k = 0; k < std::size(counts); ++k) {
      if (counts[k] != 0) count_action(k, counts[k]);
    }
  }

  Run run_;
};

const StageRegistration kReg{{
    .name = "udp_checksum",
    .help = "drop UDP with a zero checksum, or fill it in; IPv6 zero checksums passed, dropped "
            "or filled",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      m.only({"stage", "match", "probability", "seed", "action", "ipv6_zero"});
      const auto s = m.get<std::string>("action");
      Action a = Action::DropZero;
      if (s == "fill") {
        a = Action::Fill;
      } else if (s != "drop_zero") {
        m.fail("action", fmt::format("'{}' is not drop_zero or fill", s));
      }
      const auto s6 = m.get_or<std::string>("ipv6_zero", "pass");
      V6Zero v6 = V6Zero::Pass;
      if (s6 == "drop") {
        v6 = V6Zero::Drop;
      } else if (s6 == "fill") {
        v6 = V6Zero::Fill;
      } else if (s6 != "pass") {
        m.fail("ipv6_zero", fmt::format("'{}' is not pass, drop or fill", s6));
      }
      m.done();
      return [c, a, v6](const StageSite& site) {
        return std::make_unique<UdpChecksum>(c, site, a, v6);
      };
    },
}};

}  // namespace
}  // namespace pathlab
