#pragma once
// A stage's view of one packet: where the IP and transport headers are, what the transport is,
// and the checksum helpers every rewriting stage needs. Built from the mbuf metadata that
// Ethernet input leaves (packet_type, l2_len, l3_len) and bounded by the IP packet's own length:
// nothing past it is read or written.
#include <cstdint>
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/net/checksum.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab {

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp4 = 1;
inline constexpr uint8_t kProtoIcmp6 = 58;

// TCP flag bits (byte 13 of the header).
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

struct PktView {
  uint8_t* l3 = nullptr;
  uint8_t* l4 = nullptr;  // nullptr: no transport header to see (later fragment, bad chain)
  uint32_t ip_len = 0;    // bytes of the IP packet (total length / 40 + payload length)
  uint32_t l4_len = 0;    // bytes from l4 to the end of the IP packet
  uint16_t l4_off = 0;    // l4 - l3
  uint8_t version = 0;    // 4 or 6
  uint8_t proto = 0;      // transport protocol (IPv6: after the extension headers)
  uint16_t sport = 0, dport = 0;  // host order; 0 unless TCP/UDP with a full header
  uint8_t tcp_flags = 0;
  bool tcp_ok = false;    // a TCP header whose data offset fits (>= 20 bytes, within l4_len)
  bool udp_ok = false;    // at least the 8-byte UDP header
};

// The IP header alone, for a stage that rewrites nothing past it under a match that reads no
// transport field: accepts exactly the packets view_packet accepts and fills l3, version, ip_len
// and (IPv4) proto; l4 stays nullptr, the transport fields stay 0. No extension header walk.
inline bool view_l3(rte_mbuf* m, PktView& v) {
  v = PktView{};
  const uint32_t pt = m->packet_type;
  if (pt != kPtype4 && pt != kPtype6) return false;
  if (m->data_len < m->l2_len) return false;
  uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
  const uint32_t avail = m->data_len - m->l2_len;
  v.l3 = l3;
  if (pt == kPtype4) {
    if (avail < 20 || (l3[0] >> 4) != 4) return false;
    const uint32_t ihl = (l3[0] & 0xfu) * 4u;
    const uint32_t total = parse::load_be16(l3 + 2);
    if (ihl < 20 || total < ihl || total > avail) return false;
    v.version = 4;
    v.ip_len = total;
    v.proto = l3[9];
  } else {
    if (avail < 40 || (l3[0] >> 4) != 6) return false;
    const uint32_t total = 40u + parse::load_be16(l3 + 4);
    if (total > avail) return false;
    v.version = 6;
    v.ip_len = total;
  }
  return true;
}

// False when the packet is not an IP packet the router accepted (no packet_type) or its IP header
// does not fit the mbuf's first segment. A short or odd transport header is not an error: l4 is
// set, tcp_ok/udp_ok stay false.
inline bool view_packet(rte_mbuf* m, PktView& v) {
  if (!view_l3(m, v)) return false;
  uint8_t* l3 = v.l3;
  if (v.version == 4) {
    if ((parse::load_be16(l3 + 6) & 0x1fff) != 0) return true;  // a later fragment
    v.l4_off = static_cast<uint16_t>((l3[0] & 0xfu) * 4u);
  } else {
    uint8_t proto = 0;
    uint32_t off = 0;
    if (!parse::ip6_upper_layer(l3, v.ip_len, proto, off)) return true;
    v.proto = proto;
    if (proto == parse::kIp6Fragment || proto == parse::kIp6NoNext) return true;
    v.l4_off = static_cast<uint16_t>(off);
  }
  v.l4 = l3 + v.l4_off;
  v.l4_len = v.ip_len - v.l4_off;
  if (v.proto == kProtoTcp && v.l4_len >= 20) {
    const uint32_t doff = (v.l4[12] >> 4) * 4u;
    v.tcp_ok = doff >= 20 && doff <= v.l4_len;
    v.tcp_flags = v.l4[13];
  } else if (v.proto == kProtoUdp) {
    v.udp_ok = v.l4_len >= 8;
  }
  if (v.tcp_ok || v.udp_ok) {
    v.sport = parse::load_be16(v.l4);
    v.dport = parse::load_be16(v.l4 + 2);
  }
  return true;
}

// A cheap look before view_packet for stages that act only on TCP SYNs: true when the packet is
// certainly not one view_packet would show as TCP (tcp_ok) with SYN set. Decides IPv4 packets
// whose flags byte lies within the first segment (false otherwise: ask view_packet).
inline bool surely_not_tcp_syn(const rte_mbuf* m) {
  if (m->packet_type != kPtype4) return m->packet_type != kPtype6;
  const uint32_t l2 = m->l2_len;
  if (m->data_len < l2 + 20u) return false;
  const uint8_t* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2);
  if (l3[9] != kProtoTcp) return true;
  const uint32_t ihl = (l3[0] & 0xfu) * 4u;
  // view_packet's TCP header starts at ihl (or there is none: a later fragment, a bad header).
  if (l2 + ihl + 14u > m->data_len) return false;
  return (l3[ihl + 13] & kTcpSyn) == 0;
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
