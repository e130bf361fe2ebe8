#pragma once
// Engine time (batch.hpp: Nanos) from the TSC: one multiply and shift per read.
#include <time.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <utility>

#include <rte_cycles.h>

#include "pathlab/engine/batch.hpp"

namespace pathlab {

namespace clock_detail {

inline uint64_t raw_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// One (tsc, ns) pair: the TSC read inside the tightest of 16 brackets of two clock reads, the
// clock taken at the bracket's middle (a preemption inside a bracket only widens it).
inline std::pair<uint64_t, uint64_t> sample() {
  uint64_t gap = UINT64_MAX, tsc = 0, ns = 0;
  for (int i = 0; i < 16; ++i) {
    const uint64_t a = raw_ns();
    const uint64_t t = rte_get_tsc_cycles();
    const uint64_t b = raw_ns();
    if (b - a < gap) {
      gap = b - a;
      tsc = t;
      ns = a + (b - a) / 2;
    }
  }
  return {tsc, ns};
}

inline uint64_t measure_tsc_hz() {
  const auto [t0, n0] = sample();
  timespec d{0, 50'000'000};
  while (nanosleep(&d, &d) != 0) {
  }
  const auto [t1, n1] = sample();
  const uint64_t dpdk = rte_get_tsc_hz();
  if (n1 <= n0 || t1 <= t0) return dpdk;
  const double hz = static_cast<double>(t1 - t0) * 1e9 / static_cast<double>(n1 - n0);
  // A TSC that does not tick steadily is no clock to measure; keep DPDK's figure then.
  if (dpdk != 0 && (hz < 0.95 * static_cast<double>(dpdk) || hz > 1.05 * static_cast<double>(dpdk))) {
    return dpdk;
  }
  return static_cast<uint64_t>(hz + 0.5);
}

}  // namespace clock_detail

// The TSC's frequency, measured once per process against CLOCK_MONOTONIC_RAW over 50 ms (the
// first call; thread-safe), to about 1 ppm. Not rte_get_tsc_hz(): where the CPU does not state
// its TSC frequency (AMD, most VMs) DPDK measures it for 100 ms and rounds it to a multiple of
// 10 MHz, and with a 2096.01 MHz TSC engine time ran 0.19% slow: every link rate 0.19% low,
// every delay 0.19% long.
inline uint64_t engine_tsc_hz() {
  static const uint64_t hz = clock_detail::measure_tsc_hz();
  return hz;
}

// Engine time plus this is Unix time in ns. Live runs set it once at start (set_wall_clock); replay
// leaves it 0, its engine time being the capture's Unix timestamps. Read by IPIM's time field.
inline std::atomic<int64_t> g_wall_offset_ns{0};
inline int64_t wall_offset_ns() { return g_wall_offset_ns.load(std::memory_order_relaxed); }

class TscClock {
 public:
  TscClock() : TscClock(engine_tsc_hz()) {}
  explicit TscClock(uint64_t hz) {
    // ns = tsc * mult >> 32; a 32.32 fixed-point ratio (exact to 1 ns in 2^32 / hz seconds).
    mult_ = hz == 0 ? 0 : (uint64_t{1000000000} << 32) / hz;
  }
  // Since the TSC's epoch: the same origin on every worker.
  Nanos now() const { return to_ns(rte_get_tsc_cycles()); }
  // Ties engine time to CLOCK_REALTIME (see g_wall_offset_ns).
  void set_wall_clock() const {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const int64_t real = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
    g_wall_offset_ns.store(real - static_cast<int64_t>(now()), std::memory_order_relaxed);
  }
  Nanos to_ns(uint64_t cycles) const {
    return static_cast<Nanos>((static_cast<unsigned __int128>(cycles) * mult_) >> 32);
  }

 private:
  uint64_t mult_ = 0;
};

}  // namespace pathlab
