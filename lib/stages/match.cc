// The match / probability / seed keys shared by the mangling stages (see stages/match.hpp).
#include "pathlab/stages/match.hpp"

#include "pathlab/config/yaml_reader.hpp"

#include <fmt/format.h>
#include <rte_random.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>

namespace pathlab {
namespace {

std::string scalar(const YamlMap::Item& it, const YamlMap& m, std::string_view key) {
  if (!it.node.IsScalar()) m.fail(key, fmt::format("{}: expected a scalar", it.path));
  return it.node.Scalar();
}

[[noreturn]] void fail_at(const YamlMap::Item& it, const std::string& msg) {
  throw ConfigError(it.pos, it.path, msg);
}

std::optional<uint16_t> port_number(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::vector<std::pair<uint16_t, uint16_t>> port_ranges(YamlMap& m, std::string_view key) {
  std::vector<std::pair<uint16_t, uint16_t>> out;
  for (const auto& it : m.items(key, true)) {
    const std::string s = scalar(it, m, key);
    const auto dash = s.find('-');
    std::optional<uint16_t> lo, hi;
    if (dash == std::string::npos) {
      lo = hi = port_number(s);
    } else {
      lo = port_number(std::string_view(s).substr(0, dash));
      hi = port_number(std::string_view(s).substr(dash + 1));
    }
    if (!lo || !hi || *lo > *hi) {
      fail_at(it, fmt::format("'{}' is not a port or a range LOW-HIGH within 0..65535", s));
    }
    out.emplace_back(*lo, *hi);
  }
  return out;
}

bool in_ranges(const std::vector<std::pair<uint16_t, uint16_t>>& r, uint16_t p) {
  for (const auto& [lo, hi] : r) {
    if (p >= lo && p <= hi) return true;
  }
  return false;
}

uint8_t flag_bit(std::string_view name) {
  static constexpr std::pair<std::string_view, uint8_t> kFlags[] = {
      {"fin", kTcpFin}, {"syn", kTcpSyn}, {"rst", kTcpRst}, {"psh", kTcpPsh},
      {"ack", kTcpAck}, {"urg", kTcpUrg}, {"ece", kTcpEce}, {"cwr", kTcpCwr}};
  for (const auto& [n, b] : kFlags) {
    if (n == name) return b;
  }
  return 0;
}

}  // namespace

Match Match::parse(YamlMap& params) {
  Match mt;
  if (!params.has("match")) return mt;
  YAML::Node node = params.node("match");
  YamlMap m(node, params.file(), params.path("match"), params.pos("match"));
  m.only({"port", "direction", "ip", "proto", "src", "dst", "sport", "dport", "tcp_flags"});
  mt.port_ = m.get_or<std::string>("port", "");
  if (auto d = m.maybe<std::string>("direction")) {
    if (*d == "ingress") {
      mt.direction_ = 0;
    } else if (*d == "egress") {
      mt.direction_ = 1;
    } else {
      m.fail("direction", fmt::format("'{}' is not ingress or egress", *d));
    }
  }
  if (m.has("ip")) {
    const auto ip = m.get<unsigned>("ip");
    if (ip != 4 && ip != 6) m.fail("ip", fmt::format("{} is not 4 or 6", ip));
    mt.ip_ = static_cast<uint8_t>(ip);
  }
  if (auto p = m.maybe<std::string>("proto")) {
    static constexpr std::pair<std::string_view, int> kNames[] = {
        {"tcp", kProtoTcp}, {"udp", kProtoUdp}, {"icmp", kProtoIcmp4}, {"icmpv6", kProtoIcmp6}};
    for (const auto& [n, v] : kNames) {
      if (*p == n) mt.proto_ = v;
    }
    if (mt.proto_ < 0) {
      unsigned v = 0;
      auto [e, ec] = std::from_chars(p->data(), p->data() + p->size(), v);
      if (ec != std::errc() || e != p->data() + p->size() || v > 255) {
        m.fail("proto", fmt::format("'{}' is not tcp, udp, icmp, icmpv6 or 0..255", *p));
      }
      mt.proto_ = static_cast<int>(v);
    }
  }
  for (int dst = 0; dst < 2; ++dst) {
    const std::string_view key = dst ? "dst" : "src";
    auto& n4 = dst ? mt.dst4_ : mt.src4_;
    auto& n6 = dst ? mt.dst6_ : mt.src6_;
    for (const auto& it : m.items(key, true)) {
      const std::string s = scalar(it, m, key);
      if (auto p4 = parse_ip4_prefix(s, true)) {
        const uint32_t mask = p4->len == 0 ? 0 : ~0u << (32 - p4->len);
        n4.push_back({rte_cpu_to_be_32(p4->addr.v & mask), rte_cpu_to_be_32(mask)});
      } else if (auto p6 = parse_ip6_prefix(s, true)) {
        Net6 n{};
        std::memcpy(n.net, p6->addr.b.data(), 16);
        n.len = p6->len;
        n6.push_back(n);
      } else {
        fail_at(it, fmt::format("'{}' is not an IPv4 or IPv6 prefix", s));
      }
      (dst ? mt.has_dst_ : mt.has_src_) = true;
    }
  }
  mt.sport_ = port_ranges(m, "sport");
  mt.dport_ = port_ranges(m, "dport");
  for (const auto& it : m.items("tcp_flags", true)) {
    std::string s = scalar(it, m, "tcp_flags");
    const bool clear = !s.empty() && s[0] == '!';
    if (clear) s.erase(0, 1);
    const uint8_t bit = flag_bit(s);
    if (bit == 0) fail_at(it, fmt::format("'{}' is not a TCP flag (fin syn rst psh ack urg ece cwr)", s));
    mt.flags_mask_ |= bit;
    if (!clear) mt.flags_set_ |= bit;
  }
  m.done();
  if ((!mt.sport_.empty() || !mt.dport_.empty()) && mt.proto_ != kProtoTcp &&
      mt.proto_ != kProtoUdp) {
    m.fail(mt.sport_.empty() ? "dport" : "sport", "ports need proto: tcp or proto: udp");
  }
  if (mt.flags_mask_ != 0 && mt.proto_ != kProtoTcp) m.fail("tcp_flags", "tcp_flags need proto: tcp");
  mt.any_ = mt.ip_ == 0 && mt.proto_ < 0 && !mt.has_src_ && !mt.has_dst_ && mt.sport_.empty() &&
            mt.dport_.empty() && mt.flags_mask_ == 0;
  return mt;
}

bool Match::applies_at(const StageSite& site) const {
  if (!port_.empty() && port_ != site.port) return false;
  if (direction_ >= 0 && direction_ != (site.egress ? 1 : 0)) return false;
  return true;
}

namespace {
bool in6(const uint8_t* a, const uint8_t* net, uint8_t len) {
  const unsigned whole = len / 8u;
  if (std::memcmp(a, net, whole) != 0) return false;
  if (len % 8u == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - len % 8u));
  return (a[whole] & mask) == (net[whole] & mask);
}
}  // namespace

bool Match::test_slow(const PktView& v) const {
  if (ip_ != 0 && ip_ != v.version) return false;
  if (proto_ >= 0 && proto_ != v.proto) return false;
  for (int dst = 0; dst < 2; ++dst) {
    if (!(dst ? has_dst_ : has_src_)) continue;
    bool hit = false;
    if (v.version == 4) {
      const uint32_t a = get32(v.l3 + (dst ? 16 : 12));
      for (const auto& n : dst ? dst4_ : src4_) hit |= (a & n.mask) == n.net;
    } else {
      const uint8_t* a = v.l3 + (dst ? 24 : 8);
      for (const auto& n : dst ? dst6_ : src6_) hit |= in6(a, n.net, n.len);
    }
    if (!hit) return false;
  }
  if (!sport_.empty() || !dport_.empty()) {
    if (!v.tcp_ok && !v.udp_ok) return false;
    if (!sport_.empty() && !in_ranges(sport_, v.sport)) return false;
    if (!dport_.empty() && !in_ranges(dport_, v.dport)) return false;
  }
  if (flags_mask_ != 0) {
    if (!v.tcp_ok || (v.tcp_flags & flags_mask_) != flags_set_) return false;
  }
  return true;
}

Chance::Chance(double p, uint64_t seed) : always_(p >= 1.0), state_(seed) {
  threshold_ = p <= 0.0 || always_ ? 0 : static_cast<uint64_t>(std::ldexp(p, 64));
}

StageCommon StageCommon::parse(YamlMap& params) {
  StageCommon c;
  if (params.has("stage")) params.node("stage");
  c.match = Match::parse(params);
  if (params.has("probability")) {
    c.probability = params.get<double>("probability");
    if (!(c.probability >= 0.0 && c.probability <= 1.0)) {
      params.fail("probability", fmt::format("{} is not within 0..1", c.probability));
    }
  }
  c.seed = params.has("seed") ? params.get<uint64_t>("seed") : rte_rand();
  return c;
}

uint64_t StageCommon::instance_seed(const StageSite& site) const {
  const size_t h = std::hash<std::string>{}(site.router + "/" + site.port) * 31u +
                   (site.egress ? 1u : 0u) * 7u + site.worker;
  return seed ^ (static_cast<uint64_t>(h) * 0x9e3779b97f4a7c15ull);
}

}  // namespace pathlab
