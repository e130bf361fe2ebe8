#pragma once
// The packet view: where a packet's IP and transport headers are and what they hold, parsed once
// by the input step (or by whoever builds or reshapes a packet) and kept with the packet in an
// mbuf dynamic field. Stages and `match` read it; none parses again. A stage that changes a
// packet's shape (strips options, adds a header) calls refresh_view() afterwards.
//
// The stored form is 16 bytes of offsets and flags in the mbuf's second cache line, which the
// tx path touches anyway; PktView is the same with pointers, rebuilt on read.
#include <cstdint>
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#pragma GCC diagnostic pop

#include "pathlab/net/constants.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/ptype.hpp"

namespace pathlab {

// View flags.
inline constexpr uint8_t kViewL4 = 0x01;          // a transport header is visible at l4_off
inline constexpr uint8_t kViewTcpOk = 0x02;       // TCP with a data offset that fits
inline constexpr uint8_t kViewUdpOk = 0x04;       // at least the 8-byte UDP header
inline constexpr uint8_t kViewFragment = 0x08;    // a fragment (first or later)
inline constexpr uint8_t kViewLaterFrag = 0x10;   // a non-first fragment: no transport header
inline constexpr uint8_t kViewIp4Options = 0x20;  // IPv4 header longer than 20 bytes
inline constexpr uint8_t kViewIp6Ext = 0x40;      // IPv6 extension headers before the transport
inline constexpr uint8_t kViewBadChain = 0x80;    // IPv6 extension chain truncated or malformed

struct StoredView {
  uint32_t ip_len = 0;     // bytes of the IP packet
  uint16_t l4_off = 0;     // transport header offset from the IP header (valid with kViewL4)
  uint16_t sport = 0;      // host order; 0 unless TCP/UDP with a full header
  uint16_t dport = 0;
  uint8_t version = 0;     // 4 or 6; 0: not an IP packet the input step accepted
  uint8_t proto = 0;       // transport protocol (IPv6: after the extension headers)
  uint8_t tcp_flags = 0;
  uint8_t flags = 0;
  uint8_t pad[2] = {};
};
static_assert(sizeof(StoredView) == 16);

// A stage's view of one packet, with pointers into it. Bounded by the IP packet's own length:
// nothing past l3 + ip_len is part of it.
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
  uint8_t flags = 0;      // kView*
  bool tcp_ok = false;    // a TCP header whose data offset fits (>= 20 bytes, within l4_len)
  bool udp_ok = false;    // at least the 8-byte UDP header
};

namespace view_detail {
extern int g_offset;
}

// Registers the dynamic field; idempotent. Call after rte_eal_init and before any packet is
// parsed (the dataplane, replay, tests and benchmarks do).
[[gnu::cold]] void init_packet_view();

inline StoredView& stored_view(rte_mbuf* m) {
  return *RTE_MBUF_DYNFIELD(m, view_detail::g_offset, StoredView*);
}
inline const StoredView& stored_view(const rte_mbuf* m) {
  return *RTE_MBUF_DYNFIELD(m, view_detail::g_offset, const StoredView*);
}

// The transport part of the parse, for an IP packet of ip_len bytes at l3 whose version is set.
inline void parse_transport(const uint8_t* l3, StoredView& s) {
  uint32_t l4_off;
  if (s.version == 4) {
    l4_off = (l3[0] & 0xfu) * 4u;
    if (l4_off > parse::kIp4MinHdrLen) s.flags |= kViewIp4Options;
    const uint16_t frag = parse::load_be16(l3 + 6);
    if ((frag & 0x3fff) != 0) {
      s.flags |= kViewFragment;
      if ((frag & 0x1fff) != 0) {
        s.flags |= kViewLaterFrag;
        return;
      }
    }
  } else {
    uint8_t proto = 0;
    uint32_t off = 0;
    if (parse::is_ip6_ext_header(l3[6])) s.flags |= kViewIp6Ext;
    const parse::Ip6Walk w = parse::ip6_walk(l3, s.ip_len, proto, off);
    if (w.fragment) s.flags |= kViewFragment;
    if (!w.ok) {
      s.flags |= kViewBadChain;
      return;
    }
    s.proto = proto;
    if (proto == parse::kIp6Fragment) {
      s.flags |= kViewLaterFrag;
      return;
    }
    if (proto == parse::kIp6NoNext) return;
    l4_off = off;
  }
  s.l4_off = static_cast<uint16_t>(l4_off);
  s.flags |= kViewL4;
  const uint32_t l4_len = s.ip_len - l4_off;
  const uint8_t* l4 = l3 + l4_off;
  bool ports = false;
  if (s.proto == kProtoTcp && l4_len >= 20) {
    const uint32_t doff = (l4[12] >> 4) * 4u;
    s.tcp_flags = l4[13];
    if (doff >= 20 && doff <= l4_len) {
      s.flags |= kViewTcpOk;
      ports = true;
    }
  } else if (s.proto == kProtoUdp && l4_len >= 8) {
    s.flags |= kViewUdpOk;
    ports = true;
  }
  if (ports) {
    s.sport = parse::load_be16(l4);
    s.dport = parse::load_be16(l4 + 2);
  }
}

// Parses the packet from m->l2_len on and stores the view. packet_type says the family (set by
// the input step); anything else, or an IP header that does not fit the first segment, stores
// version 0. Returns whether the packet is an IP packet with a view.
inline bool parse_view(rte_mbuf* m) {
  StoredView& s = stored_view(m);
  s = StoredView{};
  const uint32_t pt = m->packet_type;
  if ((pt != kPtype4 && pt != kPtype6) || m->data_len < m->l2_len) return false;
  const uint8_t* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, m->l2_len);
  const uint32_t avail = m->data_len - m->l2_len;
  if (pt == kPtype4) {
    if (avail < parse::kIp4MinHdrLen || (l3[0] >> 4) != 4) return false;
    const uint32_t ihl = (l3[0] & 0xfu) * 4u;
    const uint32_t total = parse::load_be16(l3 + 2);
    if (ihl < parse::kIp4MinHdrLen || total < ihl || total > avail) return false;
    s.version = 4;
    s.ip_len = total;
    s.proto = l3[9];
  } else {
    if (avail < parse::kIp6HdrLen || (l3[0] >> 4) != 6) return false;
    const uint32_t total = parse::kIp6HdrLen + parse::load_be16(l3 + 4);
    if (total > avail) return false;
    s.version = 6;
    s.ip_len = total;
    s.proto = l3[6];
  }
  parse_transport(l3, s);
  return true;
}

// The one helper for a stage that changed the packet's shape, protocol or addresses.
inline bool refresh_view(rte_mbuf* m) { return parse_view(m); }
// Field rewrites the view caches, without a re-parse: TCP flags, transport ports (host order).
inline void view_set_tcp_flags(rte_mbuf* m, uint8_t flags) { stored_view(m).tcp_flags = flags; }
inline void view_set_ports(rte_mbuf* m, uint16_t sport, uint16_t dport) {
  StoredView& s = stored_view(m);
  s.sport = sport;
  s.dport = dport;
}

// The stored view with pointers. False when the packet has none (not IP, or rejected).
inline bool view_packet(rte_mbuf* m, PktView& v) {
  const StoredView& s = stored_view(m);
  if (s.version == 0) [[unlikely]] {
    v = PktView{};
    return false;
  }
  uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
  v.l3 = l3;
  v.ip_len = s.ip_len;
  v.version = s.version;
  v.proto = s.proto;
  v.sport = s.sport;
  v.dport = s.dport;
  v.tcp_flags = s.tcp_flags;
  v.flags = s.flags;
  v.tcp_ok = (s.flags & kViewTcpOk) != 0;
  v.udp_ok = (s.flags & kViewUdpOk) != 0;
  if (s.flags & kViewL4) {
    v.l4_off = s.l4_off;
    v.l4 = l3 + s.l4_off;
    v.l4_len = s.ip_len - s.l4_off;
  } else {
    v.l4_off = 0;
    v.l4 = nullptr;
    v.l4_len = 0;
  }
  return true;
}

// True when the two views describe the packet identically (the view-consistency test).
inline bool same_view(const StoredView& a, const StoredView& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace pathlab
