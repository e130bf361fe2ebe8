#pragma once
// A stage: a small class the engine calls once per burst. It reads and rewrites packets in
// place, and writes a verdict per packet (see batch.hpp). Each instance belongs to one worker, so
// its counters are per lcore without sharing; readers sum the instances. State that must be seen
// by every worker (flow tables) lives in the router's SharedState (engine/shared.hpp).
// Fast-path header: no configuration or YAML here (see engine/stage_registry.hpp).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pathlab/engine/batch.hpp"
#include "pathlab/net/addr.hpp"

struct rte_mbuf;

namespace pathlab {

class SharedState;

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
  std::string name;            // the stage's name in its chain (counter paths)
  unsigned workers = 1;        // instances of this stage, one per worker
  SharedState* shared = nullptr;  // the router's cross-worker state; null in single-worker tools
  uint32_t asn = 0;                // the router's AS number (0: none)
  std::vector<std::vector<Ip4Prefix>> port_ip4;  // every port's addresses, by router port index
  std::vector<std::vector<Ip6Prefix>> port_ip6;
  std::vector<std::string> port_names;  // every port's name, by router port index (m->port)
};

class Stage {
 public:
  virtual ~Stage() = default;
  // One call per burst. Writes b.verdict[i] for every i < b.n (see batch.hpp). b.now is the
  // burst's arrival time.
  virtual void process(Batch& b) = 0;
  // Stages that hold packets (kHeld) say so here; the worker then calls drain() on every loop,
  // idle or not.
  virtual bool holds() const { return false; }
  // Releases held packets that are due at `now` into out (at most `room`); returns how many.
  // They continue through the rest of the chain. drain(kForever, ...) releases everything.
  virtual uint16_t drain(Nanos /*now*/, rte_mbuf** /*out*/, uint16_t /*room*/) { return 0; }
  // Called once the chain is built, with the chain and this stage's index in it: a stage that
  // reads another (ipim reads the link after it) finds it here.
  virtual void attach(std::span<const std::unique_ptr<Stage>> /*chain*/, size_t /*self*/) {}
  // Restarts any random stream from `seed` (replay reseeds per chunk for deterministic output).
  virtual void reseed(uint64_t /*seed*/) {}
  // False when the stage never reads the stored packet view (net/view.hpp): a router whose
  // chains hold only such stages skips storing it.
  virtual bool reads_view() const { return true; }
  // True when a packet's fate depends on earlier packets (flow tables, counters in headers):
  // replay then keeps such chains on one thread, in order.
  virtual bool stateful() const { return false; }

  const std::string& name() const { return name_; }
  std::span<const CounterDesc> drop_descs() const { return drop_descs_; }
  std::span<const CounterDesc> action_descs() const { return action_descs_; }
  // Counter values, read from another thread with relaxed loads.
  uint64_t drop_count(size_t i) const { return load(drops_[i]); }
  uint64_t action_count(size_t i) const { return load(actions_[i]); }
  // Packets this instance took into holding, and released; held_now() is what it holds now.
  uint64_t held_count() const { return load(held_); }
  uint64_t released_count() const { return load(released_); }
  uint64_t held_dropped_count() const { return load(held_dropped_); }  // dropped while held
  uint64_t held_now() const { return held_count() - released_count() - held_dropped_count(); }
  // Packets this instance made (duplicates): the books read rx + created = tx + drops + ...
  uint64_t created_count() const { return load(created_); }

 protected:
  Stage(std::span<const CounterDesc> drops, std::span<const CounterDesc> actions)
      : drop_descs_(drops), action_descs_(actions), drops_(drops.size()), actions_(actions.size()) {}
  // Only the owning worker writes; a plain add published with a relaxed store.
  void count_action(size_t i, uint64_t n = 1) { bump(actions_[i], n); }
  // A packet the stage made itself (a copy) and keeps: counted as created and held.
  void count_created_held() {
    bump(created_, 1);
    bump(held_, 1);
  }
  // Drops a packet outside the verdicts, under drop reason i: one the stage made and never held
  // (counted as created), or one it held.
  void drop_created(size_t i, rte_mbuf* m);
  void drop_held(size_t i, rte_mbuf* m);

 private:
  friend class Chain;
  friend void name_stage(Stage& s, std::string name);
  struct alignas(64) Cell {
    uint64_t v = 0;
  };
  static uint64_t load(const Cell& c) { return __atomic_load_n(&c.v, __ATOMIC_RELAXED); }
  static void bump(Cell& c, uint64_t n) { __atomic_store_n(&c.v, c.v + n, __ATOMIC_RELAXED); }
  void count_drop(size_t i) { bump(drops_[i], 1); }

  std::string name_;
  std::span<const CounterDesc> drop_descs_;
  std::span<const CounterDesc> action_descs_;
  std::vector<Cell> drops_;
  std::vector<Cell> actions_;
  Cell held_, released_, held_dropped_, created_;
};

inline void name_stage(Stage& s, std::string name) { s.name_ = std::move(name); }

// Builds one instance per worker from parameters parsed once, at load.
using StageBuilder = std::function<std::unique_ptr<Stage>(const StageSite&)>;

}  // namespace pathlab
