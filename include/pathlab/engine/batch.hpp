#pragma once
// A burst of packets moving through a stage chain, with one verdict per packet.
#include <cstdint>

struct rte_mbuf;

namespace pathlab {

inline constexpr uint16_t kMaxBurst = 256;

// Verdicts a stage writes: kPass keeps the packet on its way; 1..kMaxDropReason name the
// stage's own drop reason (index + 1 into its drop table); kTaken means the stage kept the mbuf.
inline constexpr uint8_t kPass = 0;
inline constexpr uint8_t kTaken = 255;
inline constexpr uint8_t kMaxDropReason = 254;

struct Batch {
  uint16_t n = 0;
  uint8_t verdict[kMaxBurst];
  rte_mbuf* pkts[kMaxBurst];
};

}  // namespace pathlab
