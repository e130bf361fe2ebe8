#pragma once
// Loss and reordering from the cumulative nonce (docs/ipim.md, "End-to-end block"): the sender
// knows the nonce of every probe; each echo carries the reflector's own increasing nonce (its
// send order) and the sum of the probe nonces it has received.
#include <cstdint>
#include <vector>

namespace pathlab::ipim {

struct EchoNonces {
  uint32_t seq = 0;         // the probe it answers
  uint32_t echo_nonce = 0;  // the reflector's nonce: increasing in its send order
  uint32_t nonce_sum = 0;   // sum of the probe nonces the reflector has received, mod 2^32
};

struct LossReport {
  unsigned lost = 0;          // probes without an echo
  unsigned lost_forward = 0;  // never reached the reflector (a later echo's sum lacks them)
  unsigned lost_reverse = 0;  // reached it (a sum holds their nonce) but the echo was lost
  unsigned lost_unknown = 0;  // after the last echo: no sum tells
  unsigned duplicates = 0;    // echoes for a probe already answered
  unsigned reordered_forward = 0;  // probes that reached the reflector after a later one
  unsigned reordered_reverse = 0;  // echoes that arrived after a later one
  unsigned inconsistent = 0;  // sums that no set of unanswered probes explains
};

// `nonces[i]`: probe i's nonce; `echoes`: in arrival order.
LossReport reconstruct_arrivals(const std::vector<uint32_t>& nonces,
                                const std::vector<EchoNonces>& echoes);

}  // namespace pathlab::ipim
