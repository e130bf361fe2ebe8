// ICMP / ICMPv6 error and echo-reply generation, in place in the offending mbuf.
// Rare path (errors are rate-limited by the caller), so clarity wins over speed here; the mbuf
// is only written after every refusal check has passed.
#include "pathlab/net/icmp.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstring>

#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"
#include "pathlab/net/constants.hpp"
#include "pathlab/net/parse.hpp"

namespace pathlab::icmp {
namespace {

constexpr uint16_t kIcmpHdrLen = 8;
constexpr uint16_t kGrow4 = parse::kIp4MinHdrLen + kIcmpHdrLen;  // 28
constexpr uint16_t kGrow6 = parse::kIp6HdrLen + kIcmpHdrLen;     // 48
constexpr uint32_t kQuote4Max = kIp4ErrorMax - kGrow4;           // 548
constexpr uint32_t kQuote6Max = kIp6ErrorMax - kGrow6;           // 1232

// Whether the frame was sent to an L2 group address (I/G bit of the destination MAC).
bool l2_group_dest(const rte_mbuf* m, uint16_t l2_len) {
  if (l2_len < 6) {
    return false;
  }
  uint8_t b;
  const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, 1, &b));
  return p != nullptr && (p[0] & 0x01) != 0;
}

// Turns the frame into [L2 (l2_len)][grow bytes, uninitialised][quote bytes of the original IP
// packet] in a single segment. Returns the new frame start, or nullptr when it cannot (nothing is
// changed then). Preconditions: l2_len <= kMaxL2Len, quote <= kQuote6Max, l2_len + quote <=
// pkt_len.
uint8_t* make_room(rte_mbuf* m, uint16_t l2_len, uint32_t quote, uint16_t grow) {
  if (!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1) {
    return nullptr;
  }
  const uint32_t keep = l2_len + quote;
  const uint32_t final_len = keep + grow;
  if (final_len > m->buf_len) {
    return nullptr;
  }
  auto* const buf = static_cast<uint8_t*>(m->buf_addr);
  uint32_t new_off;
  if (m->data_len < keep) {
    // The quote spans segments: gather it, then lay the frame out in the first segment.
    uint8_t tmp[kMaxL2Len + kQuote6Max];
    const auto* src = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, keep, tmp));
    if (src == nullptr) {
      return nullptr;
    }
    if (src != tmp) {
      std::memcpy(tmp, src, keep);
    }
    new_off =
        std::min<uint32_t>(m->data_off >= grow ? m->data_off - grow : 0u, m->buf_len - final_len);
    std::memcpy(buf + new_off, tmp, l2_len);
    std::memcpy(buf + new_off + l2_len + grow, tmp + l2_len, quote);
  } else if (m->data_off >= grow) {
    // Common case: grow into the headroom and slide the L2 header to the new front.
    new_off = m->data_off - grow;
    std::memmove(buf + new_off, buf + m->data_off, l2_len);
  } else {
    // Too little headroom: slide the quote towards the tail (it fits: final_len <= buf_len).
    new_off = 0;
    std::memmove(buf + l2_len + grow, buf + m->data_off + l2_len, quote);
    std::memmove(buf, buf + m->data_off, l2_len);
  }
  if (m->next != nullptr) {
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
    m->nb_segs = 1;
  }
  m->data_off = static_cast<uint16_t>(new_off);
  m->data_len = static_cast<uint16_t>(final_len);
  m->pkt_len = final_len;
  return buf + new_off;
}

}  // namespace

const char* name(Refuse r) {
  switch (r) {
    case Refuse::None:
      return "none";
    case Refuse::NotFirstFragment:
      return "not_first_fragment";
    case Refuse::AboutIcmpError:
      return "about_icmp_error";
    case Refuse::BadSource:
      return "bad_source";
    case Refuse::MulticastDest:
      return "multicast_dest";
    case Refuse::NoHeadroom:
      return "no_headroom";
    case Refuse::Malformed:
      return "malformed";
  }
  return "unknown";
}

Refuse make_ip4_error(rte_mbuf* m, uint16_t l2_len, uint8_t type, uint8_t code, uint32_t rest,
                      Ip4Addr src) {
  const uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
  if (l2_len > kMaxL2Len || pkt_len < uint32_t{l2_len} + parse::kIp4MinHdrLen) {
    return Refuse::Malformed;
  }
  uint8_t hdr_copy[parse::kIp4MinHdrLen];
  const auto* ip =
      static_cast<const uint8_t*>(rte_pktmbuf_read(m, l2_len, sizeof hdr_copy, hdr_copy));
  const uint32_t avail = pkt_len - l2_len;
  const uint32_t hlen = (ip[0] & 0x0fu) * 4;
  const uint32_t total = load_be16(ip + 2);
  if ((ip[0] >> 4) != 4 || hlen < parse::kIp4MinHdrLen || hlen > avail || total < hlen) {
    return Refuse::Malformed;
  }
  if ((load_be16(ip + 6) & kIp4OffsetMask) != 0) {
    return Refuse::NotFirstFragment;
  }
  const uint32_t orig_src = load_be32(ip + 12);
  const uint32_t orig_dst = load_be32(ip + 16);
  const uint32_t orig_len = std::min(avail, total);
  if (ip[9] == kProtoIcmp4 && orig_len > hlen) {
    uint8_t t;
    const auto* tp = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l2_len + hlen, 1, &t));
    if (ip4_is_error_type(*tp)) {
      return Refuse::AboutIcmpError;
    }
  }
  if (ip4_bad_error_source(orig_src)) {
    return Refuse::BadSource;
  }
  if (ip4_multicast_or_broadcast(orig_dst) || l2_group_dest(m, l2_len)) {
    return Refuse::MulticastDest;
  }

  const uint32_t quote = std::min(orig_len, kQuote4Max);
  uint8_t* const frame = make_room(m, l2_len, quote, kGrow4);
  if (frame == nullptr) {
    return Refuse::NoHeadroom;
  }
  uint8_t* const nip = frame + l2_len;
  nip[0] = 0x45;
  nip[1] = kErrorTos;
  store_be16(nip + 2, static_cast<uint16_t>(kGrow4 + quote));
  store_be32(nip + 4, 0);  // ID 0, flags 0 (DF clear), offset 0
  nip[8] = kErrorTtl;
  nip[9] = kProtoIcmp4;
  store_be32(nip + 12, src.v);
  store_be32(nip + 16, orig_src);
  uint8_t* const icmp = nip + parse::kIp4MinHdrLen;
  icmp[0] = type;
  icmp[1] = code;
  store_be16(icmp + 2, 0);
  store_be32(icmp + 4, rest);
  // Sums come in packet order: stored as they are, not byte-swapped.
  put16(icmp + 2, static_cast<uint16_t>(~csum::sum(icmp, kIcmpHdrLen + quote)));
  csum::set_ip4_header(nip, parse::kIp4MinHdrLen);
  return Refuse::None;
}

Refuse make_ip6_error(rte_mbuf* m, uint16_t l2_len, uint8_t type, uint8_t code, uint32_t rest,
                      const Ip6Addr& src) {
  const uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
  if (l2_len > kMaxL2Len || pkt_len < uint32_t{l2_len} + parse::kIp6HdrLen) {
    return Refuse::Malformed;
  }
  const uint32_t avail = pkt_len - l2_len;
  uint8_t hdr_copy[parse::kIp6HdrLen];
  const auto* ip =
      static_cast<const uint8_t*>(rte_pktmbuf_read(m, l2_len, sizeof hdr_copy, hdr_copy));
  if ((ip[0] >> 4) != 6) {
    return Refuse::Malformed;
  }
  const uint32_t orig_len = std::min(avail, parse::kIp6HdrLen + uint32_t{load_be16(ip + 4)});
  const uint32_t quote = std::min(orig_len, kQuote6Max);
  Ip6Addr orig_src;
  std::memcpy(orig_src.b.data(), ip + 8, 16);
  const bool dst_multicast = ip[24] == 0xff;

  // RFC 4443 2.4 (e.1): walk to the upper layer within the quote.
  {
    uint8_t tmp[kQuote6Max];
    const auto* q = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l2_len, quote, tmp));
    uint8_t proto = 0;
    uint32_t off = 0;
    if (parse::ip6_upper_layer(q, quote, proto, off) && proto == kProtoIcmp6 && off < quote &&
        ip6_is_error_type(q[off])) {
      return Refuse::AboutIcmpError;
    }
  }
  static constexpr Ip6Addr kUnspecified{};
  static constexpr Ip6Addr kLoopback{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  if (orig_src.is_multicast() || orig_src == kUnspecified || orig_src == kLoopback) {
    return Refuse::BadSource;
  }
  const bool multicast_ok = type == kIcmp6PacketTooBig || (type == kIcmp6ParamProblem && code == 2);
  if (!multicast_ok && (dst_multicast || l2_group_dest(m, l2_len))) {
    return Refuse::MulticastDest;
  }

  uint8_t* const frame = make_room(m, l2_len, quote, kGrow6);
  if (frame == nullptr) {
    return Refuse::NoHeadroom;
  }
  uint8_t* const nip = frame + l2_len;
  const uint16_t payload = static_cast<uint16_t>(kIcmpHdrLen + quote);
  store_be32(nip, 0x60000000u);
  store_be16(nip + 4, payload);
  nip[6] = kProtoIcmp6;
  nip[7] = kErrorTtl;
  std::memcpy(nip + 8, src.b.data(), 16);
  std::memcpy(nip + 24, orig_src.b.data(), 16);
  uint8_t* const icmp = nip + parse::kIp6HdrLen;
  icmp[0] = type;
  icmp[1] = code;
  store_be16(icmp + 2, 0);
  store_be32(icmp + 4, rest);
  put16(icmp + 2, static_cast<uint16_t>(~csum::transport(nip, 6, kProtoIcmp6, icmp, payload)));
  return Refuse::None;
}

namespace {

// Makes the first `need` bytes of the frame contiguous in the first segment if they are not.
bool first_segment_holds(rte_mbuf* m, uint32_t need) {
  if (rte_pktmbuf_data_len(m) >= need) {
    return true;
  }
  if (rte_pktmbuf_pkt_len(m) < need || rte_pktmbuf_linearize(m) != 0) {
    return false;
  }
  return rte_pktmbuf_data_len(m) >= need;
}

// Swaps two equal-size address fields in place.
void swap_bytes(uint8_t* a, uint8_t* b, size_t n) {
  uint8_t t[16];
  std::memcpy(t, a, n);
  std::memcpy(a, b, n);
  std::memcpy(b, t, n);
}

}  // namespace

void make_ip4_echo_reply(rte_mbuf* m, uint16_t l2_len) {
  if (!first_segment_holds(m, uint32_t{l2_len} + parse::kIp4MinHdrLen)) {
    return;
  }
  const uint8_t vihl = *rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len);
  const uint32_t hlen = (vihl & 0x0fu) * 4;
  if ((vihl >> 4) != 4 || hlen < parse::kIp4MinHdrLen ||
      !first_segment_holds(m, l2_len + hlen + 4)) {
    return;
  }
  // Linearizing appends to the first segment, so the header did not move; read it only now.
  uint8_t* const ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
  uint8_t* const icmp = ip + hlen;
  if (ip[9] != kProtoIcmp4 || icmp[0] != kIcmp4Echo) {
    return;
  }
  swap_bytes(ip + 12, ip + 16, 4);  // checksum-neutral
  const uint8_t ttl_proto[2] = {kErrorTtl, ip[9]};
  csum::ip4_set16(ip, 8, get16(ttl_proto));
  const uint8_t type_code[2] = {kIcmp4EchoReply, icmp[1]};
  csum::set16(icmp + 2, icmp, get16(type_code));
  // Eqn. 3 can give 0x0000 (-0); an all-zero reply verifies only with 0xffff, and 0xffff is right
  // wherever 0x0000 is.
  if (get16(icmp + 2) == 0) put16(icmp + 2, 0xffff);
}

void make_ip6_echo_reply(rte_mbuf* m, uint16_t l2_len) {
  if (!first_segment_holds(m, uint32_t{l2_len} + parse::kIp6HdrLen)) {
    return;
  }
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
  if ((ip[0] >> 4) != 6) {
    return;
  }
  uint8_t proto = 0;
  uint32_t off = 0;
  uint32_t avail = rte_pktmbuf_data_len(m) - l2_len;
  if (!parse::ip6_upper_layer(ip, avail, proto, off) || avail < off + 4) {
    // The chain may continue in a later segment: linearize and walk again.
    if (!first_segment_holds(m, rte_pktmbuf_pkt_len(m))) {
      return;
    }
    ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
    avail = rte_pktmbuf_data_len(m) - l2_len;
    if (!parse::ip6_upper_layer(ip, avail, proto, off) || avail < off + 4) {
      return;
    }
  }
  uint8_t* const icmp = ip + off;
  if (proto != kProtoIcmp6 || icmp[0] != kIcmp6Echo) {
    return;
  }
  swap_bytes(ip + 8, ip + 24, 16);  // checksum-neutral (pseudo-header sum is symmetric)
  ip[7] = kErrorTtl;                // hop limit is not covered by any checksum
  const uint8_t type_code[2] = {kIcmp6EchoReply, icmp[1]};
  csum::set16(icmp + 2, icmp, get16(type_code));
}

}  // namespace pathlab::icmp
