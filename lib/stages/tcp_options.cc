// tcp_options: strips TCP options by kind, either overwritten with NOPs (the header keeps its
// length, as iptables TCPOPTSTRIP does) or removed (the header shrinks); strips every kind not on
// an allow-list; drops SYNs carrying a kind.
//   - stage: tcp_options
//     strip: [sack_permitted, timestamp, 99]   # or allow: [mss, wscale, sack, ...]
//     how: nop                                 # nop | remove
//     drop_syn_with: [tfo]
//     malformed: pass                          # pass | drop
// Kinds are names (see kKindNames) or numbers 2..255; `tfo` is kind 34 and kind 254 carrying
// the experiment id 0xF989; `unknown` is every kind without a name here.
#include "pathlab/net/tcp_options.hpp"

#include <fmt/format.h>

#include <optional>
#include <string_view>

#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/net/option_set.hpp"
#include "pathlab/net/tcp_resize.hpp"
#include "pathlab/stages/match.hpp"

namespace pathlab {
namespace {

using tcpopt::OptionList;
using KindSet = OptionSet<tcpopt::kClasses>;

bool any_in(const KindSet& set, const OptionList& l) {
  for (unsigned i = 0; i < l.n; ++i) {
    if (set.has(l.opt[i].cls)) return true;
  }
  return false;
}

constexpr CounterDesc kDrops[] = {
    {"syn_option", "SYN carrying a kind listed in drop_syn_with"},
    {"malformed", "TCP segment with a malformed option list (malformed: drop)"},
};
constexpr uint8_t kVerdictSynOption = 1, kVerdictMalformed = 2;  // drop index + 1

constexpr CounterDesc kActions[] = {
    {"stripped", "segments with at least one option stripped"},
    {"options_stripped", "options stripped"},
    {"shrunk", "segments whose header shrank (how: remove)"},
    {"malformed_passed", "segments with a malformed option list passed untouched"},
};
enum ActionIndex : size_t { kStripped, kOptionsStripped, kShrunk, kMalformedPassed };

struct KindName {
  std::string_view name;
  uint16_t cls[3];
  uint8_t n;
};
constexpr KindName kKindNames[] = {
    {"mss", {tcpopt::kMss}, 1},
    {"wscale", {tcpopt::kWscale}, 1},
    {"sack_permitted", {tcpopt::kSackPermitted}, 1},
    {"sack", {tcpopt::kSack}, 1},
    {"timestamp", {tcpopt::kTimestamp}, 1},
    {"md5", {tcpopt::kMd5}, 1},
    {"user_timeout", {tcpopt::kUserTimeout}, 1},
    {"tcp_ao", {tcpopt::kTcpAo}, 1},
    {"mptcp", {tcpopt::kMptcp}, 1},
    {"tfo", {tcpopt::kTfo, tcpopt::kClassTfoExp}, 2},
    {"experimental", {tcpopt::kExp1, tcpopt::kExp2, tcpopt::kClassTfoExp}, 3},
};

// True for the classes `unknown` leaves out: the named kinds (experimental ones count as unknown).
bool named_class(unsigned cls) {
  for (const auto& k : kKindNames) {
    if (k.name == "experimental") continue;
    for (unsigned i = 0; i < k.n; ++i) {
      if (k.cls[i] == cls) return true;
    }
  }
  return false;
}

// Adds one list item (a name or a number) to `set`.
void add_kind(KindSet& set, const YamlMap::Item& it) {
  const std::string s = it.node.IsScalar() ? it.node.Scalar() : "";
  if (s == "unknown") {
    for (unsigned c = 2; c < tcpopt::kClasses; ++c) {
      if (!named_class(c)) set.add(c);
    }
    return;
  }
  for (const auto& k : kKindNames) {
    if (k.name != s) continue;
    for (unsigned i = 0; i < k.n; ++i) set.add(k.cls[i]);
    return;
  }
  const auto v = option_type_number(s);
  if (s == "eol" || s == "nop" || (v && *v < 2)) {
    throw ConfigError(it.pos, it.path, fmt::format("'{}' is padding: eol and nop always stay", s));
  }
  if (!v) {
    throw ConfigError(
        it.pos, it.path,
        fmt::format("'{}' is not a TCP option kind (mss, wscale, sack_permitted, sack, "
                    "timestamp, md5, user_timeout, tcp_ao, mptcp, tfo, experimental, "
                    "unknown, or 2..255)",
                    s));
  }
  set.add(*v);
  if (*v == tcpopt::kExp2) set.add(tcpopt::kClassTfoExp);
}

KindSet kinds(YamlMap& m, std::string_view key) {
  KindSet set;
  for (const auto& it : m.items(key, true)) add_kind(set, it);
  return set;
}

enum class How : uint8_t { None, Nop, Remove };

struct Params {
  KindSet strip;     // option classes to strip (an allow-list already inverted)
  KindSet drop_syn;  // option classes that get a SYN dropped
  How how = How::None;
  bool drop_malformed = false;
};

class TcpOptions final : public MatchStage {
 public:
  TcpOptions(const StageCommon& c, const StageSite& site, const Params& p)
      : MatchStage(kDrops, kActions, c, site), p_(p) {}

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    const bool drop = !p_.drop_syn.empty();
    switch (p_.how) {
      case How::None:
        return run<How::None, true>(b);
      case How::Nop:
        return drop ? run<How::Nop, true>(b) : run<How::Nop, false>(b);
      case How::Remove:
        return drop ? run<How::Remove, true>(b) : run<How::Remove, false>(b);
    }
  }

 private:
  struct Tally {
    uint64_t stripped = 0, options = 0, shrunk = 0, malformed = 0;
  };

  template <How kHow, bool kDropSyn>
  void run(Batch& b) {
    Tally t;
    const uint16_t n = b.n;  // a local: stores into packets may alias b.n
    std::memset(b.verdict, kPass, n);
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = b.pkts[i];
      PktView v;
      if (!view_packet(m, v) || !v.tcp_ok) continue;
      const unsigned hlen = (v.l4[12] >> 4) * 4u;
      if (hlen == 20) continue;
      if (kHow == How::None && (v.tcp_flags & kTcpSyn) == 0) continue;
      if (!selected(v)) continue;
      if constexpr (kHow == How::Nop) {
        // The commonest layout (Linux and BSD data segments): NOP NOP TS, a 32-byte header. The
        // walk would list exactly these three options and the general path below would do this.
        if (hlen == 32 && get32(v.l4 + 20) == nop_nop_ts_) {
          if (kDropSyn && (v.tcp_flags & kTcpSyn) != 0 && p_.drop_syn.has(tcpopt::kTimestamp)) {
            b.verdict[i] = kVerdictSynOption;
            continue;
          }
          if (strip_ts_) {
            uint8_t* area = v.l4 + 20;
            const uint16_t old_sum = csum::sum(area, 12);
            std::memset(area + 2, tcpopt::kNop, 10);
            l4_update16(v, old_sum, 0x0606);  // csum::sum of twelve NOPs (0x01 bytes)
            ++t.stripped;
            ++t.options;
          }
          continue;
        }
      }
      OptionList l;
      if (!tcpopt::walk(v.l4, hlen, l)) {
        if (p_.drop_malformed) {
          b.verdict[i] = kVerdictMalformed;
        } else {
          ++t.malformed;
        }
        continue;
      }
      if constexpr (kDropSyn) {
        if ((v.tcp_flags & kTcpSyn) != 0 && any_in(p_.drop_syn, l)) {
          b.verdict[i] = kVerdictSynOption;
          continue;
        }
      }
      if constexpr (kHow != How::None) {
        unsigned n = 0;
        if (kHow == How::Remove && (v.flags & kViewFragment) == 0) {
          n = remove(m, v, l, t);
        } else {
          n = overwrite_with_nops(v, l);
        }
        if (n != 0) {
          ++t.stripped;
          t.options += n;
        }
      }
    }
    if (t.stripped != 0) {
      count_action(kStripped, t.stripped);
      count_action(kOptionsStripped, t.options);
    }
    if (t.shrunk != 0) count_action(kShrunk, t.shrunk);
    if (t.malformed != 0) count_action(kMalformedPassed, t.malformed);
  }

  // TCPOPTSTRIP: each stripped option's bytes become NOPs. Returns the options stripped.
  unsigned overwrite_with_nops(const PktView& v, const OptionList& l) const {
    unsigned n = 0;
    uint16_t old_sum = 0;
    for (unsigned k = 0; k < l.n; ++k) {
      const auto& o = l.opt[k];
      if (!p_.strip.has(o.cls)) continue;
      if (n++ == 0) old_sum = csum::sum(l.area(), l.area_len());
      std::memset(l.tcp + o.off, tcpopt::kNop, o.len);
    }
    if (n != 0) l4_update16(v, old_sum, csum::sum(l.area(), l.area_len()));
    return n;
  }

  // Rebuilds the option list without the stripped options. A run of NOPs right before a stripped
  // option was its alignment and goes with it; trailing NOPs go too; the list is padded to a
  // multiple of 4 with EOL. When it shrinks, the headers in front of it move forward onto the
  // freed bytes and the mbuf starts that much later: the payload stays where it is.
  unsigned remove(rte_mbuf* m, const PktView& v, const OptionList& l, Tally& t) const {
    uint8_t out[tcpopt::kMaxArea];
    unsigned len = 0, nops = 0, n = 0;
    for (unsigned k = 0; k < l.n; ++k) {
      const auto& o = l.opt[k];
      if (o.cls == tcpopt::kNop) {
        ++nops;
      } else if (p_.strip.has(o.cls)) {
        ++n;
        nops = 0;
      } else {
        std::memset(out + len, tcpopt::kNop, nops);
        std::memcpy(out + len + nops, l.tcp + o.off, o.len);
        len += nops + o.len;
        nops = 0;
      }
    }
    if (n == 0) return 0;
    const unsigned new_area = (len + 3) & ~3u;
    std::memset(out + len, tcpopt::kEol, new_area - len);

    const unsigned cut = l.area_len() - new_area;
    tcpopt::update_cksum_for_options(v, csum::sum(l.area(), l.area_len()), csum::sum(out, new_area),
                                     l.hlen, 20 + new_area);
    if (cut == 0) {
      std::memcpy(l.area(), out, new_area);
      return n;
    }
    tcpopt::update_ip_length(v, -static_cast<int>(cut));
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const size_t head = static_cast<size_t>(l.area() - frame);  // L2, IP and the fixed TCP header
    std::memmove(frame + cut, frame, head);
    std::memcpy(frame + cut + head, out, new_area);
    rte_pktmbuf_adj(m, static_cast<uint16_t>(cut));
    refresh_view(m);
    ++t.shrunk;
    return n;
  }

  // NOP NOP, then a timestamp option's kind and length, as one (byte-order neutral) word.
  static constexpr uint8_t kNopNopTsBytes[4] = {tcpopt::kNop, tcpopt::kNop, tcpopt::kTimestamp, 10};

  Params p_;
  const bool strip_ts_ = p_.strip.has(tcpopt::kTimestamp);
  const uint32_t nop_nop_ts_ = get32(kNopNopTsBytes);
};

Params parse_params(YamlMap& m) {
  Params p;
  if (m.has("strip") && m.has("allow")) m.fail("allow", "strip and allow exclude each other");
  if (m.has("strip")) {
    p.strip = kinds(m, "strip");
  } else if (m.has("allow")) {
    const KindSet allowed = kinds(m, "allow");
    for (unsigned c = 2; c < tcpopt::kClasses; ++c) {
      if (!allowed.has(c)) p.strip.add(c);
    }
  }
  p.drop_syn = kinds(m, "drop_syn_with");
  const bool stripping = m.has("strip") || m.has("allow");
  if (auto how = m.maybe<std::string>("how")) {
    if (!stripping) m.fail("how", "how needs strip or allow");
    if (*how != "nop" && *how != "remove") {
      m.fail("how", fmt::format("'{}' is not nop or remove", *how));
    }
    p.how = *how == "nop" ? How::Nop : How::Remove;
  } else if (stripping) {
    p.how = How::Nop;
  }
  if (auto mal = m.maybe<std::string>("malformed")) {
    if (*mal != "pass" && *mal != "drop") {
      m.fail("malformed", fmt::format("'{}' is not pass or drop", *mal));
    }
    p.drop_malformed = *mal == "drop";
  }
  if (p.how == How::None && p.drop_syn.empty()) {
    m.fail("strip", "one of strip, allow or drop_syn_with is needed");
  }
  return p;
}

const StageRegistration kReg{{
    .name = "tcp_options",
    .help =
        "strip TCP options (NOP them out or remove them), keep an allow-list, drop SYNs by kind",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      m.only({"stage", "match", "probability", "seed", "strip", "allow", "how", "drop_syn_with",
              "malformed"});
      const Params p = parse_params(m);
      m.done();
      return [c, p](const StageSite& site) { return std::make_unique<TcpOptions>(c, site, p); };
    },
}};

}  // namespace
}  // namespace pathlab
