#pragma once
// Protocol numbers and header field constants, defined once for the whole code base. Ethertypes,
// header lengths and IPv6 extension-header numbers are in net/parse.hpp; option types in
// net/ip4_options.hpp, net/ip6_ext.hpp and net/tcp_options.hpp; ICMP types in net/icmp.hpp.
#include <cstdint>

namespace pathlab {

// IP protocol numbers (IANA).
inline constexpr uint8_t kProtoIcmp4 = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp6 = 58;

// The IPv4 flags / fragment offset word (bytes 6-7, host order): the reserved "evil" bit
// (RFC 3514), DF, MF, and the offset; a packet with MF or an offset is a fragment.
inline constexpr uint16_t kIp4Evil = 0x8000, kIp4Df = 0x4000, kIp4Mf = 0x2000,
                          kIp4OffsetMask = 0x1fff, kIp4FragmentMask = 0x3fff;

// The IPv4 ToS / IPv6 traffic class: DSCP in the high six bits (RFC 2474), ECN in the low two
// (RFC 3168 5).
inline constexpr uint8_t kEcnMask = 0x03;

// TCP flag bits (byte 13 of the header).
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

}  // namespace pathlab
