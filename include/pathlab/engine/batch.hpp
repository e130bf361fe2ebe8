#pragma once
// A burst of packets moving through a stage chain, with one verdict per packet.
#include <cstdint>

struct rte_mbuf;

namespace pathlab {

inline constexpr uint16_t kMaxBurst = 256;

// Verdicts a stage writes: kPass keeps the packet on its way; 1..kMaxDropReason name the
// stage's own drop reason (index + 1 into its drop table); kTaken means the stage kept the mbuf;
// kGenerated means the stage rewrote the packet into one the router originates (an ICMP error,
// a TCP RST): it leaves the chain and is routed from the router, without a TTL decrement.
inline constexpr uint8_t kPass = 0;
inline constexpr uint8_t kTaken = 255;
inline constexpr uint8_t kGenerated = 254;
inline constexpr uint8_t kMaxDropReason = 253;

struct Batch {
  uint16_t n = 0;
  uint16_t ngen = 0;  // packets a chain turned into router-originated ones (kGenerated)
  uint8_t verdict[kMaxBurst];
  rte_mbuf* pkts[kMaxBurst];
  rte_mbuf* gen[kMaxBurst];
};

}  // namespace pathlab
