#pragma once
// A stage: a small class the engine calls once per burst. It reads and rewrites packets in
// place, and writes a verdict per packet (see batch.hpp). Each instance belongs to one worker, so
// its counters are per lcore without sharing; readers sum the instances.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pathlab/config/config.hpp"
#include "pathlab/engine/batch.hpp"
#include "pathlab/net/addr.hpp"

namespace pathlab {

// One named counter: a drop reason or an action, with a one-line description.
struct CounterDesc {
  std::string_view name;
  std::string_view help;
};

// Where a stage instance runs; fixed when it is built.
struct StageSite {
  std::string router;
  std::string port;
  bool egress = false;
  uint16_t port_mtu = 1500;
  unsigned worker = 0;
  std::vector<Ip4Prefix> ip4;  // the port's addresses: the source of replies a stage generates
  std::vector<Ip6Prefix> ip6;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // One call per burst. Writes b.verdict[i] for every i < b.n (kPass, a drop reason, kTaken).
  virtual void process(Batch& b) = 0;
  // Restarts any random stream from `seed` (replay reseeds per chunk for deterministic output).
  virtual void reseed(uint64_t /*seed*/) {}
  // True when a packet's fate depends on earlier packets (flow tables, counters in headers):
  // replay then keeps such chains on one thread, in order.
  virtual bool stateful() const { return false; }

  std::span<const CounterDesc> drop_descs() const { return drop_descs_; }
  std::span<const CounterDesc> action_descs() const { return action_descs_; }
  // Counter values, read from another thread with relaxed loads.
  uint64_t drop_count(size_t i) const { return load(drops_[i]); }
  uint64_t action_count(size_t i) const { return load(actions_[i]); }

 protected:
  Stage(std::span<const CounterDesc> drops, std::span<const CounterDesc> actions)
      : drop_descs_(drops), action_descs_(actions), drops_(drops.size()), actions_(actions.size()) {}
  // Only the owning worker writes; a plain add published with a relaxed store.
  void count_action(size_t i, uint64_t n = 1) { bump(actions_[i], n); }

 private:
  friend class Chain;
  struct alignas(64) Cell {
    uint64_t v = 0;
  };
  static uint64_t load(const Cell& c) { return __atomic_load_n(&c.v, __ATOMIC_RELAXED); }
  static void bump(Cell& c, uint64_t n) { __atomic_store_n(&c.v, c.v + n, __ATOMIC_RELAXED); }
  void count_drop(size_t i) { bump(drops_[i], 1); }

  std::span<const CounterDesc> drop_descs_;
  std::span<const CounterDesc> action_descs_;
  std::vector<Cell> drops_;
  std::vector<Cell> actions_;
};

// Parses a stage's params once (throwing ConfigError), then builds one instance per worker.
using StageBuilder = std::function<std::unique_ptr<Stage>(const StageSite&)>;
using StageParser = std::function<StageBuilder(const StageSpec&, const std::string& file)>;

struct StageInfo {
  std::string name;
  std::string help;
  std::span<const CounterDesc> drops;
  std::span<const CounterDesc> actions;
  StageParser parse;
};

class StageRegistry {
 public:
  static StageRegistry& instance();
  void add(StageInfo info);
  const StageInfo* find(std::string_view name) const;
  const std::vector<StageInfo>& all() const { return stages_; }
  // Throws ConfigError naming the spec's position for an unknown stage or bad params.
  StageBuilder parse(const StageSpec& spec, const std::string& file) const;

 private:
  std::vector<StageInfo> stages_;
};

// Registers a stage at static-initialisation time: one line at the bottom of its .cc file.
struct StageRegistration {
  explicit StageRegistration(StageInfo info) { StageRegistry::instance().add(std::move(info)); }
};

}  // namespace pathlab
