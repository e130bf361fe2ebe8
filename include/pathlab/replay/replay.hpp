#pragma once
// Offline replay (`pathlab replay`, docs/replay.md): pushes a pcap through the routers of a
// config as if it arrived on one router port, and writes what every device port would have sent,
// one pcap per port. No device is opened: each port is a ring ethdev with one tx ring per
// processing slot, drained after every burst. Chunks of the capture are read in order, processed
// in parallel (tbb::parallel_pipeline), and written in order, so the output does not depend on
// the number of threads.
#include <atomic>
#include <string>
#include <vector>

#include "pathlab/config/config.hpp"

namespace pathlab {

struct ReplayOptions {
  std::string in;      // input capture (classic pcap, Ethernet)
  std::string out;     // output name: OUT.pcap -> OUT.<router>.<port>.pcap per device port
  std::string router;  // ingress router id; empty: the first router
  std::string port;    // ingress port name; empty: the router's first port
  unsigned threads = 0;  // 0: the machine's hardware threads (at most kMaxReplayThreads)
  unsigned chunk = 1024;  // packets per chunk, rounded up to a multiple of process.burst
  bool json = false;      // summary as one JSON line instead of text
  bool set_dst_mac = false;  // unicast input frames get the ingress port's MAC as destination
  // Set to a signal number: stop reading, finish what was read, report as interrupted.
  const std::atomic<int>* stop = nullptr;
};

struct ReplayResult {
  bool balanced = false;  // every router's accounting balances (false: a bug)
  int signal = 0;         // the signal (ReplayOptions::stop) that cut the input short; 0: read to the end
};

// One tx ring per slot per port: the ring PMD's tx queue limit.
inline constexpr unsigned kMaxReplayThreads = 16;

// The capture file of a device port: OUT without a trailing ".pcap", then ".<router>.<port>.pcap".
std::string replay_output_path(const std::string& out, const std::string& router, const std::string& port);

// EAL arguments for a replay (argv[0] included): no hugepages, no PCI, no devices, one lcore,
// a private file prefix, memory sized for the routers and the mbufs in flight.
std::vector<std::string> replay_eal_args(const Config& cfg, const ReplayOptions& opt);

// Runs the replay (EAL initialised with replay_eal_args) and prints the summary on stdout.
// Throws std::runtime_error for bad options, unreadable input or unwritable output; no output
// file is then written (an earlier run's are left as they were).
ReplayResult run_replay(const Config& cfg, const ReplayOptions& opt);

}  // namespace pathlab
