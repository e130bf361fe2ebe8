// IP input, per packet from the rx loop (eth_input.cc): RFC 1812 5.2.2 checks for IPv4 (length,
// version, IHL, total length, header checksum unless the NIC verified it) and RFC 8200 checks for
// IPv6 (length, version, payload length); martian sources and multicast destinations are not
// routed; Ethernet padding is trimmed; neighbour discovery goes to the control path. A packet
// that stays gets its family, l2/l3 lengths and, when a stage will read it, its packet view.
#include <cstring>

#include <rte_ip.h>

#include "pathlab/net/parse.hpp"
#include "pathlab/net/view.hpp"
#include "pathlab/router/router.hpp"
#include "steps.hpp"

namespace pathlab {
namespace ip_input {

inline bool bad_source4(uint32_t s) {
  const uint32_t top = s >> 24;
  return top == 0 || top == 127 || top >= 224;
}

// Multicast, loopback (::1) and unspecified (::) sources are not forwarded (RFC 4291 2.5.2-3).
inline bool bad_source6(const uint8_t* a) {
  if (a[0] == 0xff) return true;
  uint64_t hi, lo;
  std::memcpy(&hi, a, 8);
  std::memcpy(&lo, a + 8, 8);
  return hi == 0 && (lo == 0 || lo == rte_cpu_to_be_64(1));
}

inline bool is_nd_type(uint8_t t) { return t >= 133 && t <= 137; }

// A parse failure's drop reason: the family's reasons follow its Truncated in the parser's order.
template <typename Result>
Drop parse_drop(Drop truncated, Result r) {
  return static_cast<Drop>(static_cast<uint8_t>(truncated) + static_cast<uint8_t>(r) - 1);
}

// The view of an IPv4 packet ip4() accepted, built in registers and stored once. A first or
// whole TCP or UDP datagram is the common case; anything else goes through parse_view.
[[gnu::noinline, gnu::cold]] inline void view_slow(rte_mbuf* m) { parse_view(m); }

inline void view4(rte_mbuf* m, const uint8_t* ip) {
  const uint32_t hlen = (ip[0] & 0xfu) * 4u;
  const uint32_t total = load_be16(ip + 2);
  const uint8_t proto = ip[9];
  const uint32_t l4_len = total - hlen;
  const uint8_t* l4 = ip + hlen;
  uint8_t flags;
  uint8_t tcp_flags = 0;
  if ((load_be16(ip + 6) & 0x3fff) != 0) [[unlikely]] {
    return view_slow(m);
  } else if (proto == kProtoTcp && l4_len >= 20) [[likely]] {
    const uint32_t doff = (l4[12] >> 4) * 4u;
    if (doff < 20 || doff > l4_len) [[unlikely]] return view_slow(m);
    tcp_flags = l4[13];
    flags = kViewL4 | kViewTcpOk;
  } else if (proto == kProtoUdp && l4_len >= 8) {
    flags = kViewL4 | kViewUdpOk;
  } else {
    return view_slow(m);
  }
  if (hlen > parse::kIp4MinHdrLen) flags |= kViewIp4Options;
  StoredView v;
  v.ip_len = total;
  v.l4_off = static_cast<uint16_t>(hlen);
  v.sport = load_be16(l4);
  v.dport = load_be16(l4 + 2);
  v.version = 4;
  v.proto = proto;
  v.tcp_flags = tcp_flags;
  v.flags = flags;
  std::memcpy(&stored_view(m), &v, sizeof v);
}

}  // namespace ip_input

// Both are inlined into the rx loop, as one loop body with Ethernet input.
template <bool kVerifyCksum>
[[gnu::always_inline]] inline bool Router::ip4_input(RouterWorker& rw, rte_mbuf* m, const uint8_t* ip, uint32_t len, uint32_t& dst) {
  const auto r = parse::ip4(ip, len, kVerifyCksum);
  if (r != parse::Ip4Result::Ok) [[unlikely]] {
    drop(rw, ip_input::parse_drop(Drop::Ip4Truncated, r), m);
    return false;
  }
  if constexpr (!kVerifyCksum) {
    if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
      drop(rw, Drop::Ip4BadChecksum, m);
      return false;
    }
  }
  const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
  dst = rte_be_to_cpu_32(h->dst_addr);
  if (ip_input::bad_source4(rte_be_to_cpu_32(h->src_addr))) [[unlikely]] {
    drop(rw, Drop::Ip4BadSource, m);
    return false;
  }
  if ((dst >> 28) == 0xe || dst == 0xffffffffu) [[unlikely]] {
    drop(rw, Drop::Ip4Multicast, m);
    return false;
  }
  const uint32_t total = rte_be_to_cpu_16(h->total_length);
  if (total < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - total));  // padding
  m->tx_offload = steps::l2_l3_lens(rte_ipv4_hdr_len(h));
  m->packet_type = kPtype4;  // the caller stores the view (ip_input::view4)
  return true;
}

[[gnu::always_inline]] inline Router::IpIn Router::ip6_input(RouterWorker& rw, uint8_t in, rte_mbuf* m, const uint8_t* ip, uint32_t len) {
  const auto r = parse::ip6(ip, len);
  if (r != parse::Ip6Result::Ok) [[unlikely]] {
    drop(rw, ip_input::parse_drop(Drop::Ip6Truncated, r), m);
    return IpIn::Dropped;
  }
  const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip);
  if (h->src_addr[0] == 0xff) [[unlikely]] {
    drop(rw, Drop::Ip6BadSource, m);
    return IpIn::Dropped;
  }
  const uint32_t total = 40u + rte_be_to_cpu_16(h->payload_len);
  if (total < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - total));
  m->tx_offload = steps::l2_l3_lens(40);
  m->packet_type = kPtype6;
  if (parse_views) parse_view(m);
  // Neighbour discovery goes to the control path (hop limit 255, no extension headers).
  if (h->proto == kProtoIcmp6 && total >= 41 && ip_input::is_nd_type(ip[40]) && h->hop_limits == 255) {
    hand_over(m, CtrlKind::Nd, in, 6);
    return IpIn::Control;
  }
  if (ip_input::bad_source6(h->src_addr)) [[unlikely]] {  // after ND: DAD probes come from ::
    drop(rw, Drop::Ip6BadSource, m);
    return IpIn::Dropped;
  }
  if (h->dst_addr[0] == 0xff) [[unlikely]] {
    drop(rw, Drop::Ip6Multicast, m);
    return IpIn::Dropped;
  }
  return IpIn::Keep;
}

}  // namespace pathlab
