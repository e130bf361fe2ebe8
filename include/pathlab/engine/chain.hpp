#pragma once
// A port's ordered list of stage instances for one worker. Runs a batch through every stage,
// one virtual call per stage per burst, and removes what a stage dropped or took.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <rte_mbuf.h>

#include "pathlab/engine/stage.hpp"

namespace pathlab {

class Chain {
 public:
  Chain() = default;
  explicit Chain(std::vector<std::unique_ptr<Stage>> stages) : stages_(std::move(stages)) {}
  bool empty() const { return stages_.empty(); }
  const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

  // Runs every stage; afterwards b holds only passing packets, in their original order, and
  // b.gen gains what stages turned into router-originated packets (the caller routes them).
  void run(Batch& b) {
    for (auto& stage : stages_) {
      if (b.n == 0) return;
      stage->process(b);
      if (!all_pass(b)) compact(*stage, b);
    }
  }

  // True when every verdict is kPass (0): compaction would only copy the burst onto itself.
  // Eight verdicts per load.
  static bool all_pass(const Batch& b) {
    uint64_t any = 0;
    uint16_t i = 0;
    for (; i + 8u <= b.n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b.verdict + i, 8);
      any |= w;
    }
    for (; i < b.n; ++i) any |= b.verdict[i];
    return any == 0;
  }

  // Applies one stage's verdicts: counts and frees drops, moves generated replies to b.gen.
  static void compact(Stage& stage, Batch& b) {
    uint16_t kept = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      const uint8_t v = b.verdict[i];
      if (v == kPass) [[likely]] {
        b.pkts[kept++] = b.pkts[i];
      } else if (v == kGenerated) {
        b.gen[b.ngen++] = b.pkts[i];
      } else if (v != kTaken) {
        stage.count_drop(v - 1u);
        rte_pktmbuf_free(b.pkts[i]);
      }
    }
    b.n = kept;
  }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
};

}  // namespace pathlab
