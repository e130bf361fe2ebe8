#pragma once
// Router-generated ICMP and ICMPv6 messages, built in place in the mbuf that caused them.
// The mbuf holds an Ethernet frame: l2_len bytes of L2 header, then the IP packet.
// On success the frame becomes [L2 header space][new IP][ICMP][quote of the original IP packet],
// with every checksum valid; the L2 header bytes are left for the caller to rewrite.
// The quote is as much of the original packet as fits (RFC 1812 4.3.2.3: 576 bytes in all for
// IPv4; RFC 4443 2.4: 1280 bytes for IPv6).
#include <cstdint>

#include "pathlab/net/addr.hpp"

struct rte_mbuf;

namespace pathlab::icmp {

inline constexpr uint16_t kIp4ErrorMax = 576;
inline constexpr uint16_t kIp6ErrorMax = 1280;
inline constexpr uint8_t kErrorTtl = 64;

// Why an error was not generated (RFC 1812 4.3.2.7, RFC 4443 2.4 (e)).
enum class Refuse : uint8_t {
  None,
  NotFirstFragment,   // IPv4 fragment offset != 0
  AboutIcmpError,     // the packet is itself an ICMP error
  BadSource,          // source is multicast, broadcast, loopback, unspecified
  MulticastDest,      // destination is multicast/broadcast (except IPv6 PTB)
  NoHeadroom,         // mbuf cannot grow
};

// type/code per RFC 792; `rest` is the 32-bit word after the checksum (host order), e.g. the
// next-hop MTU in its low 16 bits for fragmentation-needed (type 3 code 4).
Refuse make_ip4_error(rte_mbuf* m, uint16_t l2_len, uint8_t type, uint8_t code, uint32_t rest,
                      Ip4Addr src);
// ICMPv6 type/code per RFC 4443; `rest` is the MTU for packet-too-big (type 2).
Refuse make_ip6_error(rte_mbuf* m, uint16_t l2_len, uint8_t type, uint8_t code, uint32_t rest,
                      const Ip6Addr& src);

// Echo request -> echo reply in place: swap addresses, set the type, fix checksums, reset TTL /
// hop limit to kErrorTtl. Only for unicast destinations (the router's own address).
void make_ip4_echo_reply(rte_mbuf* m, uint16_t l2_len);
void make_ip6_echo_reply(rte_mbuf* m, uint16_t l2_len);

}  // namespace pathlab::icmp
