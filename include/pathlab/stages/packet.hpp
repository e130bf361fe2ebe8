#pragma once
// What a rewriting stage needs: the packet view (net/view.hpp, parsed once by the input step) and
// the checksum helpers. Nothing past the IP packet's own length is read or written.
#include <cstdint>
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/net/checksum.hpp"
#include "pathlab/net/constants.hpp"
#include "pathlab/net/view.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab {

// The stored view (net/view.hpp) as pointers; l3-only stages read the same view.
inline bool view_l3(rte_mbuf* m, PktView& v) { return view_packet(m, v); }

// A cheap look for stages that act only on TCP SYNs: true when the packet is certainly not TCP
// with SYN set.
inline bool surely_not_tcp_syn(const rte_mbuf* m) {
  const StoredView& s = stored_view(m);
  return (s.flags & kViewTcpOk) == 0 || (s.tcp_flags & kTcpSyn) == 0;
}

// ---- checksums ------------------------------------------------------------------------------

inline uint16_t get16(const uint8_t* p) {
  uint16_t w;
  std::memcpy(&w, p, 2);
  return w;
}
inline void put16(uint8_t* p, uint16_t w) { std::memcpy(p, &w, 2); }
inline uint32_t get32(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
inline void put32(uint8_t* p, uint32_t w) { std::memcpy(p, &w, 4); }

// Offset of the transport checksum within l4 (TCP 16, UDP 6, ICMPv6 2), or -1 when there is none
// this code maintains (ICMPv4's does not cover the IP header, so IP changes leave it alone).
inline int l4_cksum_offset(const PktView& v) {
  if (v.l4 == nullptr) return -1;
  if (v.proto == kProtoTcp && v.l4_len >= 18) return 16;
  if (v.proto == kProtoUdp && v.l4_len >= 8) return 6;
  if (v.proto == kProtoIcmp6 && v.l4_len >= 4) return 2;
  return -1;
}

// IPv4 header: one 16-bit word at byte offset `off` (even) becomes `w` (network order).
inline void ip4_set16(uint8_t* l3, unsigned off, uint16_t w) {
  const uint16_t old = get16(l3 + off);
  put16(l3 + 10, csum::update16(get16(l3 + 10), old, w));
  put16(l3 + off, w);
}

// The IPv4 ToS byte or the IPv6 traffic class (across bytes 0-1): DSCP in the high six bits, ECN
// in the low two.
inline uint8_t traffic_class(const PktView& v) {
  if (v.version == 4) return v.l3[1];
  return static_cast<uint8_t>((v.l3[0] & 0x0f) << 4 | v.l3[1] >> 4);
}

// IPv4 keeps its header checksum (RFC 1624; TCP/UDP pseudo-headers do not cover the ToS). The
// IPv6 traffic class is under no checksum.
inline void set_traffic_class(const PktView& v, uint8_t tc) {
  if (v.version == 4) {
    const uint8_t w[2] = {v.l3[0], tc};
    ip4_set16(v.l3, 0, get16(w));
  } else {
    v.l3[0] = static_cast<uint8_t>((v.l3[0] & 0xf0) | tc >> 4);
    v.l3[1] = static_cast<uint8_t>((v.l3[1] & 0x0f) | tc << 4);
  }
}

// A 16-bit word covered by the transport checksum changed from old_w to new_w (network order):
// a header field, or a pseudo-header field (an address half, the length). UDP over IPv4 with a
// zero checksum has none and stays 0; a computed 0 is sent as 0xffff (RFC 768).
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

// The ones' complement sum of the pseudo-header and `len` transport bytes at v.l4, folded.
inline uint16_t l4_sum(const PktView& v, uint32_t len) {
  uint32_t sum;
  if (v.version == 4) {
    sum = rte_raw_cksum(v.l3 + 12, 8);
  } else {
    sum = rte_raw_cksum(v.l3 + 8, 32);
  }
  sum += rte_cpu_to_be_16(static_cast<uint16_t>(len >> 16)) +
         rte_cpu_to_be_16(static_cast<uint16_t>(len));
  sum += rte_cpu_to_be_16(v.proto);
  sum += rte_raw_cksum(v.l4, len);
  return csum::fold(sum);
}

// Bytes the transport checksum covers: UDP's own length when it is sane (8..l4_len), else all.
inline uint32_t l4_cover_len(const PktView& v) {
  if (v.proto == kProtoUdp && v.l4_len >= 8) {
    const uint32_t ulen = parse::load_be16(v.l4 + 4);
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
