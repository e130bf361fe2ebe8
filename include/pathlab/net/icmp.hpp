#pragma once
// Router-generated ICMP and ICMPv6 messages, built in place in the mbuf that caused them.
// The mbuf holds an Ethernet frame: l2_len bytes of L2 header, then the IP packet.
// On success the frame becomes [L2 header space][new IP][ICMP][quote of the original IP packet],
// with every checksum valid; the L2 header bytes are left for the caller to rewrite.
// The quote is as much of the original packet as fits (RFC 1812 4.3.2.3: 576 bytes in all for
// IPv4; RFC 4443 2.4: 1280 bytes for IPv6).
//
// Layout and choices:
//  - The received L2 header (l2_len bytes, at most kMaxL2Len) is moved to the new front of the
//    frame, so VLAN tags survive; the caller rewrites the MAC addresses.
//  - The new header is always the minimal one: IPv4 with no options, TOS 0xc0 (precedence 6,
//    "internetwork control", RFC 1812 4.3.2.5, as Linux does), ID 0, DF clear, TTL 64; IPv6 with
//    traffic class 0, flow label 0, hop limit 64, no extension headers.
//  - The quote is the original IP packet from its header on, cut at its own length (Ethernet
//    padding is not quoted) and at the size limit. The frame shrinks to fit; extra segments of a
//    multi-segment mbuf are freed (the quote is gathered into the first segment).
//  - Refusals (RFC 1812 4.3.2.7, RFC 4443 2.4 (e)) are checked before anything is written: on
//    any Refuse other than None the mbuf is unchanged and the caller drops it.
//  - An error is not sent about a frame whose L2 destination is a group address (link-layer
//    multicast/broadcast), read from the first 6 bytes when l2_len >= 6 (RFC 1812 4.3.2.7,
//    RFC 4443 2.4 (e.3)); that is reported as MulticastDest.
#include <cstdint>

#include "pathlab/net/addr.hpp"

struct rte_mbuf;

namespace pathlab::icmp {

// ICMP types and codes (RFC 792, RFC 1812 5.2.7.1).
inline constexpr uint8_t kIcmp4EchoReply = 0, kIcmp4DestUnreach = 3, kIcmp4SourceQuench = 4,
                         kIcmp4Redirect = 5, kIcmp4Echo = 8, kIcmp4TimeExceeded = 11,
                         kIcmp4ParamProblem = 12;
inline constexpr uint8_t kIcmp4NetUnreach = 0, kIcmp4FragNeeded = 4, kIcmp4AdminProhibited = 13;
// ICMPv6 types (RFC 4443; Neighbor Discovery RFC 4861) and codes.
inline constexpr uint8_t kIcmp6DestUnreach = 1, kIcmp6PacketTooBig = 2, kIcmp6TimeExceeded = 3,
                         kIcmp6ParamProblem = 4, kIcmp6Echo = 128, kIcmp6EchoReply = 129,
                         kIcmp6RouterSolicit = 133, kIcmp6Redirect = 137;
inline constexpr uint8_t kIcmp6NoRoute = 0, kIcmp6AdminProhibited = 1, kIcmp6AddrUnreach = 3;

inline constexpr uint16_t kIp4ErrorMax = 576;
inline constexpr uint16_t kIp6ErrorMax = 1280;
inline constexpr uint8_t kErrorTtl = 64;
inline constexpr uint8_t kErrorTos = 0xc0;  // IPv4 errors: precedence 6 (CS6)
inline constexpr uint16_t kMaxL2Len = 64;   // longer l2_len is refused as Malformed

// Why an error was not generated (RFC 1812 4.3.2.7, RFC 4443 2.4 (e)).
enum class Refuse : uint8_t {
  None,
  NotFirstFragment,  // IPv4 fragment offset != 0
  AboutIcmpError,    // the packet is itself an ICMP error
  BadSource,         // source is multicast, broadcast, loopback, unspecified
  MulticastDest,     // destination is multicast/broadcast (except IPv6 PTB)
  NoHeadroom,        // mbuf cannot grow (buffer too small, or indirect / shared mbuf)
  Malformed,         // no complete IP header after l2_len, wrong version, bad lengths
};

const char* name(Refuse r);

// IPv4 source / destination classes for RFC 1812 4.3.2.7 (host-order addresses).
// Not a single host: 0/8, 127/8, 224/4 (multicast), 240/4 (class E, incl. 255.255.255.255).
inline bool ip4_bad_error_source(uint32_t a) {
  const uint32_t top = a >> 24;
  return top == 0 || top == 127 || top >= 224;
}
inline bool ip4_multicast_or_broadcast(uint32_t a) { return (a >> 28) == 0xe || a == 0xffffffffu; }
// ICMPv4 types that are error messages (RFC 1812 4.3.2.7 / RFC 792): destination unreachable,
// source quench, redirect, time exceeded, parameter problem.
inline bool ip4_is_error_type(uint8_t t) {
  return t == kIcmp4DestUnreach || t == kIcmp4SourceQuench || t == kIcmp4Redirect ||
         t == kIcmp4TimeExceeded || t == kIcmp4ParamProblem;
}
// ICMPv6 error messages have types below 128 (RFC 4443 2.1).
inline bool ip6_is_error_type(uint8_t t) { return t < 128; }
// Neighbor Discovery messages: router solicitation to redirect (RFC 4861 4).
inline bool ip6_is_nd_type(uint8_t t) { return t >= kIcmp6RouterSolicit && t <= kIcmp6Redirect; }

// A Refuse other than None leaves the mbuf untouched.
// type/code per RFC 792; `rest` is the 32-bit word after the checksum (host order), e.g. the
// next-hop MTU in its low 16 bits for fragmentation-needed (type 3 code 4).
Refuse make_ip4_error(rte_mbuf* m, uint16_t l2_len, uint8_t type, uint8_t code, uint32_t rest,
                      Ip4Addr src);
// ICMPv6 type/code per RFC 4443; `rest` is the MTU for packet-too-big (type 2), the pointer for
// parameter problem (type 4). A multicast destination is allowed for packet-too-big and for
// parameter problem code 2 (RFC 4443 2.4 (e.3)). BadSource: ::, ::1, ff00::/8.
// IPv6 has no NotFirstFragment refusal; AboutIcmpError walks the extension headers within the
// quote (a chain that cannot be walked counts as not ICMPv6).
Refuse make_ip6_error(rte_mbuf* m, uint16_t l2_len, uint8_t type, uint8_t code, uint32_t rest,
                      const Ip6Addr& src);

// Echo request -> echo reply in place: swap addresses, set the type, fix checksums, reset TTL /
// hop limit to kErrorTtl. Only for unicast destinations (the router's own address).
// Both checksums are updated incrementally (RFC 1624); IPv4 options and IPv6 extension headers
// are kept. The packet is left untouched unless it is an echo request (ICMP type 8 / ICMPv6
// type 128) whose headers are in the first segment (a multi-segment mbuf is linearized first
// when it has to be and can be).
void make_ip4_echo_reply(rte_mbuf* m, uint16_t l2_len);
void make_ip6_echo_reply(rte_mbuf* m, uint16_t l2_len);

}  // namespace pathlab::icmp
