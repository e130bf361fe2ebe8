// ip_options: IPv4 options stripped (the header shrinks) or packets carrying them dropped, with an
// optional allow-list; IPv6 packets with Hop-by-Hop or Destination Options headers dropped, or
// listed options inside them turned into padding.
//   - stage: ip_options
//     ipv4: strip             # strip | drop
//     allow: [ra]             # IPv4 option types kept (strip) or tolerated (drop)
//     drop_hbh: true
//     drop_dstopts: true
//     ipv6_strip: [0x1e]      # IPv6 option types overwritten with PadN (ipim: IPIM's 0x3e)
//     malformed: pass         # pass | drop
// Types are names (kIp4Names, kIp6Names) or numbers 0..255.
#include <fmt/format.h>

#include <iterator>
#include <optional>
#include <string_view>

#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/net/ip4_options.hpp"
#include "pathlab/net/ip6_ext.hpp"
#include "pathlab/net/option_set.hpp"
#include "pathlab/stages/match.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"ip4_options", "IPv4 packet with options (ipv4: drop), or with one not on allow"},
    {"malformed", "malformed IPv4 option list or IPv6 option header (malformed: drop)"},
    {"hbh", "IPv6 packet with a Hop-by-Hop Options header (drop_hbh)"},
    {"dstopts", "IPv6 packet with a Destination Options header (drop_dstopts)"},
};
enum Verdict : uint8_t { kVerdictOptions = 1, kVerdictMalformed, kVerdictHbh, kVerdictDstopts };

constexpr CounterDesc kActions[] = {
    {"ip4_stripped", "IPv4 packets whose options were removed (all, or those not on allow)"},
    {"ip6_padded", "IPv6 options overwritten with PadN (ipv6_strip)"},
    {"malformed_passed", "packets with a malformed option list passed untouched"},
};
enum ActionIndex : size_t { kIp4Stripped, kIp6Padded, kMalformedPassed };

struct TypeName {
  std::string_view name;
  uint8_t type;
};
constexpr TypeName kIp4Names[] = {
    {"eol", ip4opt::kEol},        {"nop", ip4opt::kNop},      {"rr", ip4opt::kRecordRoute},
    {"qs", ip4opt::kQuickStart},  {"ts", ip4opt::kTimestamp}, {"traceroute", ip4opt::kTraceroute},
    {"sec", ip4opt::kSecurity},   {"lsrr", ip4opt::kLsrr},    {"extsec", ip4opt::kExtSecurity},
    {"cipso", ip4opt::kCipso},    {"sid", ip4opt::kStreamId}, {"ssrr", ip4opt::kSsrr},
    {"ra", ip4opt::kRouterAlert}, {"ipim", ip4opt::kExperiment94},
};
constexpr TypeName kIp6Names[] = {
    {"tunnel_limit", ip6ext::kTunnelLimit},
    {"ra", ip6ext::kRouterAlert},
    {"calipso", ip6ext::kCalipso},
    {"smf_dpd", ip6ext::kSmfDpd},
    {"pdm", ip6ext::kPdm},
    {"ioam", ip6ext::kIoam},
    {"quickstart", ip6ext::kQuickStart},
    {"rpl", ip6ext::kRpl},
    {"jumbo", ip6ext::kJumbo},
    {"hao", ip6ext::kHomeAddress},
    {"ipim", ip6ext::kExperiment3e},
};

using TypeSet = OptionSet<256>;

template <size_t N>
TypeSet types(YamlMap& m, std::string_view key, const TypeName (&names)[N], bool ip6) {
  TypeSet set;
  for (const auto& it : m.items(key, true)) {
    const std::string s = it.node.IsScalar() ? it.node.Scalar() : "";
    std::optional<unsigned> t;
    for (const auto& n : names) {
      if (n.name == s) t = n.type;
    }
    if (!t) t = option_type_number(s);
    if (!t) {
      std::string known;
      for (const auto& n : names) known += fmt::format("{}{}", known.empty() ? "" : ", ", n.name);
      throw ConfigError(it.pos, it.path,
                        fmt::format("'{}' is not an {} option type ({}, or 0..255)", s,
                                    ip6 ? "IPv6" : "IPv4", known));
    }
    if (ip6 && (*t == ip6ext::kPad1 || *t == ip6ext::kPadN)) {
      throw ConfigError(it.pos, it.path, fmt::format("'{}' is padding already", s));
    }
    set.add(*t);
  }
  return set;
}

enum class Ip4Mode : uint8_t { Pass, Drop, DropUnlisted, Strip, StripUnlisted };

// ---- the stage ------------------------------------------------------------------------------

struct Params {
  Ip4Mode ip4 = Ip4Mode::Pass;
  TypeSet allow;
  bool drop_hbh = false, drop_dstopts = false;
  TypeSet ip6_strip;
  bool drop_malformed = false;
  bool ip6() const { return drop_hbh || drop_dstopts || !ip6_strip.empty(); }
};

class IpOptions final : public MatchStage {
 public:
  IpOptions(const StageCommon& c, const StageSite& site, const Params& p)
      : MatchStage(kDrops, kActions, c, site), p_(p) {}

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    switch (p_.ip4) {
      case Ip4Mode::Pass:
        return run<Ip4Mode::Pass>(b);
      case Ip4Mode::Drop:
        return run<Ip4Mode::Drop>(b);
      case Ip4Mode::DropUnlisted:
        return run<Ip4Mode::DropUnlisted>(b);
      case Ip4Mode::Strip:
        return run<Ip4Mode::Strip>(b);
      case Ip4Mode::StripUnlisted:
        return run<Ip4Mode::StripUnlisted>(b);
    }
  }

 private:
  struct Tally {
    uint64_t n[std::size(kActions)] = {};
  };

  template <Ip4Mode kMode>
  void run(Batch& b) {
    Tally t;
    const bool ip6 = p_.ip6();
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView v;
      if (!view_packet(b.pkts[i], v)) continue;
      if (v.version == 4) {
        if constexpr (kMode != Ip4Mode::Pass) {
          if ((v.l3[0] & 0x0f) > 5 && selected(v)) b.verdict[i] = ip4<kMode>(b.pkts[i], v, t);
        }
      } else if (ip6 && parse::is_ip6_ext_header(v.l3[6]) && selected(v)) {
        b.verdict[i] = ip6_headers(v, t);
      }
    }
    for (size_t k = 0; k < std::size(kActions); ++k) {
      if (t.n[k] != 0) count_action(k, t.n[k]);
    }
  }

  uint8_t malformed(Tally& t) const {
    if (p_.drop_malformed) return kVerdictMalformed;
    ++t.n[kMalformedPassed];
    return kPass;
  }

  template <Ip4Mode kMode>
  uint8_t ip4(rte_mbuf* m, const PktView& v, Tally& t) const {
    if constexpr (kMode == Ip4Mode::Drop) return kVerdictOptions;
    uint8_t kept[ip4opt::kMaxArea];
    unsigned kept_len = 0;
    if constexpr (kMode == Ip4Mode::DropUnlisted || kMode == Ip4Mode::StripUnlisted) {
      bool unlisted = false;
      unsigned nops = 0;  // a run of NOPs goes with the option after it
      const auto w = ip4opt::for_each(v.l3, [&](const ip4opt::Option& o) {
        if (o.type == ip4opt::kNop) {
          ++nops;
        } else if (!p_.allow.has(o.type)) {
          unlisted = true;
          nops = 0;
        } else {
          std::memset(kept + kept_len, ip4opt::kNop, nops);
          std::memcpy(kept + kept_len + nops, v.l3 + o.off, o.len);
          kept_len += nops + o.len;
          nops = 0;
        }
        return true;
      });
      if (w != ip4opt::Walk::Done) return malformed(t);
      if (!unlisted) return kPass;
      if constexpr (kMode == Ip4Mode::DropUnlisted) return kVerdictOptions;
    }
    strip4(m, v, kept, kept_len);
    ++t.n[kIp4Stripped];
    return kPass;
  }

  // The IPv4 header keeps `kept` (padded with EOL to a multiple of 4) as its options. The L2
  // header and the fixed IP header move forward onto the freed bytes and the mbuf starts that
  // much later; the transport checksum is untouched (its pseudo-header has no header length).
  static void strip4(rte_mbuf* m, const PktView& v, const uint8_t* kept, unsigned kept_len) {
    const unsigned ihl = ip4opt::header_len(v.l3);
    const unsigned padded = (kept_len + 3) & ~3u;
    const unsigned new_ihl = 20 + padded;
    const unsigned cut = ihl - new_ihl;
    v.l3[0] = static_cast<uint8_t>(0x40 | new_ihl / 4);
    put16(v.l3 + 2, rte_cpu_to_be_16(static_cast<uint16_t>(v.ip_len - cut)));
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const size_t head = static_cast<size_t>(v.l3 + 20 - frame);
    std::memmove(frame + cut, frame, head);
    uint8_t* l3 = v.l3 + cut;
    std::memcpy(l3 + 20, kept, kept_len);
    std::memset(l3 + 20 + kept_len, ip4opt::kEol, padded - kept_len);
    csum::set_ip4_header(l3, new_ihl);
    rte_pktmbuf_adj(m, static_cast<uint16_t>(cut));
    m->l3_len = static_cast<uint16_t>(new_ihl);
    refresh_view(m);
  }

  // Drops on HBH / Destination Options, else pads the listed options out. The whole chain and
  // every option area are checked before anything is written.
  uint8_t ip6_headers(const PktView& v, Tally& t) const {
    if (p_.drop_hbh && v.l3[6] == parse::kIp6HopByHop) return kVerdictHbh;
    const bool pad = !p_.ip6_strip.empty();
    if (!p_.drop_dstopts && !pad) return kPass;
    if (p_.drop_dstopts) {
      const auto c = ip6ext::walk(
          v.l3, v.ip_len, [](const ip6ext::Header& h) { return h.type != parse::kIp6DestOpts; });
      if (c.stopped) return kVerdictDstopts;
      if (!c.ok) return malformed(t);
    }
    if (!pad) return kPass;
    if (!ip6ext::valid(v.l3, v.ip_len)) return malformed(t);
    ip6ext::walk(v.l3, v.ip_len, [&](const ip6ext::Header& h) {
      if (!ip6ext::has_options(h.type)) return true;
      ip6ext::for_each_option(v.l3, h, [&](const ip6ext::Option& o) {
        if (p_.ip6_strip.has(o.type)) {  // never Pad1 or PadN: parse_params refuses them
          ip6ext::pad_out(v.l3, o);
          ++t.n[kIp6Padded];
        }
        return true;
      });
      return true;
    });
    return kPass;
  }

  Params p_;
};

Params parse_params(YamlMap& m) {
  Params p;
  if (auto a = m.maybe<std::string>("ipv4")) {
    const bool allow = m.has("allow");
    if (*a == "strip") {
      p.ip4 = allow ? Ip4Mode::StripUnlisted : Ip4Mode::Strip;
    } else if (*a == "drop") {
      p.ip4 = allow ? Ip4Mode::DropUnlisted : Ip4Mode::Drop;
    } else {
      m.fail("ipv4", fmt::format("'{}' is not strip or drop", *a));
    }
    p.allow = types(m, "allow", kIp4Names, false);
  } else if (m.has("allow")) {
    m.fail("allow", "allow needs ipv4: strip or ipv4: drop");
  }
  p.drop_hbh = m.get_or<bool>("drop_hbh", false);
  p.drop_dstopts = m.get_or<bool>("drop_dstopts", false);
  p.ip6_strip = types(m, "ipv6_strip", kIp6Names, true);
  if (auto mal = m.maybe<std::string>("malformed")) {
    if (*mal != "pass" && *mal != "drop") {
      m.fail("malformed", fmt::format("'{}' is not pass or drop", *mal));
    }
    p.drop_malformed = *mal == "drop";
  }
  if (p.ip4 == Ip4Mode::Pass && !p.ip6()) {
    m.fail("ipv4", "nothing to do: set ipv4, drop_hbh, drop_dstopts or ipv6_strip");
  }
  return p;
}

const StageRegistration kReg{{
    .name = "ip_options",
    .help = "strip or drop IPv4 options (allow-list); drop IPv6 HBH/DestOpts or pad options out",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      m.only({"stage", "match", "probability", "seed", "ipv4", "allow", "drop_hbh", "drop_dstopts",
              "ipv6_strip", "malformed"});
      const Params p = parse_params(m);
      m.done();
      return [c, p](const StageSite& site) { return std::make_unique<IpOptions>(c, site, p); };
    },
}};

}  // namespace
}  // namespace pathlab
