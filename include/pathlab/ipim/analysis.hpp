#pragma once
// What a sender learns from a run of IPIM probes and their echoes (docs/probe.md, "analyse"):
// the hop map, per-hop performance and the bottleneck, the path's accumulated fields, the TTL'
// verdict, path changes, the RTT split, loss and reordering, integrity, and discrepancies that
// point to a lying hop. Host code only: no DPDK.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pathlab/ipim/e2e.hpp"
#include "pathlab/ipim/nonce_loss.hpp"

namespace pathlab::ipim {

struct SentProbe {
  uint32_t seq = 0;
  uint64_t sent_us = 0;  // CLOCK_REALTIME, us
  uint32_t nonce = 0;
  uint32_t t = 0;        // the block's t (sent_us mod 2^32)
  uint8_t target_ttl = 0;
  std::vector<uint8_t> option;  // the IPIM option as sent; empty: none
  // What an honest path gives back in the echo's hash echo: the unsalted digests (modes 0 and
  // 1) or the shared-salt ones (mode 2).
  std::array<uint8_t, kGroups> digests{};
};

struct ReceivedEcho {
  uint64_t arrival_us = 0;  // CLOCK_REALTIME, us
  E2eBlock echo;
};

struct Run {
  bool ip6 = false;
  bool sample = false;   // the probes asked for sampled stamping
  uint8_t ttl0 = 64;     // T0: the IP TTL / Hop Limit the probes left with
  uint8_t ttl_prime0 = 0;
  uint32_t evolution0 = 0;
  uint16_t coverage = 0;
  uint64_t start_us = 0;
  std::vector<SentProbe> probes;     // probes[i].seq == i
  std::vector<ReceivedEcho> echoes;  // in arrival order
};

struct Stats {
  size_t n = 0;
  double min = 0, median = 0, mean = 0, max = 0;
};
Stats stats_of(std::vector<double> values);

struct HopReport {
  unsigned hop = 0;             // 1: the first router
  bool asked = false;           // some echoed probe targeted it, or the run sampled
  unsigned stamps = 0;          // slots it wrote
  // topology, from its latest stamp
  std::optional<std::string> router_id;  // dotted
  std::optional<uint32_t> as;
  std::optional<std::string> ingress, egress;
  // performance, medians over its stamps
  unsigned perf_stamps = 0;
  std::optional<double> queue_us, capacity_bps, avail_bps, level;
  unsigned impossible_avail = 0;  // available > link capacity
  unsigned impossible_level = 0;  // level outside 0..254 without its unavailable bit
  // "stamped"; "did not take part" (asked and silent, or TTL' counts every silent hop out);
  // "took part, not stamped" (TTL' says every hop took part, none asked it); "no stamp".
  std::string status;
};

struct PathChange {
  uint32_t seq = 0;
  double at_s = 0;  // the probe's send time from the run's start
  uint32_t from = 0, to = 0;
};

struct Analysis {
  bool ip6 = false;
  size_t probes = 0, echoes = 0;
  // TTL' and the hop count (the most common values over the echoes)
  std::optional<unsigned> hops, not_taking_part;
  bool hops_vary = false, ttl_prime_varies = false;
  unsigned ttl_prime_impossible = 0;  // more hops decremented TTL' than the TTL says exist
  unsigned option_missing = 0;        // echoes of probes that arrived without the option
  unsigned option_malformed = 0;
  unsigned option_intact = 0;         // the option arrived byte for byte as sent
  std::vector<HopReport> hop_map;
  std::optional<unsigned> bottleneck;  // hop number
  Stats min_capacity_bps, queue_sum_us;
  unsigned cap_unavailable = 0, queue_unavailable = 0, overflow = 0;
  // evolution: echo - start, mod 2^32
  std::optional<uint32_t> evolution;
  std::vector<PathChange> path_changes;
  // timing
  Stats rtt_us, network_us, host_us;
  unsigned t_echo_mismatch = 0;
  LossReport loss;  // loss and reordering from the nonces
  // integrity: echoes in which each group changed
  unsigned integrity_checked = 0;
  uint16_t coverage = 0;
  std::array<unsigned, kGroups> changed{};
  std::vector<std::string> discrepancies;
};

Analysis analyse(const Run& run);
std::string analysis_text(const Analysis& a);
// With `run`, a "run" object with the run's parameters and one entry per echo (docs/probe.md).
std::string analysis_json(const Analysis& a, const Run* run = nullptr);
// "all N hops took part", "K of N hops did not take part", or why it is unknown.
std::string ttl_prime_verdict(const Analysis& a);

}  // namespace pathlab::ipim
