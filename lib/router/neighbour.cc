// rte_rcu_qsbr_dq_* are experimental API in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API

#include "pathlab/router/neighbour.hpp"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_jhash.h>
#include <rte_rcu_qsbr.h>

namespace pathlab {
namespace {

constexpr size_t idx(NeighClass c) { return static_cast<size_t>(c); }

// rte_rcu_qsbr_dq's free callback: the positions are free for new keys.
void free_positions(void* p, void* e, unsigned n) {
  auto* hash = static_cast<rte_hash*>(p);
  const auto* pos = static_cast<const uint32_t*>(e);
  for (unsigned i = 0; i < n; ++i) rte_hash_free_key_with_position(hash, static_cast<int32_t>(pos[i]));
}

}  // namespace

NeighbourTable::NeighbourTable(const std::string& name, uint32_t capacity)
    : name_(name), capacity_(capacity) {
  rte_hash_parameters p{};
  p.name = name.c_str();
  // Twice the capacity: cuckoo inserts do not fail near full, and positions in their grace
  // period do not take room from live entries.
  p.entries = 2 * (capacity < 64 ? 64 : capacity);
  p.key_len = sizeof(NeighKey);
  p.hash_func = rte_jhash;
  p.socket_id = SOCKET_ID_ANY;
  // Lock-free readers; a deleted key's position is freed by free_positions, never by the delete.
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  hash_ = rte_hash_create(&p);
  if (hash_ == nullptr) {
    throw std::runtime_error(fmt::format("neighbour table {}: {}", name, rte_strerror(rte_errno)));
  }
  entries_.resize(static_cast<size_t>(rte_hash_max_key_id(hash_)) + 1);
  for (auto& e : entries_) e = std::make_unique<Neighbour>();
}

NeighbourTable::~NeighbourTable() {
  if (dq_ != nullptr) rte_rcu_qsbr_dq_delete(dq_);
  rte_hash_free(hash_);
}

void NeighbourTable::attach_rcu(rte_rcu_qsbr* qsbr) {
  if (qsbr == nullptr || dq_ != nullptr) return;
  rte_rcu_qsbr_dq_parameters p{};
  p.name = name_.c_str();
  p.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE;  // the control path alone enqueues and reclaims
  p.size = slots();
  p.esize = sizeof(uint32_t);
  p.trigger_reclaim_limit = 0;
  p.max_reclaim_size = 64;
  p.free_fn = free_positions;
  p.p = hash_;
  p.v = qsbr;
  dq_ = rte_rcu_qsbr_dq_create(&p);
  if (dq_ == nullptr) {
    throw std::runtime_error(fmt::format("neighbour table {}: RCU defer queue: {}", name_, rte_strerror(rte_errno)));
  }
}

uint32_t NeighbourTable::pin(const NeighKey& k) {
  uint32_t i = find(k);
  if (i == kNone) i = create(k, NeighClass::Pinned);
  if (i != kNone) set_class(i, NeighClass::Pinned);
  return i;
}

uint32_t NeighbourTable::create(const NeighKey& k, NeighClass c) {
  if (full()) return kNone;
  int32_t pos = rte_hash_add_key(hash_, &k);
  if (pos == -ENOSPC && dq_ != nullptr) {
    rte_rcu_qsbr_dq_reclaim(dq_, slots(), nullptr, nullptr, nullptr);
    pos = rte_hash_add_key(hash_, &k);
  }
  if (pos < 0) return kNone;
  const auto i = static_cast<uint32_t>(pos);
  Neighbour& e = *entries_[i];
  e.key = k;
  e.word.store(pack_neigh({}, NeighState::Incomplete), std::memory_order_release);
  e.gen++;
  e.probe_start_tsc = e.next_probe_tsc = e.confirmed_tsc = 0;
  e.probes = 0;
  e.probing = e.deferred = false;
  e.cls = NeighClass::None;
  set_class(i, c);
  count_.store(size() + 1, std::memory_order_relaxed);
  return i;
}

uint32_t NeighbourTable::victim() const {
  for (NeighClass c : {NeighClass::Stale, NeighClass::Probing, NeighClass::Reachable}) {
    if (head_[idx(c)] != kNone) return head_[idx(c)];
  }
  return kNone;
}

void NeighbourTable::remove(uint32_t i) {
  Neighbour& e = *entries_[i];
  if (e.cls == NeighClass::None) return;
  unlink(i);
  e.cls = NeighClass::None;
  e.probing = e.deferred = false;
  const int32_t pos = rte_hash_del_key(hash_, &e.key);
  count_.store(size() - 1, std::memory_order_relaxed);
  if (pos < 0) return;
  // The entry keeps its key and word until the position is reused: a worker that found it
  // before the delete still reads what it was.
  const uint32_t p = static_cast<uint32_t>(pos);
  if (dq_ == nullptr || rte_rcu_qsbr_dq_enqueue(dq_, const_cast<uint32_t*>(&p)) != 0) {
    rte_hash_free_key_with_position(hash_, pos);
  }
}

void NeighbourTable::reclaim() {
  if (dq_ != nullptr) rte_rcu_qsbr_dq_reclaim(dq_, 64, nullptr, nullptr, nullptr);
}

void NeighbourTable::unlink(uint32_t i) {
  Neighbour& e = *entries_[i];
  if (e.cls == NeighClass::None || e.cls == NeighClass::Pinned) return;
  const size_t c = idx(e.cls);
  if (e.lru_prev != kNone) entries_[e.lru_prev]->lru_next = e.lru_next; else head_[c] = e.lru_next;
  if (e.lru_next != kNone) entries_[e.lru_next]->lru_prev = e.lru_prev; else tail_[c] = e.lru_prev;
  e.lru_prev = e.lru_next = kNone;
}

void NeighbourTable::set_class(uint32_t i, NeighClass c) {
  Neighbour& e = *entries_[i];
  if (e.cls == NeighClass::Pinned) return;
  unlink(i);
  e.cls = c;
  if (c == NeighClass::Pinned || c == NeighClass::None) return;
  const size_t ci = idx(c);
  e.lru_prev = tail_[ci];
  e.lru_next = kNone;
  if (tail_[ci] != kNone) entries_[tail_[ci]]->lru_next = i; else head_[ci] = i;
  tail_[ci] = i;
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
