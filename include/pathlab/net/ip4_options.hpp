#pragma once
// IPv4 options (RFC 791 3.1): the types, and the walk over a header's option area, bytes 20 to
// IHL*4. Offsets are from the start of the IPv4 header. The caller has checked IHL against the
// bytes it has (parse::ip4 or the packet view do); nothing past IHL*4 is read.
#include <cstdint>

#include "pathlab/net/tlv.hpp"

namespace pathlab::ip4opt {

// Option types (IANA "IP Option Numbers"): copied flag, class and number in one byte.
inline constexpr uint8_t kEol = 0, kNop = 1, kRecordRoute = 7, kQuickStart = 25, kTimestamp = 68,
                         kTraceroute = 82, kSecurity = 130, kLsrr = 131, kExtSecurity = 133,
                         kCipso = 134, kStreamId = 136, kSsrr = 137, kRouterAlert = 148;
// RFC 4727's experimental type 94 (not copied, class 2, number 30): the IPIM option.
inline constexpr uint8_t kExperiment94 = 0x5e;

inline constexpr unsigned kMaxArea = 40;  // IHL 15 words, minus the 20-byte header

// Copied into every fragment (RFC 791: the top bit of the type).
inline bool copied(uint8_t type) { return (type & 0x80) != 0; }

using tlv::Option;
using tlv::Walk;

inline uint32_t header_len(const uint8_t* ip) { return (ip[0] & 0x0fu) * 4u; }

// Calls fn(const Option&) -> bool (false: stop) for each option before EOL, NOPs included.
template <typename Fn>
inline Walk for_each(const uint8_t* ip, Fn&& fn) {
  return tlv::walk<tlv::kKindLength>(ip, 20, header_len(ip), static_cast<Fn&&>(fn));
}

// The whole option area holds whole options (a length of at least 2, none past the header).
inline bool valid(const uint8_t* ip) {
  return tlv::valid<tlv::kKindLength>(ip, 20, header_len(ip));
}

// The first option of `type`, in a list whole up to it.
inline bool find(const uint8_t* ip, uint8_t type, Option& out) {
  return tlv::find<tlv::kKindLength>(ip, 20, header_len(ip), type, out);
}

}  // namespace pathlab::ip4opt
