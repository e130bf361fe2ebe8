#pragma once
// Neighbour table (ARP and ND) of one router, bounded. The control path is the only writer;
// workers read entries lock-free: the MAC and state share one 64-bit atomic word, and the index
// is the key's position in an rte_hash made for lock-free reader/writer concurrency.
//
// Static and gateway entries are pinned. Every other entry sits on one of three LRU lists, and
// when the table is full the control path evicts the front of the first non-empty one: stale
// (failed, or expired and idle), then probing (oldest first), then reachable (least recently
// confirmed). A removed position is reused only after every worker has passed a quiescent state
// (the dataplane's RCU QSBR variable, through an rte_rcu_qsbr defer queue), so an index a worker
// read during a burst keeps its entry to the end of that burst.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <rte_hash.h>

#include "pathlab/net/addr.hpp"

struct rte_mbuf;
struct rte_rcu_qsbr;
struct rte_rcu_qsbr_dq;

namespace pathlab {

enum class NeighState : uint8_t { Incomplete = 0, Reachable = 1, Failed = 2, Static = 3 };

// Eviction classes, in eviction order. Pinned entries are never evicted.
enum class NeighClass : uint8_t { Stale, Probing, Reachable, Pinned, None };

struct NeighKey {
  uint8_t family = 0;
  uint8_t port = 0;
  uint16_t pad = 0;
  uint32_t ip4 = 0;
  uint8_t ip6[16] = {};
};

struct Neighbour {
  std::atomic<uint64_t> word{0};  // MAC in bits 0..47, state in bits 56..63
  NeighKey key;
  // Control path only:
  std::deque<rte_mbuf*> held;
  uint64_t gen = 0;            // bumped each time the position gets a new key
  uint64_t probe_start_tsc = 0;
  uint64_t next_probe_tsc = 0;
  uint64_t confirmed_tsc = 0;  // when a learnt entry was last confirmed
  uint32_t probes = 0;
  bool probing = false;
  bool deferred = false;       // a probe waits for the probe rate limit
  NeighClass cls = NeighClass::None;
  uint32_t lru_prev = UINT32_MAX, lru_next = UINT32_MAX;
};

inline uint64_t pack_neigh(const MacAddr& mac, NeighState s) {
  uint64_t w = 0;
  for (int i = 0; i < 6; ++i) w |= static_cast<uint64_t>(mac.b[i]) << (8 * i);
  return w | (static_cast<uint64_t>(s) << 56);
}
inline NeighState neigh_state(uint64_t w) { return static_cast<NeighState>(w >> 56); }
inline bool neigh_usable(uint64_t w) {
  const auto s = neigh_state(w);
  return s == NeighState::Reachable || s == NeighState::Static;
}

class NeighbourTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  NeighbourTable(const std::string& name, uint32_t capacity);
  ~NeighbourTable();
  NeighbourTable(const NeighbourTable&) = delete;
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  // Worker side.
  uint32_t find(const NeighKey& k) const {
    const int32_t pos = rte_hash_lookup(hash_, &k);
    return pos < 0 ? kNone : static_cast<uint32_t>(pos);
  }
  Neighbour& at(uint32_t i) { return *entries_[i]; }
  const Neighbour& at(uint32_t i) const { return *entries_[i]; }
  uint32_t size() const { return count_.load(std::memory_order_relaxed); }
  uint32_t capacity() const { return capacity_; }
  // Positions run from 0 to slots() - 1; live(i) says whether one holds an entry.
  uint32_t slots() const { return static_cast<uint32_t>(entries_.size()); }
  bool live(uint32_t i) const { return entries_[i]->cls != NeighClass::None; }

  // Build time: removed positions wait for a grace period of qsbr (none: reused at once).
  void attach_rcu(rte_rcu_qsbr* qsbr);
  // Build time: the pinned entry for k (static neighbour or gateway); kNone when full.
  uint32_t pin(const NeighKey& k);

  // Control side. A new Incomplete entry of class c; kNone when full (make room with victim()
  // and remove() first) or when the hash refuses the key.
  uint32_t create(const NeighKey& k, NeighClass c);
  bool full() const { return size() >= capacity_; }
  // The entry to evict next, or kNone when every entry is pinned.
  uint32_t victim() const;
  // Takes the entry out of the table; its held packets must be gone.
  void remove(uint32_t i);
  // Moves the entry to the back of class c's list (no-op for a pinned entry).
  void set_class(uint32_t i, NeighClass c);
  // Returns positions whose grace period has ended to the free list.
  void reclaim();

 private:
  void unlink(uint32_t i);

  rte_hash* hash_ = nullptr;
  rte_rcu_qsbr_dq* dq_ = nullptr;
  std::string name_;
  uint32_t capacity_ = 0;
  std::vector<std::unique_ptr<Neighbour>> entries_;
  std::atomic<uint32_t> count_{0};
  // Heads and tails of the Stale, Probing and Reachable lists (kNone: empty).
  uint32_t head_[3] = {kNone, kNone, kNone};
  uint32_t tail_[3] = {kNone, kNone, kNone};
};

NeighKey neigh_key4(uint8_t port, Ip4Addr ip);
NeighKey neigh_key6(uint8_t port, const Ip6Addr& ip);

}  // namespace pathlab
