#pragma once
// The Internet checksum (RFC 1071): sums, the full checksum of an IPv4 header or of a transport
// segment with its pseudo-header, and incremental updates (RFC 1624). Words and checksums are
// in network byte order as they sit in the packet; a "sum" is the folded ones' complement sum,
// a checksum its complement. The ones' complement sum is the same in either byte order.
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_byteorder.h>
#include <rte_ip.h>
#pragma GCC diagnostic pop

#include "pathlab/net/bytes.hpp"

namespace pathlab::csum {

inline uint16_t fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The sum of `len` bytes (an odd last byte is padded with zero).
inline uint16_t sum(const void* p, uint32_t len) { return rte_raw_cksum(p, len); }

// ---- incremental (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')) ---------------------------------

// The checksum after one 16-bit word of the covered data changed from old_w to new_w. Also
// right for a whole covered area whose sum went from old_w to new_w.
inline uint16_t update16(uint16_t cksum, uint16_t old_w, uint16_t new_w) {
  uint32_t s = static_cast<uint16_t>(~cksum) + static_cast<uint16_t>(~old_w) + new_w;
  return static_cast<uint16_t>(~fold(s));
}

// Same for a 32-bit value (two adjacent 16-bit words, e.g. an IPv4 address or a TCP seq).
inline uint16_t update32(uint16_t cksum, uint32_t old_v, uint32_t new_v) {
  uint32_t s = static_cast<uint16_t>(~cksum);
  s += static_cast<uint16_t>(~old_v) + static_cast<uint16_t>(~(old_v >> 16));
  s += (new_v & 0xffff) + (new_v >> 16);
  return static_cast<uint16_t>(~fold(s));
}

// A covered 16-bit word at `word` becomes w (network order); the checksum at `cksum` follows.
inline void set16(uint8_t* cksum, uint8_t* word, uint16_t w) {
  put16(cksum, update16(get16(cksum), get16(word), w));
  put16(word, w);
}

// Several changes under one checksum, gathered and applied once (eqn. 3 with the sum of every
// ~m + m'): an address and a port for NAT, say. Up to 16384 words.
class Delta {
 public:
  void add16(uint16_t old_w, uint16_t new_w) {
    sum_ += static_cast<uint16_t>(~old_w) + uint32_t{new_w};
  }
  void add32(uint32_t old_v, uint32_t new_v) {
    add16(static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
    add16(static_cast<uint16_t>(old_v >> 16), static_cast<uint16_t>(new_v >> 16));
  }
  bool empty() const { return sum_ == 0; }
  uint16_t apply(uint16_t cksum) const {
    return static_cast<uint16_t>(~fold(static_cast<uint16_t>(~cksum) + uint32_t{fold(sum_)}));
  }

 private:
  uint32_t sum_ = 0;
};

// ---- IPv4 header ------------------------------------------------------------------------------

// Any 64-bit ones' complement sum folded to 16 bits: the halves added with the carry out added
// back, then x + (x rotated by 16), whose top half is the two 16-bit halves' sum with its carry
// added back (the low half's carry lands there). Zero only for zero.
inline uint16_t fold64(uint64_t s) {
  uint32_t x;
  x = static_cast<uint32_t>(s) + static_cast<uint32_t>(s >> 32);
  x += x < static_cast<uint32_t>(s);
  x += x >> 16 | x << 16;
  return static_cast<uint16_t>(x >> 16);
}

// The sum of a 20-byte header, as sum(ip, 20) returns it: five 32-bit loads into a 64-bit
// accumulator, then folded.
inline uint16_t ip4_header_sum20(const uint8_t* ip) {
  uint64_t s = 0;
  for (int i = 0; i < 5; ++i) s += get32(ip + 4 * i);
  return fold64(s);
}

// a + b with the carry out added back in: ones' complement addition on 64-bit words, which keeps
// the sum modulo 0xffff that the 16-bit checksum needs (2^16 - 1 divides 2^64 - 1).
inline uint64_t add_ec(uint64_t a, uint64_t b) {
  uint64_t s;
  const bool carry = __builtin_add_overflow(a, b, &s);
  return s + carry;
}

// s plus the N 64-bit words at p, ones' complement: on x86-64 one add-with-carry chain, the carry
// kept in the flags from word to word, and added back at the end.
template <unsigned N>
inline uint64_t add_words(const uint8_t* p, uint64_t s) {
#if defined(__x86_64__)
  unsigned long long acc = s;
  unsigned char c = 0;
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((c = _addcarry_u64(c, acc, get64(p + 8 * I), &acc)), ...);
  }(std::make_index_sequence<N>{});
  c = _addcarry_u64(c, acc, 0, &acc);
  return acc + c;
#else
  for (unsigned i = 0; i < N; ++i) s = add_ec(s, get64(p + 8 * i));
  return s;
#endif
}

// The sum of an IPv4 header of hlen bytes (a multiple of 4 from 20 to 60, as the IHL makes it):
// 0xffff when its checksum is right. With options: one add_words chain per header length, the
// last 4 bytes of an odd word count as its start value. IHL 15 takes a third of the time of
// 32-bit loads in a loop (bench/net/checksum_bench.cc, BM_VerifyHeader).
inline uint16_t ip4_header_sum(const uint8_t* ip, uint32_t hlen) {
  if (hlen == 20) return ip4_header_sum20(ip);
  const uint64_t tail = (hlen & 4) != 0 ? get32(ip + hlen - 4) : 0;
  switch (hlen >> 3) {
    case 3:
      return fold64(add_words<3>(ip, tail));
    case 4:
      return fold64(add_words<4>(ip, tail));
    case 5:
      return fold64(add_words<5>(ip, tail));
    case 6:
      return fold64(add_words<6>(ip, tail));
    case 7:
      return fold64(add_words<7>(ip, tail));
    default: {  // not an IHL's length: 32-bit words in a loop
      uint64_t s = 0;
      for (uint32_t i = 0; i < hlen; i += 4) s += get32(ip + i);
      return fold64(s);
    }
  }
}

// Computes and stores the header checksum of an IPv4 header of hlen bytes.
inline void set_ip4_header(uint8_t* ip, uint32_t hlen) {
  put16(ip + 10, 0);
  put16(ip + 10, static_cast<uint16_t>(~ip4_header_sum(ip, hlen)));
}

// One 16-bit word of an IPv4 header at byte offset `off` (even) becomes `w` (network order); the
// header checksum follows.
inline void ip4_set16(uint8_t* ip, unsigned off, uint16_t w) { set16(ip + 10, ip + off, w); }

// ---- transport (TCP, UDP, ICMPv6) -------------------------------------------------------------

// The unfolded sum of the pseudo-header (RFC 9293 3.1, RFC 768; RFC 8200 8.1) for `len`
// transport bytes under the IP header at l3 (version 4 or 6).
inline uint32_t pseudo(const uint8_t* l3, uint8_t version, uint8_t proto, uint32_t len) {
  uint32_t s = version == 4 ? sum(l3 + 12, 8) : sum(l3 + 8, 32);
  s += rte_cpu_to_be_16(static_cast<uint16_t>(len >> 16)) +
       rte_cpu_to_be_16(static_cast<uint16_t>(len));
  s += rte_cpu_to_be_16(proto);
  return s;
}

// The sum of the pseudo-header and the `len` transport bytes at l4: 0xffff when the checksum in
// them is right; its complement is the checksum to store when its field held 0.
inline uint16_t transport(const uint8_t* l3, uint8_t version, uint8_t proto, const uint8_t* l4,
                          uint32_t len) {
  return fold(pseudo(l3, version, proto, len) + sum(l4, len));
}

}  // namespace pathlab::csum
