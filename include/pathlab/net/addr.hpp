#pragma once
// Address value types: MAC, IPv4 and IPv6 addresses and prefixes.
// IPv4 addresses are kept in host byte order; IPv6 as 16 network-order bytes.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pathlab {

struct MacAddr {
  std::array<uint8_t, 6> b{};
  auto operator<=>(const MacAddr&) const = default;
  bool is_zero() const { return b == std::array<uint8_t, 6>{}; }
};

struct Ip4Addr {
  uint32_t v = 0;  // host byte order
  auto operator<=>(const Ip4Addr&) const = default;
};

struct Ip6Addr {
  std::array<uint8_t, 16> b{};
  auto operator<=>(const Ip6Addr&) const = default;
  bool is_link_local() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
  bool is_multicast() const { return b[0] == 0xff; }
};

struct Ip4Prefix {
  Ip4Addr addr;
  uint8_t len = 0;
  auto operator<=>(const Ip4Prefix&) const = default;
  bool contains(Ip4Addr a) const;
  Ip4Prefix network() const;  // host bits cleared
};

struct Ip6Prefix {
  Ip6Addr addr;
  uint8_t len = 0;
  auto operator<=>(const Ip6Prefix&) const = default;
  bool contains(const Ip6Addr& a) const;
  Ip6Prefix network() const;
};

std::optional<MacAddr> parse_mac(std::string_view s);
std::optional<Ip4Addr> parse_ip4(std::string_view s);
std::optional<Ip6Addr> parse_ip6(std::string_view s);
// "a.b.c.d/len"; a bare address is a /32 (or /128) only when allow_bare is true.
std::optional<Ip4Prefix> parse_ip4_prefix(std::string_view s, bool allow_bare = false);
std::optional<Ip6Prefix> parse_ip6_prefix(std::string_view s, bool allow_bare = false);

std::string to_string(const MacAddr& m);
std::string to_string(Ip4Addr a);
std::string to_string(const Ip6Addr& a);
std::string to_string(const Ip4Prefix& p);
std::string to_string(const Ip6Prefix& p);

// Solicited-node multicast address ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX.
Ip6Addr solicited_node(const Ip6Addr& a);
MacAddr multicast_mac(const Ip6Addr& a);
// fe80::/64 with a modified EUI-64 interface id from the MAC.
Ip6Addr link_local_from_mac(const MacAddr& m);

}  // namespace pathlab
