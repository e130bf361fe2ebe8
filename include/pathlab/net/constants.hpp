#pragma once
// Protocol numbers and header constants, defined once for the whole code base.
#include <cstdint>

namespace pathlab {

// IP protocol numbers (IANA).
inline constexpr uint8_t kProtoIcmp4 = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp6 = 58;

// TCP flag bits (byte 13 of the header).
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

}  // namespace pathlab
