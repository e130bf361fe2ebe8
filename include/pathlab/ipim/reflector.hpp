#pragma once
// `pathlab-probe reflect`: answers each probe with an echo of what it arrived with (docs/ipim.md,
// "End-to-end block"). IPv4 probes are read from a raw socket (whole IP headers: the ID, DF and
// length the integrity groups cover are not given to a UDP socket); a UDP socket bound to the
// port sends the echoes and keeps the kernel from answering "port unreachable". IPv6 probes are
// read from the UDP socket with their Hop-by-Hop header, hop limit, traffic class, flow label
// and destination as ancillary data. Host code only: no DPDK.
#include <csignal>
#include <cstdint>
#include <string>

namespace pathlab::ipim {

struct ReflectOptions {
  uint16_t port = 33434;
  bool ip6 = false;
  uint64_t count = 0;       // stop after this many probes; 0: no limit
  double duration_s = 0;    // stop after this long; 0: no limit
  std::string salt;         // the shared salt for integrity mode 2
  bool verbose = false;     // a line per probe on stderr
};

// Runs until the count or the duration is reached or *stop becomes nonzero; returns the number
// of probes answered. Throws std::runtime_error on a socket error.
uint64_t reflect(const ReflectOptions& o, const volatile std::sig_atomic_t* stop);

}  // namespace pathlab::ipim
