#pragma once
// Neighbour table (ARP and ND) of one router. The control path is the only writer; workers read
// entries lock-free: the MAC and state share one 64-bit atomic word, and the index is found in an
// rte_hash created with lock-free reader/writer concurrency. Entries are never freed while the
// router lives, so an index a worker holds stays valid.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <rte_hash.h>

#include "pathlab/net/addr.hpp"

struct rte_mbuf;

namespace pathlab {

enum class NeighState : uint8_t { Incomplete = 0, Reachable = 1, Failed = 2, Static = 3 };

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
  uint64_t next_probe_tsc = 0;
  uint64_t confirmed_tsc = 0;  // when a learnt entry was last confirmed
  uint32_t probes = 0;
  bool probing = false;
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
    void* data = nullptr;
    if (rte_hash_lookup_data(hash_, &k, &data) < 0) return kNone;
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
  }
  Neighbour& at(uint32_t i) { return *entries_[i]; }
  const Neighbour& at(uint32_t i) const { return *entries_[i]; }
  uint32_t size() const { return count_; }

  // Control side: the entry for k, created Incomplete if absent (kNone when full).
  uint32_t get_or_create(const NeighKey& k);

 private:
  rte_hash* hash_ = nullptr;
  std::vector<std::unique_ptr<Neighbour>> entries_;
  std::atomic<uint32_t> count_{0};
};

NeighKey neigh_key4(uint8_t port, Ip4Addr ip);
NeighKey neigh_key6(uint8_t port, const Ip6Addr& ip);

}  // namespace pathlab
