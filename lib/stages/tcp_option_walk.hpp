#pragma once
// Private to the tcp_options and mss stages: a bounded walk over a TCP header's option list
// (RFC 9293 3.2), and the helpers both stages need to rewrite it.
#include <cstdint>
#include <cstring>

#include "pathlab/stages/packet.hpp"

namespace pathlab::tcpopt {

inline constexpr uint8_t kEol = 0, kNop = 1, kMss = 2, kWscale = 3, kSackPermitted = 4, kSack = 5,
                         kTimestamp = 8, kMd5 = 19, kUserTimeout = 28, kTcpAo = 29, kMptcp = 30,
                         kTfo = 34, kExp1 = 253, kExp2 = 254;
// RFC 7413's experimental form: kind 254, then the 16-bit experiment id 0xF989 (RFC 6994).
inline constexpr uint8_t kTfoMagic0 = 0xf9, kTfoMagic1 = 0x89;
// Option classes: a kind 0..255, or this one for kind 254 carrying the TFO experiment id.
inline constexpr uint16_t kClassTfoExp = 256;
inline constexpr unsigned kClasses = 257;
inline constexpr unsigned kMaxArea = 40;  // data offset 15 words, minus the 20-byte header

// One option: where it sits in the option area, its length, and its class.
struct Option {
  uint8_t off;
  uint8_t len;
  uint16_t cls;
};

// The options before EOL (or the end of the area); NOPs included, EOL not.
struct OptionList {
  uint8_t* area = nullptr;  // the first option byte: TCP header + 20
  uint8_t area_len = 0;     // data offset * 4 - 20
  uint8_t n = 0;
  Option opt[kMaxArea];
};

// Known fixed-size kinds must have their size (SACK: 1 to 4 blocks); others any length >= 2.
inline bool length_ok(uint8_t kind, uint8_t len) {
  switch (kind) {
    case kMss:
      return len == 4;
    case kWscale:
      return len == 3;
    case kSackPermitted:
      return len == 2;
    case kTimestamp:
      return len == 10;
    case kSack:
      return len >= 10 && len <= 34 && (len - 2) % 8 == 0;
    default:
      return true;
  }
}

// Walks the options of a TCP header whose data offset (hlen bytes) the caller has checked
// against the packet. False for a malformed list: a length below 2, an option running past the
// header, a kind with no room for its length byte, or a known kind with the wrong length. Nothing
// past tcp + hlen is read.
inline bool walk(uint8_t* tcp, unsigned hlen, OptionList& l) {
  l.area = tcp + 20;
  l.area_len = static_cast<uint8_t>(hlen - 20);
  l.n = 0;
  const uint8_t* a = l.area;
  const unsigned end = l.area_len;
  unsigned off = 0;
  while (off < end) {
    const uint8_t kind = a[off];
    if (kind == kEol) break;
    if (kind == kNop) {
      l.opt[l.n++] = {static_cast<uint8_t>(off), 1, kNop};
      ++off;
      continue;
    }
    if (end - off < 2) return false;
    const uint8_t len = a[off + 1];
    if (len < 2 || len > end - off || !length_ok(kind, len)) return false;
    uint16_t cls = kind;
    if (kind == kExp2 && len >= 4 && a[off + 2] == kTfoMagic0 && a[off + 3] == kTfoMagic1) {
      cls = kClassTfoExp;
    }
    l.opt[l.n++] = {static_cast<uint8_t>(off), len, cls};
    off += len;
  }
  return true;
}

// A set of option classes, tested per option on the fast path.
struct KindSet {
  uint64_t w[(kClasses + 63) / 64] = {};
  void add(unsigned cls) { w[cls / 64] |= uint64_t{1} << (cls % 64); }
  bool has(unsigned cls) const { return (w[cls / 64] >> (cls % 64)) & 1u; }
  bool empty() const {
    for (uint64_t x : w) {
      if (x != 0) return false;
    }
    return true;
  }
  bool any_in(const OptionList& l) const {
    for (unsigned i = 0; i < l.n; ++i) {
      if (has(l.opt[i].cls)) return true;
    }
    return false;
  }
};

// True when the IP packet is a fragment (IPv4 MF or an offset; IPv6 a Fragment header before
// the transport header). Its TCP header can be rewritten in place but not resized.
inline bool fragmented(const PktView& v) {
  if (v.version == 4) return (v.l3[6] & 0x3f) != 0 || v.l3[7] != 0;
  uint8_t next = v.l3[6];
  unsigned off = 40;
  // view_packet has walked this chain up to l4_off already: every header fits.
  while (off < v.l4_off) {
    if (next == parse::kIp6Fragment) return true;
    const unsigned len =
        next == parse::kIp6Ah ? (v.l3[off + 1] + 2u) * 4u : (v.l3[off + 1] + 1u) * 8u;
    next = v.l3[off];
    off += len;
  }
  return false;
}

// The TCP checksum after the option area's sum went from old_sum to new_sum, the data offset
// from old_hlen to new_hlen bytes, and so the segment length by the same difference. Data after
// the options moves by a multiple of 4 bytes: its 16-bit words and their sum stay the same.
inline void update_cksum_for_options(const PktView& v, uint16_t old_sum, uint16_t new_sum,
                                     unsigned old_hlen, unsigned new_hlen) {
  l4_update16(v, old_sum, new_sum);
  if (old_hlen == new_hlen) return;
  const uint16_t old_doff = get16(v.l4 + 12);
  v.l4[12] = static_cast<uint8_t>((new_hlen / 4) << 4 | (v.l4[12] & 0x0f));
  l4_update16(v, old_doff, get16(v.l4 + 12));
  const uint32_t new_l4_len = v.l4_len - old_hlen + new_hlen;
  l4_update16(v, rte_cpu_to_be_16(static_cast<uint16_t>(v.l4_len)),
              rte_cpu_to_be_16(static_cast<uint16_t>(new_l4_len)));
}

// The IP length fields after the TCP header changed by `delta` bytes (IPv4 total length and
// header checksum, IPv6 payload length).
inline void update_ip_length(const PktView& v, int delta) {
  if (v.version == 4) {
    ip4_set16(v.l3, 2, rte_cpu_to_be_16(static_cast<uint16_t>(v.ip_len + delta)));
  } else {
    put16(v.l3 + 4, rte_cpu_to_be_16(static_cast<uint16_t>(v.ip_len - 40 + delta)));
  }
}

}  // namespace pathlab::tcpopt
