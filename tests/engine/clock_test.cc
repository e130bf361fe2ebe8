// Engine time (engine/clock.hpp) keeps pace with CLOCK_MONOTONIC_RAW: the TSC frequency is
// measured, not taken from rte_get_tsc_hz() (rounded to 10 MHz where DPDK measures it itself).
#include <gtest/gtest.h>
#include <time.h>

#include <cstdint>

#include "pathlab/engine/clock.hpp"

namespace pathlab {
namespace {

TEST(TscClock, KeepsPaceWithTheMonotonicClock) {
  const TscClock clock;
  const auto [tsc0, ns0] = clock_detail::sample();
  timespec d{0, 300'000'000};
  while (nanosleep(&d, &d) != 0) {
  }
  const auto [tsc1, ns1] = clock_detail::sample();
  const double engine = static_cast<double>(clock.to_ns(tsc1) - clock.to_ns(tsc0));
  const double real = static_cast<double>(ns1 - ns0);
  // 20 ppm: the 50 ms measurement's error is about 1 ppm; a 10 MHz rounding would be >= 1000.
  EXPECT_NEAR(engine / real, 1.0, 20e-6) << "engine " << engine << " ns, real " << real
                                         << " ns, TSC " << engine_tsc_hz() << " Hz";
}

TEST(TscClock, OneFrequencyPerProcess) {
  const uint64_t hz = engine_tsc_hz();
  EXPECT_GT(hz, 0u);
  EXPECT_EQ(engine_tsc_hz(), hz);
  const TscClock a, b;
  EXPECT_EQ(a.to_ns(uint64_t{1} << 40), b.to_ns(uint64_t{1} << 40));
  EXPECT_EQ(TscClock(hz).to_ns(12345678901), a.to_ns(12345678901));
}

}  // namespace
}  // namespace pathlab
