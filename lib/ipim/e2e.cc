// The end-to-end block codec and the integrity digests (docs/ipim.md, "End-to-end block").
#include "pathlab/ipim/e2e.hpp"

#include <sstream>

#include <fmt/format.h>

#include "pathlab/ipim/json_writer.hpp"
#include "pathlab/ipim/option_fields.hpp"
#include "pathlab/ipim/wire.hpp"

namespace pathlab::ipim {

namespace {

constexpr const char* kGroupNames[kGroups] = {"dscp", "ecn", "df", "ipid",
                                              "src", "dst", "ports", "length"};

uint32_t fnv1a(uint32_t h, std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) h = (h ^ b) * 16777619u;
  return h;
}

// Group g's field bits, right-aligned in whole bytes, network order.
std::vector<uint8_t> field_bytes(const HeaderFields& h, unsigned g) {
  uint8_t b[4];
  switch (g) {
    case kDscp: return {static_cast<uint8_t>(h.tos >> 2)};
    case kEcn: return {static_cast<uint8_t>(h.tos & 3)};
    case kDfOrFlow:
      if (!h.ip6) return {static_cast<uint8_t>(h.df_or_flow & 1)};
      wr32(b, h.df_or_flow & 0xfffff);
      return {b + 1, b + 4};
    case kIpId: wr16(b, h.ip_id); return {b, b + 2};
    case kSrc: return {h.src.begin(), h.src.begin() + (h.ip6 ? 16 : 4)};
    case kDst: return {h.dst.begin(), h.dst.begin() + (h.ip6 ? 16 : 4)};
    case kPorts:
      wr16(b, h.sport);
      wr16(b + 2, h.dport);
      return {b, b + 4};
    default: wr16(b, h.payload_len); return {b, b + 2};
  }
}

}  // namespace

const char* group_name(unsigned group, bool ip6) {
  if (group == kDfOrFlow && ip6) return "flowlabel";
  return group < kGroups ? kGroupNames[group] : "?";
}

std::optional<uint16_t> parse_coverage(const std::string& list) {
  if (list == "all") return kCoverAll;
  if (list == "none" || list.empty()) return 0;
  uint16_t mask = 0;
  std::stringstream ss(list);
  for (std::string name; std::getline(ss, name, ',');) {
    unsigned g = 0;
    while (g < kGroups && name != kGroupNames[g] && !(g == kDfOrFlow && name == "flowlabel")) ++g;
    if (g == kGroups) return std::nullopt;
    mask |= 1u << g;
  }
  return mask;
}

std::vector<uint8_t> encode_e2e(const E2eBlock& b) {
  const bool echo = b.type == kE2eEcho;
  std::vector<uint8_t> out(echo ? kE2eEchoFixed + b.rx_option.size() : kE2eProbeLen, 0);
  uint8_t* p = out.data();
  wr32(p, kE2eMagic);
  p[4] = kE2eVersion;
  p[5] = b.type;
  wr16(p + 6, b.host_id);
  wr32(p + 8, b.seq);
  wr32(p + 12, b.nonce);
  wr32(p + 16, b.nonce_sum);
  wr32(p + 20, b.t);
  wr32(p + 24, b.t_echo);
  wr32(p + 28, b.delta);
  wr16(p + 32, b.coverage);
  p[34] = b.mode;
  std::copy(b.hash.begin(), b.hash.end(), p + 36);
  std::copy(b.hash_echo.begin(), b.hash_echo.end(), p + 44);
  if (echo) {
    p[52] = b.rx_ttl;
    p[53] = b.rx_tos;
    wr16(p + 54, static_cast<uint16_t>(b.rx_option.size()));
    std::copy(b.rx_option.begin(), b.rx_option.end(), p + kE2eEchoFixed);
  }
  return out;
}

std::optional<E2eBlock> decode_e2e(std::span<const uint8_t> in) {
  if (in.size() < kE2eProbeLen || rd32(in.data()) != kE2eMagic || in[4] != kE2eVersion)
    return std::nullopt;
  const uint8_t* p = in.data();
  E2eBlock b;
  b.type = p[5];
  if (b.type != kE2eProbe && b.type != kE2eEcho) return std::nullopt;
  b.host_id = rd16(p + 6);
  b.seq = rd32(p + 8);
  b.nonce = rd32(p + 12);
  b.nonce_sum = rd32(p + 16);
  b.t = rd32(p + 20);
  b.t_echo = rd32(p + 24);
  b.delta = rd32(p + 28);
  b.coverage = rd16(p + 32);
  b.mode = p[34];
  std::copy(p + 36, p + 44, b.hash.begin());
  std::copy(p + 44, p + 52, b.hash_echo.begin());
  if (b.type == kE2eEcho) {
    if (in.size() < kE2eEchoFixed) return std::nullopt;
    b.rx_ttl = p[52];
    b.rx_tos = p[53];
    const unsigned n = rd16(p + 54);
    if (in.size() < kE2eEchoFixed + n) return std::nullopt;
    b.rx_option.assign(p + kE2eEchoFixed, p + kE2eEchoFixed + n);
  }
  return b;
}

std::array<uint8_t, kGroups> digests(const HeaderFields& h, uint16_t coverage,
                                     std::span<const uint8_t> salt) {
  std::array<uint8_t, kGroups> out{};
  for (unsigned g = 0; g < kGroups; ++g) {
    if (!(coverage & (1u << g))) continue;
    const uint8_t index = static_cast<uint8_t>(g);
    uint32_t h32 = fnv1a(2166136261u, salt);
    h32 = fnv1a(h32, {&index, 1});
    out[g] = static_cast<uint8_t>(fnv1a(h32, field_bytes(h, g)));
  }
  return out;
}

std::string e2e_json(const E2eBlock* b) {
  const bool echo = b && b->type == kE2eEcho;
  const bool has_option = echo && !b->rx_option.empty();
  auto field = [&](auto v) { return b ? std::optional(v) : std::nullopt; };
  auto echo_field = [&](auto v) { return echo ? std::optional(v) : std::nullopt; };
  JsonObject o;
  o.add("version", field(kE2eVersion)).add("type", field(b ? b->type : 0))
      .add("host_id", field(b ? b->host_id : 0)).add("seq", field(b ? b->seq : 0))
      .add("nonce", field(b ? b->nonce : 0)).add("nonce_sum_echo", field(b ? b->nonce_sum : 0))
      .add("t_us", field(b ? b->t : 0)).add("t_echo_us", field(b ? b->t_echo : 0))
      .add("delta_us", field(b ? b->delta : 0)).add("coverage", field(b ? b->coverage : 0))
      .add("mode", field(b ? b->mode : 0)).add("hash", field(b ? hex(b->hash) : ""))
      .add("hash_echo", field(b ? hex(b->hash_echo) : ""))
      .add("rx_ttl", echo_field(b ? b->rx_ttl : 0)).add("rx_tos", echo_field(b ? b->rx_tos : 0))
      .add("option_len", echo_field(b ? b->rx_option.size() : 0))
      .add("option_bytes", has_option ? std::optional(hex(b->rx_option)) : std::nullopt);
  const uint8_t type = has_option ? b->rx_option[0] : 0;
  o.raw("option", type == kIp4Type || type == kIp6Type
                      ? option_json(read_option(b->rx_option, type == kIp6Type)).str()
                      : "null");
  o.raw("malformed", b ? "null" : "\"short\"");
  return o.str();
}

std::string e2e_text(const E2eBlock& b, const std::string& in) {
  std::string out = fmt::format(
      "{}end-to-end {}: host id {:#06x}, seq {}, nonce {}, nonce sum {}, t {}, t echo {}, delta {} us\n"
      "{}integrity: coverage {:#04x}, mode {}, hash {}, hash echo {}\n",
      in, b.type == kE2eEcho ? "echo" : "probe", b.host_id, b.seq, b.nonce, b.nonce_sum, b.t,
      b.t_echo, b.delta, in, b.coverage, b.mode, hex(b.hash), hex(b.hash_echo));
  if (b.type == kE2eEcho)
    out += fmt::format("{}as received: TTL {}, TOS {:#04x}, option {}\n", in, b.rx_ttl, b.rx_tos,
                       b.rx_option.empty() ? "none" : hex(b.rx_option));
  return out;
}

uint16_t changed_groups(uint16_t coverage, const std::array<uint8_t, kGroups>& a,
                        const std::array<uint8_t, kGroups>& b) {
  uint16_t mask = 0;
  for (unsigned g = 0; g < kGroups; ++g)
    if ((coverage & (1u << g)) && a[g] != b[g]) mask |= 1u << g;
  return mask;
}

}  // namespace pathlab::ipim
