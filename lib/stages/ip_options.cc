// ip_options: IPv4 options stripped (the header shrinks) or packets carrying them dropped, with an
// optional allow-list; IPv6 packets with Hop-by-Hop or Destination Options headers dropped, or
// listed options inside them turned into padding.
//   - stage: ip_options
//     ipv4: strip             # strip | drop
//     allow: [ra]             # IPv4 option types kept (strip) or tolerated (drop)
//     drop_hbh: true
//     drop_dstopts: true
//     ipv6_strip: [0x1e]      # IPv6 option types overwritten with PadN
//     malformed: pass         # pass | drop
// Types are names (kIp4Names, kIp6Names) or numbers 0..255.
#include <fmt/format.h>

#include <charconv>
#include <iterator>
#include <optional>
#include <string_view>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

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

constexpr uint8_t kIp4Eol = 0, kIp4Nop = 1;
constexpr uint8_t kIp6Pad1 = 0, kIp6PadN = 1;

struct TypeName {
  std::string_view name;
  uint8_t type;
};
constexpr TypeName kIp4Names[] = {
    {"eol", 0},         {"nop", 1},    {"rr", 7},     {"qs", 25},      {"ts", 68},
    {"traceroute", 82}, {"sec", 130},  {"lsrr", 131}, {"extsec", 133}, {"cipso", 134},
    {"sid", 136},       {"ssrr", 137}, {"ra", 148},
};
constexpr TypeName kIp6Names[] = {
    {"tunnel_limit", 0x04}, {"ra", 0x05},   {"calipso", 0x07},    {"smf_dpd", 0x08},
    {"pdm", 0x0f},          {"ioam", 0x11}, {"quickstart", 0x26}, {"rpl", 0x63},
    {"jumbo", 0xc2},        {"hao", 0xc9},
};

// 256 option types.
struct TypeSet {
  uint64_t w[4] = {};
  void add(unsigned t) { w[t / 64] |= uint64_t{1} << (t % 64); }
  bool has(unsigned t) const { return (w[t / 64] >> (t % 64)) & 1u; }
  bool empty() const { return (w[0] | w[1] | w[2] | w[3]) == 0; }
};

std::optional<unsigned> number(std::string_view s) {
  unsigned v = 0;
  const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (hex) s.remove_prefix(2);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, hex ? 16 : 10);
  if (ec != std::errc() || p != s.data() + s.size() || v > 255) return std::nullopt;
  return v;
}

template <size_t N>
TypeSet types(YamlMap& m, std::string_view key, const TypeName (&names)[N], bool ip6) {
  TypeSet set;
  for (const auto& it : m.items(key, true)) {
    const std::string s = it.node.IsScalar() ? it.node.Scalar() : "";
    std::optional<unsigned> t;
    for (const auto& n : names) {
      if (n.name == s) t = n.type;
    }
    if (!t) t = number(s);
    if (!t) {
      std::string known;
      for (const auto& n : names) known += fmt::format("{}{}", known.empty() ? "" : ", ", n.name);
      throw ConfigError(it.pos, it.path,
                        fmt::format("'{}' is not an {} option type ({}, or 0..255)", s,
                                    ip6 ? "IPv6" : "IPv4", known));
    }
    if (ip6 && (*t == kIp6Pad1 || *t == kIp6PadN)) {
      throw ConfigError(it.pos, it.path, fmt::format("'{}' is padding already", s));
    }
    set.add(*t);
  }
  return set;
}

// ---- IPv4 -----------------------------------------------------------------------------------

struct Ip4Option {
  uint8_t off, len, type;
};

// The options before EOL, NOPs included; false for a malformed list (a length below 2, an option
// running past the header, a type with no room for its length byte). Reads only `len` bytes.
bool walk4(const uint8_t* a, unsigned len, Ip4Option (&out)[40], unsigned& n) {
  n = 0;
  unsigned off = 0;
  while (off < len) {
    const uint8_t type = a[off];
    if (type == kIp4Eol) break;
    if (type == kIp4Nop) {
      out[n++] = {static_cast<uint8_t>(off), 1, type};
      ++off;
      continue;
    }
    if (len - off < 2) return false;
    const uint8_t olen = a[off + 1];
    if (olen < 2 || olen > len - off) return false;
    out[n++] = {static_cast<uint8_t>(off), olen, type};
    off += olen;
  }
  return true;
}

enum class Ip4Mode : uint8_t { Pass, Drop, DropUnlisted, Strip, StripUnlisted };

// ---- IPv6 -----------------------------------------------------------------------------------

// Calls fn(header_type, offset_from_l3, header_len) for each extension header in front of the
// transport header (HBH, Routing, Destination Options, AH, Fragment), stopping after a
// non-first fragment's Fragment header. False when a header does not fit the packet or
// Hop-by-Hop is not first; fn returning false stops the walk early (and the walk returns true).
template <typename Fn>
bool walk6(const uint8_t* l3, uint32_t ip_len, Fn&& fn) {
  uint8_t next = l3[6];
  uint32_t off = 40;
  for (;;) {
    uint32_t hlen;
    switch (next) {
      case parse::kIp6HopByHop:
        if (off != 40) return false;
        [[fallthrough]];
      case parse::kIp6Routing:
      case parse::kIp6DestOpts:
        if (ip_len - off < 8) return false;
        hlen = (l3[off + 1] + 1u) * 8u;
        break;
      case parse::kIp6Ah:
        if (ip_len - off < 8) return false;
        hlen = (l3[off + 1] + 2u) * 4u;
        break;
      case parse::kIp6Fragment:
        if (ip_len - off < 8) return false;
        hlen = 8;
        break;
      default:
        return true;
    }
    if (ip_len - off < hlen) return false;
    if (!fn(next, off, hlen)) return true;
    if (next == parse::kIp6Fragment && (parse::load_be16(l3 + off + 2) & 0xfff8) != 0) return true;
    next = l3[off];
    off += hlen;
  }
}

// The option area of one HBH / Destination Options header (after its 2 fixed bytes) holds whole
// options: Pad1, or type, length and that many data bytes within the header.
bool options_fit(const uint8_t* h, uint32_t hlen) {
  uint32_t off = 2;
  while (off < hlen) {
    if (h[off] == kIp6Pad1) {
      ++off;
      continue;
    }
    if (hlen - off < 2 || h[off + 1] > hlen - off - 2) return false;
    off += 2u + h[off + 1];
  }
  return true;
}

// Overwrites the listed options of a header that options_fit() with PadN (type 1, the same
// length, zero data). Returns the options padded.
unsigned pad_options(uint8_t* h, uint32_t hlen, const TypeSet& strip) {
  unsigned n = 0;
  for (uint32_t off = 2; off < hlen;) {
    const uint8_t type = h[off];
    if (type == kIp6Pad1) {
      ++off;
      continue;
    }
    const uint8_t len = h[off + 1];
    if (strip.has(type)) {
      h[off] = kIp6PadN;
      std::memset(h + off + 2, 0, len);
      ++n;
    }
    off += 2u + len;
  }
  return n;
}

bool is_option_header(uint8_t type) {
  return type == parse::kIp6HopByHop || type == parse::kIp6DestOpts;
}

// Next-header values that start an extension header chain walk6() follows.
bool is_extension(uint8_t type) {
  return is_option_header(type) || type == parse::kIp6Routing || type == parse::kIp6Ah ||
         type == parse::kIp6Fragment;
}

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
      } else if (ip6 && is_extension(v.l3[6]) && selected(v)) {
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
    const unsigned ihl = (v.l3[0] & 0x0fu) * 4u;
    uint8_t kept[40];
    unsigned kept_len = 0;
    if constexpr (kMode == Ip4Mode::DropUnlisted || kMode == Ip4Mode::StripUnlisted) {
      Ip4Option opt[40];
      unsigned n = 0;
      if (!walk4(v.l3 + 20, ihl - 20, opt, n)) return malformed(t);
      bool unlisted = false;
      unsigned nops = 0;  // a run of NOPs goes with the option after it
      for (unsigned k = 0; k < n; ++k) {
        const auto& o = opt[k];
        if (o.type == kIp4Nop) {
          ++nops;
        } else if (!p_.allow.has(o.type)) {
          unlisted = true;
          nops = 0;
        } else {
          std::memset(kept + kept_len, kIp4Nop, nops);
          std::memcpy(kept + kept_len + nops, v.l3 + 20 + o.off, o.len);
          kept_len += nops + o.len;
          nops = 0;
        }
      }
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
    const unsigned ihl = (v.l3[0] & 0x0fu) * 4u;
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
    std::memset(l3 + 20 + kept_len, kIp4Eol, padded - kept_len);
    put16(l3 + 10, 0);
    put16(l3 + 10, static_cast<uint16_t>(~rte_raw_cksum(l3, new_ihl)));
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
    bool dstopts = false, options_ok = true;
    const bool chain_ok = walk6(v.l3, v.ip_len, [&](uint8_t type, uint32_t off, uint32_t hlen) {
      if (type == parse::kIp6DestOpts && p_.drop_dstopts) {
        dstopts = true;
        return false;
      }
      if (pad && is_option_header(type)) options_ok &= options_fit(v.l3 + off, hlen);
      return true;
    });
    if (dstopts) return kVerdictDstopts;
    if (!chain_ok || !options_ok) return malformed(t);
    if (!pad) return kPass;
    walk6(v.l3, v.ip_len, [&](uint8_t type, uint32_t off, uint32_t hlen) {
      if (is_option_header(type)) t.n[kIp6Padded] += pad_options(v.l3 + off, hlen, p_.ip6_strip);
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
