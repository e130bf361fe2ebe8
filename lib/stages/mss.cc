// mss: rewrites the MSS option of SYN and SYN-ACK segments, as iptables TCPMSS does.
//   - stage: mss
//     clamp: 1360              # lower an MSS above 1360 to 1360
//     # clamp_to_mtu: true     # lower to the port MTU - 40 (IPv4) / - 60 (IPv6)
//     # set: 9000              # any value, higher too (PATHspider: "inflated")
//     add_if_missing: false    # add an MSS option to a SYN that has none
//     malformed: pass          # pass | drop a segment whose option list is malformed
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/net/tcp_options.hpp"
#include "pathlab/net/tcp_resize.hpp"
#include "pathlab/stages/match.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"malformed", "SYN with a malformed option list (malformed: drop)"},
};
constexpr uint8_t kVerdictMalformed = 1;

constexpr CounterDesc kActions[] = {
    {"lowered", "MSS options lowered"},
    {"raised", "MSS options raised (set)"},
    {"added", "MSS options added to a SYN that had none (add_if_missing)"},
    {"not_added", "SYNs without MSS left so: payload, fragment, or no room (add_if_missing)"},
    {"malformed_passed", "SYNs with a malformed option list passed untouched"},
};
enum ActionIndex : size_t { kLowered, kRaised, kAdded, kNotAdded, kMalformedPassed };

// The MSS a receiver assumes without the option (RFC 9293 3.7.1; RFC 8200's 1280-byte minimum
// MTU less 60 bytes of headers): an added option never announces more than that unless `set`.
constexpr uint16_t kDefaultMss4 = 536, kDefaultMss6 = 1220;

enum class Mode : uint8_t { Clamp, ClampToMtu, Set };

struct Params {
  Mode mode = Mode::Clamp;
  uint16_t value = 0;  // clamp / set
  bool add_if_missing = false;
  bool drop_malformed = false;
};

class Mss final : public MatchStage {
 public:
  Mss(const StageCommon& c, const StageSite& site, const Params& p)
      : MatchStage(kDrops, kActions, c, site), p_(p) {
    if (p.mode == Mode::ClampToMtu) {
      target4_ = static_cast<uint16_t>(std::max(1, site.port_mtu - 40));
      target6_ = static_cast<uint16_t>(std::max(1, site.port_mtu - 60));
    } else {
      target4_ = target6_ = p.value;
    }
  }

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    const bool set = p_.mode == Mode::Set;
    if (p_.add_if_missing) return set ? run<true, true>(b) : run<false, true>(b);
    return set ? run<true, false>(b) : run<false, false>(b);
  }

 private:
  struct Tally {
    uint64_t n[std::size(kActions)] = {};
  };

  template <bool kSet, bool kAdd>
  void run(Batch& b) {
    Tally t;
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      if (surely_not_tcp_syn(b.pkts[i])) continue;  // most traffic: no parse
      PktView v;
      if (!view_packet(b.pkts[i], v) || !v.tcp_ok || (v.tcp_flags & kTcpSyn) == 0) continue;
      const unsigned hlen = (v.l4[12] >> 4) * 4u;
      if (!kAdd && hlen == 20) continue;
      if (!selected(v)) continue;
      tcpopt::OptionList l;
      if (!tcpopt::walk(v.l4, hlen, l)) {
        if (p_.drop_malformed) {
          b.verdict[i] = kVerdictMalformed;
        } else {
          ++t.n[kMalformedPassed];
        }
        continue;
      }
      const uint16_t target = v.version == 4 ? target4_ : target6_;
      if (!rewrite<kSet>(v, l, target, t) && kAdd) {
        const uint16_t dflt = v.version == 4 ? kDefaultMss4 : kDefaultMss6;
        const bool added = add(b.pkts[i], v, hlen, kSet ? target : std::min(target, dflt));
        ++t.n[added ? kAdded : kNotAdded];
      }
    }
    for (size_t k = 0; k < std::size(kActions); ++k) {
      if (t.n[k] != 0) count_action(k, t.n[k]);
    }
  }

  // Rewrites every MSS option (a receiver takes the last one, so none is left behind). Returns
  // whether the segment carries one.
  template <bool kSet>
  static bool rewrite(const PktView& v, const tcpopt::OptionList& l, uint16_t target, Tally& t) {
    bool found = false;
    bool changed = false;
    uint16_t old_sum = 0;
    for (unsigned k = 0; k < l.n; ++k) {
      if (l.opt[k].cls != tcpopt::kMss) continue;
      found = true;
      uint8_t* value = l.tcp + l.opt[k].off + 2;
      const uint16_t cur = load_be16(value);
      const uint16_t want = kSet ? target : std::min(cur, target);
      if (want == cur) continue;
      if (!changed) old_sum = csum::sum(l.area(), l.area_len());
      changed = true;
      store_be16(value, want);
      ++t.n[want < cur ? kLowered : kRaised];
    }
    // The option may sit at an odd offset: update from the sum of the whole (even) area.
    if (changed) l4_update16(v, old_sum, csum::sum(l.area(), l.area_len()));
    return found;
  }

  // Puts an MSS option first in the list, as TCPMSS does; like TCPMSS only on a SYN without data
  // (the sender sized that segment), with room in the header; and not on a fragment. The headers
  // in front move back 4 bytes into the mbuf's headroom.
  static bool add(rte_mbuf* m, const PktView& v, unsigned hlen, uint16_t mss) {
    const bool fragment = (v.flags & kViewFragment) != 0;
    if (hlen + 4 > 60 || v.l4_len != hlen || fragment || rte_pktmbuf_headroom(m) < 4) {
      return false;
    }
    const uint8_t opt[4] = {tcpopt::kMss, 4, static_cast<uint8_t>(mss >> 8),
                            static_cast<uint8_t>(mss)};
    // The options already there move by 4 bytes: their sum stays.
    tcpopt::update_cksum_for_options(v, 0, csum::sum(opt, 4), hlen, hlen + 4);
    tcpopt::update_ip_length(v, 4);
    const size_t head = static_cast<size_t>(v.l4 + 20 - rte_pktmbuf_mtod(m, uint8_t*));
    auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, 4));
    std::memmove(frame, frame + 4, head);
    std::memcpy(frame + head, opt, 4);
    refresh_view(m);
    return true;
  }

  Params p_;
  uint16_t target4_ = 0, target6_ = 0;
};

Params parse_params(YamlMap& m) {
  Params p;
  const char* second = nullptr;
  int modes = 0;
  for (const char* key : {"clamp", "clamp_to_mtu", "set"}) {
    if (m.has(key) && ++modes == 2) second = key;
  }
  if (modes == 0) m.fail("clamp", "one of clamp, clamp_to_mtu or set is needed");
  if (second != nullptr) m.fail(second, "clamp, clamp_to_mtu and set exclude each other");
  if (m.has("clamp")) {
    p.mode = Mode::Clamp;
    p.value = m.get_in<uint16_t>("clamp", 1, 65535);
  } else if (m.has("set")) {
    p.mode = Mode::Set;
    p.value = m.get_in<uint16_t>("set", 1, 65535);
  } else {
    p.mode = Mode::ClampToMtu;
    if (!m.get<bool>("clamp_to_mtu")) m.fail("clamp_to_mtu", "only true is meaningful");
  }
  p.add_if_missing = m.get_or<bool>("add_if_missing", false);
  if (auto mal = m.maybe<std::string>("malformed")) {
    if (*mal != "pass" && *mal != "drop") {
      m.fail("malformed", fmt::format("'{}' is not pass or drop", *mal));
    }
    p.drop_malformed = *mal == "drop";
  }
  return p;
}

const StageRegistration kReg{{
    .name = "mss",
    .help = "clamp, clamp to the port MTU, or set the MSS option of SYNs (TCPMSS); add if missing",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      m.only({"stage", "match", "probability", "seed", "clamp", "clamp_to_mtu", "set",
              "add_if_missing", "malformed"});
      const Params p = parse_params(m);
      m.done();
      return [c, p](const StageSite& site) { return std::make_unique<Mss>(c, site, p); };
    },
}};

}  // namespace
}  // namespace pathlab
