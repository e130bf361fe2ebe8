#pragma once
// `pathlab-probe send`: UDP probes with the IPIM option pre-allocated (IPv4 IP_OPTIONS, IPv6 a
// sticky IPV6_HOPOPTS header) and the end-to-end block in the payload; the echoes come back to
// the same socket. Host code only: no DPDK.
#include <cstdint>
#include <optional>
#include <string>

#include "pathlab/ipim/analysis.hpp"

namespace pathlab::ipim {

struct SendOptions {
  std::string to;
  uint16_t port = 33434;
  unsigned count = 10;
  double interval_s = 0.1;
  unsigned slots = 0;  // 0: as many as fit
  bool perf = false;
  bool sample = false;
  uint8_t target_ttl = 0;                        // --target
  std::optional<std::pair<uint8_t, uint8_t>> sweep;  // --sweep A-B: target TTLs A..B in turn
  uint8_t ttl0 = 64;
  bool ip6 = false;
  bool with_option = true;  // --carrier none: no option
  uint8_t mode = kModePlain;
  uint16_t coverage = kCoverAll;
  std::string salt;  // mode 2
  uint8_t tos = 0;
  double timeout_s = 1.0;
};

// Sends the run and collects the echoes until `timeout_s` after the last probe (or all came).
// Throws std::runtime_error on a socket error.
Run send_probes(const SendOptions& o);

}  // namespace pathlab::ipim
