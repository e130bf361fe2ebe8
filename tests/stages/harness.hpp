#pragma once
// Stage unit tests: build one stage from YAML the way the dataplane does (through the registry),
// feed it frames as the router's Ethernet input would leave them (packet_type, l2_len, l3_len;
// VLAN tags allowed), and read back the bytes, verdicts and counters.
//
//   StageRun s("ecn", "bleach: true");         // YAML params, without the `stage` key
//   auto out = s.run({frame_a, frame_b});      // one burst
//   EXPECT_EQ(out[0].verdict, kPass);
//   EXPECT_EQ(out[0].bytes, expected);
//   EXPECT_EQ(s.action("bleached"), 1u);
//
// Frames come from scapy at build time: a test's gen_<name>.py writes <name>_frames.json
// (case name -> {"in": hex, "out": hex, ...}); frames("case", "in") reads one.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pathlab/engine/batch.hpp"
#include "pathlab/engine/stage.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace pathlab::test {

using Bytes = std::vector<uint8_t>;

Bytes hex(const std::string& s);
std::string to_hex(const Bytes& b);

// The scapy-built frames of this test binary: <build>/tests/stages/<file>.
class Frames {
 public:
  explicit Frames(const std::string& file);
  Bytes get(const std::string& name, const std::string& field = "in") const;
  bool has(const std::string& name) const;
  long number(const std::string& name, const std::string& field) const;
  // Every case's "in" and "out" frames, named "case.field".
  std::vector<std::pair<std::string, Bytes>> all() const;

 private:
  std::map<std::string, std::map<std::string, std::string>> cases_;
};

// EAL (no hugepages, no devices) and one mbuf pool for the whole binary.
rte_mempool* pool();
// An mbuf holding `frame`, with the metadata Ethernet input sets; l2_len found by walking up to
// two VLAN tags. Non-IP frames get packet_type 0.
rte_mbuf* make_mbuf(const Bytes& frame);
Bytes bytes_of(const rte_mbuf* m);

struct Out {
  uint8_t verdict = kPass;  // kPass, kGenerated, kHeld, kRedirect, or drop reason index + 1
  Bytes bytes;              // the frame after the stage (empty when dropped)
  uint8_t redirect_port = 0;  // with kRedirect
};

class StageRun {
 public:
  // `site` defaults to router r1, port p0, ingress, MTU 1500, worker 0, addresses 10.0.0.1/24,
  // 2001:db8::1/64.
  StageRun(const std::string& kind, const std::string& yaml_params);
  StageRun(const std::string& kind, const std::string& yaml_params, const StageSite& site);
  ~StageRun();

  // One burst through Stage::process, then the engine's compaction (drops counted and freed);
  // verdicts as the stage wrote them.
  std::vector<Out> run(const std::vector<Bytes>& frames);
  Out run1(const Bytes& frame) { return run({frame})[0]; }

  uint64_t action(std::string_view name) const;
  uint64_t drop(std::string_view name) const;
  Stage& stage() { return *stage_; }
  static StageSite default_site();
  // Engine time of the bursts run from now on; default: the TSC clock.
  void set_now(Nanos t) { now_ = t; }
  Nanos now() const;

 private:
  std::unique_ptr<Stage> stage_;
  std::optional<Nanos> now_;
};

// The frames that came through a burst as the engine keeps them (verdict kPass), in order.
std::vector<Bytes> passed(const std::vector<Out>& out);

// One frame through Stage::process alone (no compaction), read back with its mbuf metadata.
struct MbufOut {
  uint8_t verdict = kPass;
  Bytes bytes;
  uint32_t pkt_len = 0;
  uint16_t data_len = 0, l2_len = 0, l3_len = 0;
};
MbufOut run_mbuf(StageRun& s, const Bytes& frame);
// The stage passed the frame and rewrote it to `want` with valid checksums, the mbuf's pkt_len
// and data_len agreeing (one segment). `what` names the case in failure messages.
void expect_rewritten(const MbufOut& o, const Bytes& want, const std::string& what);

// "carrier/scenario" for every carrier and scenario, carriers outermost.
std::vector<std::string> carrier_cases(std::span<const char* const> carriers,
                                       std::initializer_list<const char*> scenarios);

// Parsing only: the ConfigError text a bad params block gives ("" when it parses).
std::string parse_error(const std::string& kind, const std::string& yaml_params);

// Checksums of a frame (as produced by a stage) are all valid: the IPv4 header checksum and the
// TCP/UDP/ICMPv6 checksum over its pseudo-header (ICMPv4 over its message).
// Each (params, ConfigError text) case: parse_error(kind, params) gives exactly that text.
using ParseCases = std::vector<std::pair<std::string, std::string>>;
void expect_parse_errors(const std::string& kind, const ParseCases& cases);

::testing::AssertionResult checksums_ok(const Bytes& frame);

// An untagged IPv4 frame (host-order addresses) with UDP (4 bytes of data), TCP (no options) or
// ICMP (an echo of type icmp_type, identifier sport); every checksum valid.
Bytes ip4_frame(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                uint8_t tcp_flags = 0x02, uint8_t icmp_type = 8);

}  // namespace pathlab::test
