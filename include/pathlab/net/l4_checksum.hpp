#pragma once
// The transport checksum of a viewed packet (net/view.hpp): where it is, incremental updates
// when covered words change, and full computation and checks. The arithmetic is net/checksum.hpp.
#include <cstdint>

#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"
#include "pathlab/net/constants.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab {

// Offset of the transport checksum within l4 (TCP 16, UDP 6, ICMPv6 2), or -1 when there is none
// this code maintains (ICMPv4's does not cover the IP header, so IP changes leave it alone).
inline int l4_cksum_offset(const PktView& v) {
  if (v.l4 == nullptr) return -1;
  if (v.proto == kProtoTcp && v.l4_len >= 18) return 16;
  if (v.proto == kProtoUdp && v.l4_len >= 8) return 6;
  if (v.proto == kProtoIcmp6 && v.l4_len >= 4) return 2;
  return -1;
}

// A 16-bit word covered by the transport checksum changed from old_w to new_w (network order):
// a header field, or a pseudo-header field (an address half, the length); or a covered area
// whose sum changed so. UDP over IPv4 with a zero checksum has none and stays 0; a computed 0 is
// sent as 0xffff (RFC 768).
inline void l4_update16(const PktView& v, uint16_t old_w, uint16_t new_w) {
  const int off = l4_cksum_offset(v);
  if (off < 0 || old_w == new_w) return;
  uint8_t* c = v.l4 + off;
  const uint16_t ck = get16(c);
  if (v.proto == kProtoUdp) {
    if (ck == 0 && v.version == 4) return;
    uint16_t n = csum::update16(ck, old_w, new_w);
    put16(c, n == 0 ? 0xffff : n);
    return;
  }
  put16(c, csum::update16(ck, old_w, new_w));
}
inline void l4_update32(const PktView& v, uint32_t old_v, uint32_t new_v) {
  l4_update16(v, static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
  l4_update16(v, static_cast<uint16_t>(old_v >> 16), static_cast<uint16_t>(new_v >> 16));
}

// The transport header's word at `off` (even) becomes w (network order); its checksum follows.
inline void l4_set16(const PktView& v, unsigned off, uint16_t w) {
  const uint16_t old = get16(v.l4 + off);
  put16(v.l4 + off, w);
  l4_update16(v, old, w);
}

// The sum of the pseudo-header and `len` transport bytes at v.l4.
inline uint16_t l4_sum(const PktView& v, uint32_t len) {
  return csum::transport(v.l3, v.version, v.proto, v.l4, len);
}

// Bytes the transport checksum covers: UDP's own length when it is sane (8..l4_len), else all.
inline uint32_t l4_cover_len(const PktView& v) {
  if (v.proto == kProtoUdp && v.l4_len >= 8) {
    const uint32_t ulen = load_be16(v.l4 + 4);
    if (ulen >= 8 && ulen <= v.l4_len) return ulen;
  }
  return v.l4_len;
}

// Recomputes the transport checksum over the pseudo-header (the IPv6 upper-layer length is the
// transport length, extension headers excluded). UDP: a result of 0 is sent as 0xffff.
inline void l4_cksum_full(const PktView& v) {
  const int off = l4_cksum_offset(v);
  if (off < 0) return;
  put16(v.l4 + off, 0);
  uint16_t ck = static_cast<uint16_t>(~l4_sum(v, l4_cover_len(v)));
  if (ck == 0 && v.proto == kProtoUdp) ck = 0xffff;
  put16(v.l4 + off, ck);
}

// True when the transport checksum verifies (UDP over IPv4 with 0: none, counts as valid).
inline bool l4_cksum_valid(const PktView& v) {
  const int off = l4_cksum_offset(v);
  if (off < 0) return true;
  if (v.proto == kProtoUdp && v.version == 4 && get16(v.l4 + off) == 0) return true;
  return l4_sum(v, l4_cover_len(v)) == 0xffff;
}

}  // namespace pathlab
