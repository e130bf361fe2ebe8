#pragma once
// A port's ordered list of stage instances for one worker. Runs a batch through every stage,
// one virtual call per stage per burst, and takes out what a stage dropped, held, generated or
// redirected. drain() releases what holding stages keep and runs it through the stages after
// them.
#include <algorithm>
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
  explicit Chain(std::vector<std::unique_ptr<Stage>> stages) : stages_(std::move(stages)) {
    for (const auto& s : stages_) holds_ = holds_ || s->holds();
    for (size_t i = 0; i < stages_.size(); ++i) stages_[i]->attach(stages_, i);
    if (holds_) scratch_ = std::make_unique<Batch>();
  }
  bool empty() const { return stages_.empty(); }
  // Some stage may hold packets: the worker must call drain() on every loop.
  bool holds() const { return holds_; }
  const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

  // Runs every stage; afterwards b holds only passing packets, in their original order, and
  // b.gen / b.redirect gain what stages turned into router-originated or redirected packets.
  void run(Batch& b) { run_from(0, b); }

  void run_from(size_t first, Batch& b) {
    for (size_t i = first; i < stages_.size(); ++i) {
      if (b.n == 0) return;
      Stage& stage = *stages_[i];
      stage.process(b);
      if (!all_pass(b)) compact(stage, b);
    }
  }

  // Releases what is due at `now` from every holding stage; released packets continue through
  // the stages after their holder. Passing packets are appended to out.pkts, generated and
  // redirected ones to out.gen / out.redirect. Returns how many packets were released.
  uint32_t drain(Nanos now, Batch& out) {
    uint32_t released = 0;
    for (size_t i = 0; i < stages_.size(); ++i) {
      Stage& stage = *stages_[i];
      if (!stage.holds()) continue;
      const uint16_t used = std::max({out.n, out.ngen, out.nredirect});
      if (used >= kMaxBurst) break;
      Batch& t = *scratch_;
      t.ngen = 0;
      t.nredirect = 0;
      t.now = now;
      t.n = stage.drain(now, t.pkts, static_cast<uint16_t>(kMaxBurst - used));
      if (t.n == 0) continue;
      released += t.n;
      Stage::bump(stage.released_, t.n);
      run_from(i + 1, t);
      std::memcpy(out.pkts + out.n, t.pkts, t.n * sizeof(rte_mbuf*));
      out.n = static_cast<uint16_t>(out.n + t.n);
      std::memcpy(out.gen + out.ngen, t.gen, t.ngen * sizeof(rte_mbuf*));
      out.ngen = static_cast<uint16_t>(out.ngen + t.ngen);
      for (uint16_t k = 0; k < t.nredirect; ++k) {
        out.redirect[out.nredirect] = t.redirect[k];
        out.redirect_to[out.nredirect++] = t.redirect_to[k];
      }
    }
    return released;
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

  // Applies one stage's verdicts: counts and frees drops, counts holds, moves generated and
  // redirected packets out of the burst.
  static void compact(Stage& stage, Batch& b) {
    uint16_t kept = 0;
    uint64_t held = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      const uint8_t v = b.verdict[i];
      if (v == kPass) [[likely]] {
        b.pkts[kept++] = b.pkts[i];
      } else if (v == kHeld) {
        ++held;
      } else if (v == kGenerated) {
        b.gen[b.ngen++] = b.pkts[i];
      } else if (v == kRedirect) {
        b.redirect[b.nredirect] = b.pkts[i];
        b.redirect_to[b.nredirect++] = b.redirect_port[i];
      } else {
        stage.count_drop(v - 1u);
        rte_pktmbuf_free(b.pkts[i]);
      }
    }
    if (held != 0) Stage::bump(stage.held_, held);
    b.n = kept;
  }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
  bool holds_ = false;
  std::unique_ptr<Batch> scratch_;  // drain's working burst (holding chains only)
};

}  // namespace pathlab
