#pragma once
// State that every worker of a router shares, and the one primitive for it: FlowTable.
//
// FlowTable is an rte_hash with lock-free reader/writer concurrency
// (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF) and multi-writer add, so any worker finds, inserts and
// removes keys. Lookups take no lock; an insert or remove takes rte_hash's internal writer lock
// for the few bucket stores it makes (a flow's first and last packet, not its others). A removed
// key's position is reclaimed through the dataplane's RCU QSBR variable once every worker has
// passed a quiescent state (the worker loop reports one per iteration), so a position a worker
// read during a burst stays valid to the end of that burst. Without a QSBR variable (replay,
// unit tests: one thread) the table is a plain rte_hash and positions are freed at once. Writers
// must be EAL or registered (rte_thread_register) threads: rte_hash keeps free slots per lcore.
//
// The table hands out positions in [0, slots()); the owner keeps its values in an array indexed by
// position. A writer fills the value, then publishes it with publish(); readers check ready().
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

struct rte_hash;
struct rte_rcu_qsbr;

namespace pathlab {

class FlowTable {
 public:
  // `capacity` keys of `key_len` bytes. Throws std::runtime_error when the table cannot be made.
  FlowTable(const std::string& name, uint32_t capacity, uint32_t key_len, rte_rcu_qsbr* qsbr);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Position of key, or -1.
  int32_t find(const void* key) const;
  // find() for n <= kBulkMax keys at once, a negative position for a miss: the bucket misses of a
  // burst overlap.
  static constexpr uint32_t kBulkMax = 64;  // RTE_HASH_LOOKUP_BULK_MAX
  void find_bulk(const void** keys, uint32_t n, int32_t* pos) const;
  // Position of key, added if absent (created = true); -1 when the table is full.
  int32_t insert(const void* key, bool& created);
  // Removes key if present; its position is reclaimed after a grace period.
  bool remove(const void* key);
  // Positions run from 0 to slots() - 1 (more than capacity: writers cache free slots).
  uint32_t slots() const { return slots_; }
  uint32_t capacity() const { return capacity_; }
  uint32_t count() const;

  // Per-position states of the owner's values: free, claimed by the one inserter that gets
  // created = true, published.
  bool ready(int32_t pos) const { return ready_[pos].load(std::memory_order_acquire) == kPublished; }
  const void* ready_line(int32_t pos) const { return &ready_[pos]; }
  void publish(int32_t pos) { ready_[pos].store(kPublished, std::memory_order_release); }

 private:
  rte_hash* hash_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t slots_ = 0;
  static constexpr uint8_t kFree = 0, kClaimed = 1, kPublished = 2;
  std::unique_ptr<std::atomic<uint8_t>[]> ready_;
};

// A router's cross-worker objects, by name, created at build time (one thread) and used by the
// stage instances of every worker.
class SharedState {
 public:
  SharedState(std::string prefix, rte_rcu_qsbr* qsbr) : prefix_(std::move(prefix)), qsbr_(qsbr) {}
  rte_rcu_qsbr* qsbr() const { return qsbr_; }
  // A unique memzone-safe name for an object of this router.
  std::string name(const std::string& what) const { return prefix_ + "_" + what; }

  // The object named `key`, made by make() the first time it is asked for. Build time only.
  template <typename T>
  std::shared_ptr<T> object(const std::string& key, const std::function<std::shared_ptr<T>()>& make) {
    auto& slot = objects_[key];
    if (!slot) slot = make();
    return std::static_pointer_cast<T>(slot);
  }

 private:
  std::string prefix_;
  rte_rcu_qsbr* qsbr_;
  std::map<std::string, std::shared_ptr<void>> objects_;
};

}  // namespace pathlab
