// Address parsing and formatting. Control-path code: nothing here runs per packet.
#include "pathlab/net/addr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace pathlab {
namespace {

// inet_pton wants a NUL-terminated string; reject anything that could not be an address.
template <size_t N>
bool to_cstr(std::string_view s, char (&out)[N]) {
  if (s.empty() || s.size() >= N || s.find('\0') != std::string_view::npos) {
    return false;
  }
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal prefix length: 1-3 digits, no sign, no leading zero (except "0"), <= max.
std::optional<uint8_t> parse_len(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<uint8_t>(v);
}

uint32_t mask4(uint8_t len) { return len == 0 ? 0 : len >= 32 ? ~0u : ~0u << (32 - len); }

template <typename Prefix, typename ParseAddr>
std::optional<Prefix> parse_prefix(std::string_view s, bool allow_bare, unsigned max,
                                   ParseAddr parse_addr) {
  const size_t slash = s.find('/');
  auto addr = parse_addr(s.substr(0, slash));
  if (!addr) return std::nullopt;
  if (slash == std::string_view::npos) {
    if (!allow_bare) return std::nullopt;
    return Prefix{*addr, static_cast<uint8_t>(max)};
  }
  auto len = parse_len(s.substr(slash + 1), max);
  if (!len) return std::nullopt;
  return Prefix{*addr, *len};
}

}  // namespace

bool Ip4Prefix::contains(Ip4Addr a) const { return ((a.v ^ addr.v) & mask4(len)) == 0; }

Ip4Prefix Ip4Prefix::network() const { return Ip4Prefix{Ip4Addr{addr.v & mask4(len)}, len}; }

bool Ip6Prefix::contains(const Ip6Addr& a) const {
  const unsigned l = len > 128 ? 128 : len;
  const unsigned full = l / 8;
  if (std::memcmp(a.b.data(), addr.b.data(), full) != 0) return false;
  if (l % 8 == 0) return true;
  const uint8_t m = static_cast<uint8_t>(0xff << (8 - l % 8));
  return ((a.b[full] ^ addr.b[full]) & m) == 0;
}

Ip6Prefix Ip6Prefix::network() const {
  Ip6Prefix p = *this;
  const unsigned l = len > 128 ? 128 : len;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bits = l > i * 8 ? l - i * 8 : 0;
    if (bits >= 8) continue;
    p.addr.b[i] &= static_cast<uint8_t>(0xff00 >> bits);
  }
  return p;
}

// "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff" (one separator throughout), two hex digits a byte.
std::optional<MacAddr> parse_mac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  const char sep = s[2];
  if (sep != ':' && sep != '-') return std::nullopt;
  MacAddr m;
  for (size_t i = 0; i < 6; ++i) {
    const size_t o = i * 3;
    if (i > 0 && s[o - 1] != sep) return std::nullopt;
    const int hi = hex_digit(s[o]);
    const int lo = hex_digit(s[o + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    m.b[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return m;
}

// Dotted quad only (inet_pton: no shorthand forms, no leading zeros, no trailing junk).
std::optional<Ip4Addr> parse_ip4(std::string_view s) {
  char buf[INET_ADDRSTRLEN];
  in_addr a;
  if (!to_cstr(s, buf) || inet_pton(AF_INET, buf, &a) != 1) return std::nullopt;
  return Ip4Addr{ntohl(a.s_addr)};
}

std::optional<Ip6Addr> parse_ip6(std::string_view s) {
  char buf[INET6_ADDRSTRLEN];
  Ip6Addr a;
  if (!to_cstr(s, buf) || inet_pton(AF_INET6, buf, a.b.data()) != 1) return std::nullopt;
  return a;
}

std::optional<Ip4Prefix> parse_ip4_prefix(std::string_view s, bool allow_bare) {
  return parse_prefix<Ip4Prefix>(s, allow_bare, 32, parse_ip4);
}

std::optional<Ip6Prefix> parse_ip6_prefix(std::string_view s, bool allow_bare) {
  return parse_prefix<Ip6Prefix>(s, allow_bare, 128, parse_ip6);
}

std::string to_string(const MacAddr& m) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(17, ':');
  for (size_t i = 0; i < 6; ++i) {
    s[i * 3] = kHex[m.b[i] >> 4];
    s[i * 3 + 1] = kHex[m.b[i] & 0xf];
  }
  return s;
}

std::string to_string(Ip4Addr a) {
  char buf[INET_ADDRSTRLEN];
  const in_addr n{htonl(a.v)};
  inet_ntop(AF_INET, &n, buf, sizeof buf);
  return buf;
}

// RFC 5952 canonical text (inet_ntop: lower case, longest zero run compressed).
std::string to_string(const Ip6Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a.b.data(), buf, sizeof buf);
  return buf;
}

std::string to_string(const Ip4Prefix& p) {
  return to_string(p.addr) + '/' + std::to_string(p.len);
}

std::string to_string(const Ip6Prefix& p) {
  return to_string(p.addr) + '/' + std::to_string(p.len);
}

// RFC 4291 2.7.1: ff02::1:ff00:0/104 plus the low 24 bits of the address.
Ip6Addr solicited_node(const Ip6Addr& a) {
  Ip6Addr s{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff}};
  s.b[13] = a.b[13];
  s.b[14] = a.b[14];
  s.b[15] = a.b[15];
  return s;
}

// RFC 2464 7: 33:33 followed by the low 32 bits of the multicast address.
MacAddr multicast_mac(const Ip6Addr& a) {
  return MacAddr{{0x33, 0x33, a.b[12], a.b[13], a.b[14], a.b[15]}};
}

// RFC 4291 appendix A: insert ff:fe in the middle and invert the universal/local bit.
Ip6Addr link_local_from_mac(const MacAddr& m) {
  return Ip6Addr{{0xfe, 0x80, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(m.b[0] ^ 0x02), m.b[1], m.b[2],
                  0xff, 0xfe, m.b[3], m.b[4], m.b[5]}};
}

}  // namespace pathlab
