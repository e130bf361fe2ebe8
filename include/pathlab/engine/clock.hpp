#pragma once
// Engine time (batch.hpp: Nanos) from the TSC: one multiply and shift per worker loop.
#include <cstdint>

#include <rte_cycles.h>

#include "pathlab/engine/batch.hpp"

namespace pathlab {

class TscClock {
 public:
  TscClock() {
    const uint64_t hz = rte_get_tsc_hz();
    // ns = tsc * mult >> 32; a 32.32 fixed-point ratio (exact to 1 ns in 2^32 / hz seconds).
    mult_ = hz == 0 ? 0 : (uint64_t{1000000000} << 32) / hz;
  }
  // Since the TSC's epoch: the same origin on every worker.
  Nanos now() const { return to_ns(rte_get_tsc_cycles()); }
  Nanos to_ns(uint64_t cycles) const {
    return static_cast<Nanos>((static_cast<unsigned __int128>(cycles) * mult_) >> 32);
  }

 private:
  uint64_t mult_ = 0;
};

}  // namespace pathlab
