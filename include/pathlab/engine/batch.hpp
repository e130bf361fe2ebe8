#pragma once
// A burst of packets moving through a stage chain, with one verdict per packet.
#include <cstdint>

struct rte_mbuf;

namespace pathlab {

inline constexpr uint16_t kMaxBurst = 256;

// Verdicts a stage writes:
//   kPass       the packet goes on;
//   1..kMaxDropReason   the stage's own drop reason (index + 1 into its drop table);
//   kHeld       the stage keeps the mbuf and releases it later from drain() (link queues, delay);
//   kGenerated  the stage rewrote the packet into one the router originates (an ICMP error, a TCP
//               RST): it leaves the chain and is routed from the router, without a TTL decrement;
//   kRedirect   the packet leaves by port b.redirect_port[i] of the same router, resolved there
//               as a directly connected destination (NAT hairpinning).
inline constexpr uint8_t kPass = 0;
inline constexpr uint8_t kHeld = 255;
inline constexpr uint8_t kGenerated = 254;
inline constexpr uint8_t kRedirect = 253;
inline constexpr uint8_t kMaxDropReason = 252;

// Engine time: nanoseconds on a monotonic clock. Live runs derive it from the TSC, replay from
// the input pcap's timestamps.
using Nanos = uint64_t;
inline constexpr Nanos kForever = UINT64_MAX;  // drain(kForever) releases everything held

struct Batch {
  uint16_t n = 0;
  uint16_t ngen = 0;        // packets a chain turned into router-originated ones (kGenerated)
  uint16_t nredirect = 0;   // packets a chain sent to another port (kRedirect)
  Nanos now = 0;            // when the burst arrived (or, in drain, the drain's time)
  uint8_t verdict[kMaxBurst];
  uint8_t redirect_port[kMaxBurst];  // with kRedirect: the router-local port index
  rte_mbuf* pkts[kMaxBurst];
  rte_mbuf* gen[kMaxBurst];
  rte_mbuf* redirect[kMaxBurst];
  uint8_t redirect_to[kMaxBurst];    // the port of redirect[i]
};

}  // namespace pathlab
