#pragma once
// Header parsing and the input checks of RFC 1812 5.2.2 (IPv4) and RFC 8200 (IPv6).
// Hot-path functions: inline, no allocation, never read past `len`.
#include <cstdint>

namespace pathlab::parse {

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint16_t kEtherQinQ = 0x88a8;

struct L2 {
  uint16_t ether_type = 0;  // host order, after any VLAN tags
  uint16_t l2_len = 0;      // bytes up to the L3 header
  uint16_t vlan = 0;        // outer VLAN id, 0 if untagged
  bool ok = false;          // false: frame shorter than its L2 headers
};

// Ethernet with up to two 802.1Q / 802.1ad tags.
L2 ethernet(const uint8_t* frame, uint32_t len);

enum class Ip4Result : uint8_t {
  Ok,
  Truncated,       // fewer than 20 bytes
  BadVersion,
  BadHeaderLength, // IHL < 5 or header longer than the data
  BadTotalLength,  // total length < IHL*4 or > data available
  BadChecksum,
};

enum class Ip6Result : uint8_t {
  Ok,
  Truncated,       // fewer than 40 bytes
  BadVersion,
  BadPayloadLength, // 40 + payload length > data available
};

// `len` is the bytes available from the IP header on. verify_checksum is false when the NIC
// has already checked it.
Ip4Result ip4(const uint8_t* ip, uint32_t len, bool verify_checksum);
Ip6Result ip6(const uint8_t* ip, uint32_t len);

// Walk IPv6 extension headers (hop-by-hop, routing, fragment, destination options) to the upper
// layer. Returns false on a truncated or malformed chain. `proto` is the upper-layer protocol,
// `offset` its offset from the IPv6 header.
bool ip6_upper_layer(const uint8_t* ip, uint32_t len, uint8_t& proto, uint32_t& offset);

const char* name(Ip4Result r);
const char* name(Ip6Result r);

}  // namespace pathlab::parse
