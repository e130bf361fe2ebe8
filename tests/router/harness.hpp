#pragma once
// Test harness for the router tests: EAL set-up (a gtest Environment in harness.cc), the lab
// configuration, the scapy-built frames (router_frames.json, written at build time by
// gen_router_frames.py), and a Lab that builds a Dataplane without launching workers and drives
// router r1 from the test thread:
//   rx(port, frames)  -> Router::process on worker 0, as if the frames arrived on `port`
//   tx(port)          -> what r1 sent out of `port` (its link's tx ring)
//   ctrl_pending()    -> what r1 handed to the control path (worker 0's control ring)
//   poll()            -> one Control::poll()
//   injected()        -> what the control path sent (the inject ring), with the port it names
//   counts()/delta()  -> every counter of r1 by name, for exact before/after comparisons
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_mbuf.h>
#include <rte_ring.h>
#pragma GCC diagnostic pop

#include "pathlab/engine/dataplane.hpp"

namespace pltest {

using Bytes = std::vector<uint8_t>;
using Counts = std::map<std::string, uint64_t>;

// ---- frames -------------------------------------------------------------------------------------

// Path of router_frames.json: $PATHLAB_ROUTER_FRAMES, else
// $PATHLAB_BUILD_ROOT/tests/router/router_frames.json.
std::string frames_path();
// A hex field of a case ("in", "out", ...). Fails the test (and returns {}) if it is missing.
Bytes frame(const std::string& name, const std::string& field = "in");
// An integer field ("port"); -1 if missing.
int frame_int(const std::string& name, const std::string& field = "port");
// A string field that is not a frame (the input cases' "drop").
std::string frame_str(const std::string& name, const std::string& field);
// Every case name starting with prefix, sorted.
std::vector<std::string> frame_names(const std::string& prefix);
bool frames_loaded();

std::string hex(const Bytes& b);
// Equal frames, or a message with the first differing offset and both frames in hex.
::testing::AssertionResult same_frame(const Bytes& got, const Bytes& want);

// ---- lab ----------------------------------------------------------------------------------------

// Router r1 with ports p0, p1, p2 (see gen_router_frames.py for the addresses), joined by links
// to the ports a, b, c of a peer router h.
struct LabOptions {
  bool default_routes = true;  // 0.0.0.0/0 and ::/0 via GW on p2
  bool static_h1 = true;       // H1 (10.0.1.2, 2001:db8:1::2) as a static neighbour on p1
  uint16_t p1_mtu = 1500;
  std::string p1_ipv4 = "10.0.1.1/24";  // inside `ipv4: [...]`
  uint32_t mbufs = 4095;
  std::string process_extra;  // more lines under `process:`, each indented by two spaces
  std::string p0_ingress;     // stage lists (YAML flow sequences), e.g. "[count]"
  std::string p1_egress;
  std::string p2_egress;
};
std::string lab_yaml(const LabOptions& o);

enum Port : uint8_t { P0 = 0, P1 = 1, P2 = 2 };
inline constexpr uint8_t kPorts = 3;

struct Injected {
  uint16_t router = 0;
  uint8_t port = 0;
  Bytes frame;
};

class Lab {
 public:
  explicit Lab(const LabOptions& o = {});
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  pathlab::Dataplane& dp() { return *dp_; }
  pathlab::Router& r() { return *r_; }
  const pathlab::WorkerIo& io() { return dp_->worker(0).io; }

  rte_mbuf* mbuf(const Bytes& f);
  // One burst into r1 on `port`.
  void rx(uint8_t port, const std::vector<Bytes>& frames);
  void rx(uint8_t port, const Bytes& f) { rx(port, std::vector<Bytes>{f}); }
  void rx_mbufs(uint8_t port, std::vector<rte_mbuf*> pkts);
  // Engine time of the next burst or drain; it only moves when told.
  void advance(pathlab::Nanos dt) { now_ += dt; }
  pathlab::Nanos now() const { return now_; }
  // One worker-loop drain of r1's holding stages at now(); returns the packets released.
  uint32_t drain() { return r_->drain(io(), now_); }
  // Drains what r1 sent out of `port`.
  std::vector<Bytes> tx(uint8_t port);
  // Sum of frames waiting on every tx ring of r1.
  unsigned tx_pending();
  unsigned ctrl_pending();
  unsigned poll();
  std::vector<Injected> injected();
  // Does what worker 0 does with the inject ring: Router::send_ctrl on the port each packet
  // names (so the frames land on r1's tx rings and count as ctrl_tx). Returns how many.
  unsigned deliver_injected();

  Counts counts();
  // Counters that changed since `before` (only the non-zero differences).
  Counts delta(const Counts& before);
  uint64_t drop(std::string_view name);
  uint64_t event(std::string_view name);
  // rx == tx + drops + consumed + held (by stages), summed over r1's ports and workers.
  ::testing::AssertionResult balanced();
  // mbufs of the pool that are not free.
  unsigned in_use();

  // The neighbour entry word of r1 (0 when there is no entry).
  uint64_t neigh4(uint8_t port, const std::string& ip);
  uint64_t neigh6(uint8_t port, const std::string& ip);

 private:
  std::unique_ptr<pathlab::Dataplane> dp_;
  pathlab::Router* r_ = nullptr;
  unsigned pool_size_ = 0;
  pathlab::Nanos now_ = 0;
};

// Builds an expected delta: {"rx", n}, {"rx:p0", n} for `n` frames received on port `in`, plus
// the extra counters given.
Counts expect_rx(uint8_t in, uint64_t n, Counts extra = {});

// MAC of a neighbour word, as "aa:bb:..".
std::string neigh_mac(uint64_t word);

}  // namespace pltest

namespace pathlab {
// Readable NeighState in gtest messages.
inline void PrintTo(NeighState s, std::ostream* os) {
  static const char* const kNames[] = {"Incomplete", "Reachable", "Failed", "Static"};
  const auto i = static_cast<unsigned>(s);
  *os << (i < 4 ? kNames[i] : "?");
}
}  // namespace pathlab
