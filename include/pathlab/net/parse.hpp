#pragma once
// Header parsing and the input checks of RFC 1812 5.2.2 (IPv4) and RFC 8200 (IPv6).
// Hot-path functions: inline, no allocation, never read past `len`. Pointers need no alignment:
// every multi-byte field is read byte by byte or with memcpy (net/bytes.hpp).
#include <cstdint>

#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"

namespace pathlab::parse {

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint16_t kEtherQinQ = 0x88a8;

inline constexpr uint16_t kEtherHdrLen = 14;
inline constexpr uint16_t kVlanTagLen = 4;
inline constexpr uint16_t kIp4MinHdrLen = 20;
inline constexpr uint16_t kIp6HdrLen = 40;

// IPv6 next-header values that ip6_upper_layer() walks over.
inline constexpr uint8_t kIp6HopByHop = 0;
inline constexpr uint8_t kIp6Routing = 43;
inline constexpr uint8_t kIp6Fragment = 44;
inline constexpr uint8_t kIp6Ah = 51;
inline constexpr uint8_t kIp6NoNext = 59;
inline constexpr uint8_t kIp6DestOpts = 60;

using pathlab::load_be16;  // net/bytes.hpp
using pathlab::load_be32;

struct L2 {
  uint16_t ether_type = 0;  // host order, after any VLAN tags
  uint16_t l2_len = 0;      // bytes up to the L3 header
  uint16_t vlan = 0;        // outer VLAN id, 0 if untagged
  bool ok = false;          // false: frame shorter than its L2 headers
};

// Ethernet with up to two 802.1Q / 802.1ad tags. A third tag is not stripped: ether_type is
// then the tag's TPID, which no L3 handler accepts.
inline L2 ethernet(const uint8_t* frame, uint32_t len) {
  L2 r;
  if (len < kEtherHdrLen) [[unlikely]] {
    return r;
  }
  uint16_t off = kEtherHdrLen;
  uint16_t type = load_be16(frame + 12);
  for (int tags = 0; tags < 2 && (type == kEtherVlan || type == kEtherQinQ); ++tags) {
    if (len < uint32_t{off} + kVlanTagLen) [[unlikely]] {
      return r;
    }
    if (tags == 0) {
      r.vlan = load_be16(frame + off) & 0x0fff;
    }
    type = load_be16(frame + off + 2);
    off += kVlanTagLen;
  }
  r.ether_type = type;
  r.l2_len = off;
  r.ok = true;
  return r;
}

enum class Ip4Result : uint8_t {
  Ok,
  Truncated,  // fewer than 20 bytes
  BadVersion,
  BadHeaderLength,  // IHL < 5 or header longer than the data
  BadTotalLength,   // total length < IHL*4 or > data available
  BadChecksum,
};

enum class Ip6Result : uint8_t {
  Ok,
  Truncated,  // fewer than 40 bytes
  BadVersion,
  BadPayloadLength,  // 40 + payload length > data available
};

// `len` is the bytes available from the IP header on. verify_checksum is false when the NIC
// has already checked it. Checks run in the order of the enum; the first failure is returned.
inline Ip4Result ip4(const uint8_t* ip, uint32_t len, bool verify_checksum) {
  if (len < kIp4MinHdrLen) [[unlikely]] {
    return Ip4Result::Truncated;
  }
  if ((ip[0] >> 4) != 4) [[unlikely]] {
    return Ip4Result::BadVersion;
  }
  const uint32_t hlen = (ip[0] & 0x0fu) * 4;
  if (hlen < kIp4MinHdrLen || hlen > len) [[unlikely]] {
    return Ip4Result::BadHeaderLength;
  }
  const uint32_t total = load_be16(ip + 2);
  if (total < hlen || total > len) [[unlikely]] {
    return Ip4Result::BadTotalLength;
  }
  // A correct header sums to 0xffff (ones' complement -0); data with version 4 is never all zero.
  if (verify_checksum) {
    if (csum::ip4_header_sum(ip, hlen) != 0xffff) [[unlikely]] {
      return Ip4Result::BadChecksum;
    }
  }
  return Ip4Result::Ok;
}

inline Ip6Result ip6(const uint8_t* ip, uint32_t len) {
  if (len < kIp6HdrLen) [[unlikely]] {
    return Ip6Result::Truncated;
  }
  if ((ip[0] >> 4) != 6) [[unlikely]] {
    return Ip6Result::BadVersion;
  }
  if (kIp6HdrLen + uint32_t{load_be16(ip + 4)} > len) [[unlikely]] {
    return Ip6Result::BadPayloadLength;
  }
  return Ip6Result::Ok;
}

inline bool is_ip6_ext_header(uint8_t nh) {
  return nh == kIp6HopByHop || nh == kIp6Routing || nh == kIp6Fragment || nh == kIp6Ah ||
         nh == kIp6DestOpts;
}

// Walk IPv6 extension headers (hop-by-hop, routing, fragment, destination options, and AH) to
// the upper layer. `ok` is false on a truncated or malformed chain (including hop-by-hop anywhere
// but first). `proto` is the upper-layer protocol, `offset` its offset from the IPv6 header.
// For a non-first fragment there is no upper-layer header: the walk stops at the fragment header
// with proto = kIp6Fragment and offset pointing at it. No Next Header (59) ends the walk with
// proto = 59. `fragment` is set when a fragment header was crossed or reached. `len` must be at
// least 40 (the IPv6 header); bytes past it are never read.
struct Ip6Walk {
  bool ok = false;
  bool fragment = false;
};
Ip6Walk ip6_walk(const uint8_t* ip, uint32_t len, uint8_t& proto, uint32_t& offset);
inline bool ip6_upper_layer(const uint8_t* ip, uint32_t len, uint8_t& proto, uint32_t& offset) {
  return ip6_walk(ip, len, proto, offset).ok;
}

const char* name(Ip4Result r);
const char* name(Ip6Result r);

}  // namespace pathlab::parse
