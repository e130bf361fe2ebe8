#pragma once
// What the data path's step files (lib/router/*.cc) share: frame layout and small helpers.
#include <cstdint>

#include <rte_ether.h>
#include <rte_mbuf.h>

namespace pathlab::steps {

inline constexpr uint16_t kEthLen = sizeof(rte_ether_hdr);

// mbuf l2_len and l3_len as one tx_offload word: one 8-byte store instead of two narrow RMWs.
inline uint64_t l2_l3_lens(uint64_t l3_len) {
  return rte_mbuf_tx_offload(kEthLen, l3_len, 0, 0, 0, 0, 0);
}

}  // namespace pathlab::steps
