#pragma once
// Rewriting a TCP header's option area, possibly to another length: the checksum, the data
// offset and the IP length fields that follow (the bytes themselves are the caller's).
#include <cstdint>

#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"
#include "pathlab/net/l4_checksum.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab::tcpopt {

// The TCP checksum after the option area's sum went from old_sum to new_sum, the data offset
// from old_hlen to new_hlen bytes, and so the segment length by the same difference. Data after
// the options moves by a multiple of 4 bytes: its 16-bit words and their sum stay the same.
inline void update_cksum_for_options(const PktView& v, uint16_t old_sum, uint16_t new_sum,
                                     unsigned old_hlen, unsigned new_hlen) {
  l4_update16(v, old_sum, new_sum);
  if (old_hlen == new_hlen) return;
  const uint8_t doff_flags[2] = {static_cast<uint8_t>((new_hlen / 4) << 4 | (v.l4[12] & 0x0f)),
                                 v.l4[13]};
  l4_set16(v, 12, get16(doff_flags));
  const uint32_t new_l4_len = v.l4_len - old_hlen + new_hlen;
  l4_update16(v, rte_cpu_to_be_16(static_cast<uint16_t>(v.l4_len)),
              rte_cpu_to_be_16(static_cast<uint16_t>(new_l4_len)));
}

// The IP length fields after the TCP header changed by `delta` bytes (IPv4 total length and
// header checksum, IPv6 payload length).
inline void update_ip_length(const PktView& v, int delta) {
  if (v.version == 4) {
    csum::ip4_set16(v.l3, 2, rte_cpu_to_be_16(static_cast<uint16_t>(v.ip_len + delta)));
  } else {
    put16(v.l3 + 4, rte_cpu_to_be_16(static_cast<uint16_t>(v.ip_len - 40 + delta)));
  }
}

}  // namespace pathlab::tcpopt
