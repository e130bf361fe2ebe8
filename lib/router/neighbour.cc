#include "pathlab/router/neighbour.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_jhash.h>

namespace pathlab {

NeighbourTable::NeighbourTable(const std::string& name, uint32_t capacity) {
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity < 64 ? 64 : capacity;
  p.key_len = sizeof(NeighKey);
  p.hash_func = rte_jhash;
  p.socket_id = SOCKET_ID_ANY;
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  hash_ = rte_hash_create(&p);
  if (hash_ == nullptr) {
    throw std::runtime_error(fmt::format("neighbour table {}: {}", name, rte_strerror(rte_errno)));
  }
  entries_.resize(capacity);
  for (auto& e : entries_) e = std::make_unique<Neighbour>();
}

NeighbourTable::~NeighbourTable() { rte_hash_free(hash_); }

uint32_t NeighbourTable::get_or_create(const NeighKey& k) {
  const uint32_t found = find(k);
  if (found != kNone) return found;
  const uint32_t idx = count_.load(std::memory_order_relaxed);
  if (idx >= entries_.size()) return kNone;
  Neighbour& e = *entries_[idx];
  e.key = k;
  e.word.store(pack_neigh({}, NeighState::Incomplete), std::memory_order_release);
  if (rte_hash_add_key_data(hash_, &k, reinterpret_cast<void*>(static_cast<uintptr_t>(idx))) < 0) {
    return kNone;
  }
  count_.store(idx + 1, std::memory_order_release);
  return idx;
}

NeighKey neigh_key4(uint8_t port, Ip4Addr ip) {
  NeighKey k{};
  k.family = 4;
  k.port = port;
  k.ip4 = ip.v;
  return k;
}

NeighKey neigh_key6(uint8_t port, const Ip6Addr& ip) {
  NeighKey k{};
  k.family = 6;
  k.port = port;
  std::memcpy(k.ip6, ip.b.data(), 16);
  return k;
}

}  // namespace pathlab
