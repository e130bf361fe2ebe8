#pragma once
// Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
// Full computation uses DPDK's rte_ipv4_cksum / rte_ipv4_udptcp_cksum / rte_ipv6_udptcp_cksum.
// All values are in network byte order as they sit in the packet.
#include <cstdint>

namespace pathlab::csum {

inline uint16_t fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Checksum field after one 16-bit word of the covered data changed from old_w to new_w.
inline uint16_t update16(uint16_t cksum, uint16_t old_w, uint16_t new_w) {
  uint32_t sum = static_cast<uint16_t>(~cksum) + static_cast<uint16_t>(~old_w) + new_w;
  return static_cast<uint16_t>(~fold(sum));
}

// Same for a 32-bit value (two adjacent 16-bit words, e.g. an IPv4 address or a TCP seq).
inline uint16_t update32(uint16_t cksum, uint32_t old_v, uint32_t new_v) {
  uint32_t sum = static_cast<uint16_t>(~cksum);
  sum += static_cast<uint16_t>(~old_v) + static_cast<uint16_t>(~(old_v >> 16));
  sum += (new_v & 0xffff) + (new_v >> 16);
  return static_cast<uint16_t>(~fold(sum));
}

}  // namespace pathlab::csum
