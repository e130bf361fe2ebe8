#pragma once
// Shared by the stage benchmarks (bench/stages/*_bench.cc): the mempool, building a stage from
// YAML through the registry as the dataplane does, loading a frame into an mbuf as Ethernet input
// leaves it, the timed burst loop with its cyc/pkt, ns/pkt (and best) counters, and the standard
// registration (bursts of 32 and 256, manual time, a "min" statistic). Each *_bench.cc keeps only
// its frames and cases.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_cycles.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/engine/stage.hpp"

namespace pathlab::bench {

using Frame = std::vector<uint8_t>;

// The benchmark binary's mbuf pool (1023 mbufs), created on first use under `name` and freed at
// teardown; nullptr if it could not be created.
rte_mempool* stage_pool(const char* name);

// A stage of `kind` built from the YAML `params` through the registry, as the dataplane builds it.
// Throws what the registry throws on bad parameters.
std::unique_ptr<Stage> make_stage(const std::string& kind, const std::string& params,
                                  const StageSite& site = StageSite{.router = "r1", .port = "p0"});

// Fills `b` with `n` fresh mbufs of stage_pool(pool_name) (b.n = n, b.ngen = 0). False, with the
// benchmark skipped, when the pool or the mbufs are not there.
bool alloc_burst(benchmark::State& state, const char* pool_name, Batch& b, uint16_t n);

// The metadata Ethernet input leaves on an untagged IPv4 frame with a 20-byte header.
void set_ip4_meta(rte_mbuf* m);

// The mbuf as Ethernet input leaves it: reset, `f` copied in, packet_type/l2_len/l3_len set from
// the frame (IPv6: 40; IPv4: the IHL).
void load_frame(rte_mbuf* m, const Frame& f);

// Accumulates the TSC cycles of the timed region of each iteration and reports the counters:
// cyc/pkt (TSC cycles per packet), ns/pkt, items_per_second, and optionally best (the cheapest
// burst's cycles per packet).
class BurstTimer {
 public:
  BurstTimer() : tsc_hz_(static_cast<double>(rte_get_tsc_hz())) {}

  // Times `fn` (one burst of `n` packets) and sets it as the iteration's time.
  template <class Fn>
  void time(benchmark::State& state, uint16_t n, Fn&& fn) {
    const uint64_t t0 = rte_rdtsc();
    fn();
    const uint64_t t1 = rte_rdtsc();
    cycles_ += t1 - t0;
    best_ = std::min(best_, t1 - t0);
    packets_ += n;
    burst_ = n;
    state.SetIterationTime(static_cast<double>(t1 - t0) / tsc_hz_);
  }

  void report(benchmark::State& state, bool with_best = false) const;

 private:
  double tsc_hz_;
  uint64_t cycles_ = 0, packets_ = 0, best_ = UINT64_MAX;
  uint16_t burst_ = 1;
};

// `n` mbufs of stage_pool(pool_name); empty, with the benchmark skipped, when there are none.
std::vector<rte_mbuf*> alloc_mbufs(benchmark::State& state, const char* pool_name, uint16_t n);

// The benchmark loop over one burst of `mbufs`: before each timed call every mbuf is reloaded with
// frame_of(i) (untimed), then `process(b)` alone is timed.
template <class FrameOf, class Process>
void reload_and_time(benchmark::State& state, const std::vector<rte_mbuf*>& mbufs, Batch& b,
                     BurstTimer& timer, FrameOf&& frame_of, Process&& process) {
  const auto n = static_cast<uint16_t>(mbufs.size());
  for (auto _ : state) {
    for (uint16_t i = 0; i < n; ++i) {
      load_frame(mbufs[i], frame_of(i));
      b.pkts[i] = mbufs[i];
    }
    b.n = n;
    b.ngen = 0;
    timer.time(state, n, [&] { process(b); });
    benchmark::DoNotOptimize(b.verdict[n - 1]);
  }
}

// What run_stage checks after the loop, so that a benchmark of a mode that silently does nothing
// (or does the wrong thing) fails instead of reporting a flattering figure.
enum class Expect {
  Changed,    // every run must rewrite or drop the frame (some packet differs or is not passed)
  Unchanged,  // the frames must come out passed and byte-identical
  Pass,       // the first packet must be passed
};

// Stage::process on one burst of state.range(0) copies of `frame`. Before each timed call the
// burst's mbufs are reloaded from `frame` (untimed), so every call does the full work.
void run_stage(benchmark::State& state, const std::string& kind, const std::string& params,
               const Frame& frame, Expect expect,
               const StageSite& site = StageSite{.router = "r1", .port = "p0"});

double min_of(const std::vector<double>& v);

// Ethernet + IPv4 (198.18.0.1 -> 10.0.0.2, 20) + TCP 80 -> 40000 (20) + 10 bytes, or Ethernet +
// IPv6 (40) + TCP (20), checksums valid: the 64/74-byte frames of the dscp, ecn and normalize
// benchmarks. `tos` is the IPv4 ToS / IPv6 traffic class.
struct TcpFrame {
  bool v6 = false;
  uint8_t tos = 0;
  uint8_t flags = 0x10;  // ACK
  uint8_t ttl = 63;
  uint16_t ip_id = 0;
};
Frame tcp_frame(const TcpFrame& p);

// Ethernet + IPv4 (10.0.0.2 -> 198.18.0.1) or IPv6 (fd00::2 -> 2001:db8::1) + TCP 40000 -> 80
// with the options `opts`, `flags` and `payload` bytes of data, checksums valid.
Frame tcp_options_frame(bool v6, const Frame& opts, uint8_t flags, size_t payload, uint8_t tos = 0);

// Ethernet + IPv4 (10.0.0.2 -> 198.18.0.1) with the options area `ext` (a multiple of 4 bytes),
// or IPv6 (fd00::2 -> 2001:db8::1) with the Hop-by-Hop header `ext` (none if empty), + UDP
// 5000 -> 53 with `payload` bytes of data (byte i of the datagram is i), checksums valid.
Frame udp_frame(bool v6, const Frame& ext, size_t payload);

}  // namespace pathlab::bench

#define STAGE_BENCH(fn)                                                       \
  BENCHMARK(fn)->Arg(32)->Arg(256)->UseManualTime()->ComputeStatistics("min", \
                                                                       ::pathlab::bench::min_of)
