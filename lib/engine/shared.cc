#include "pathlab/engine/shared.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_rcu_qsbr.h>

namespace pathlab {

static_assert(FlowTable::kBulkMax == RTE_HASH_LOOKUP_BULK_MAX);

namespace {

// CRC32C over the key, as rte_hash_crc computes it, but with unaligned-safe loads: rte_hash_crc
// dereferences the key as uint64_t, and a stage's key need not be 8-byte aligned.
uint32_t key_crc(const void* key, uint32_t len, uint32_t init) {
  const auto* p = static_cast<const uint8_t*>(key);
  uint32_t crc = init;
  for (; len >= 8; len -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    crc = rte_hash_crc_8byte(w, crc);
  }
  if (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    crc = rte_hash_crc_4byte(w, crc);
    len -= 4;
    p += 4;
  }
  for (; len > 0; --len, ++p) crc = rte_hash_crc_1byte(*p, crc);
  return crc;
}

}  // namespace

FlowTable::FlowTable(const std::string& name, uint32_t capacity, uint32_t key_len,
                     rte_rcu_qsbr* qsbr)
    : capacity_(capacity) {
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity < 8 ? 8 : capacity;
  p.key_len = key_len;
  p.hash_func = key_crc;  // CRC32C: a few instructions for a 16-byte key
  p.socket_id = SOCKET_ID_ANY;
  // Several writers need rte_hash's per-lcore slot caches: only EAL threads (workers) may write.
  // Without RCU there is one thread, and a plain table.
  p.extra_flag = qsbr != nullptr ? RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
                                       RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD
                                 : RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  hash_ = rte_hash_create(&p);
  if (hash_ == nullptr) {
    throw std::runtime_error(fmt::format("flow table {}: {}", name, rte_strerror(rte_errno)));
  }
  if (qsbr != nullptr) {
    rte_hash_rcu_config rc{};
    rc.v = qsbr;
    rc.mode = RTE_HASH_QSBR_MODE_DQ;
    rc.dq_size = p.entries;
    if (rte_hash_rcu_qsbr_add(hash_, &rc) != 0) {
      rte_hash_free(hash_);
      throw std::runtime_error(fmt::format("flow table {}: RCU: {}", name, rte_strerror(rte_errno)));
    }
  }
  slots_ = rte_hash_max_key_id(hash_) + 1;
  ready_ = std::make_unique<std::atomic<uint8_t>[]>(slots_);
}

FlowTable::~FlowTable() { rte_hash_free(hash_); }

int32_t FlowTable::find(const void* key) const {
  const int32_t pos = rte_hash_lookup(hash_, key);
  return pos < 0 ? -1 : pos;
}

void FlowTable::find_bulk(const void** keys, uint32_t n, int32_t* pos) const {
  if (n == 0) return;
  if (rte_hash_lookup_bulk(hash_, keys, n, pos) != 0) {
    for (uint32_t j = 0; j < n; ++j) pos[j] = find(keys[j]);
  }
}

int32_t FlowTable::insert(const void* key, bool& created) {
  created = false;
  const int32_t old = rte_hash_lookup(hash_, key);
  if (old >= 0) return old;
  const int32_t pos = rte_hash_add_key(hash_, key);
  if (pos < 0) return -1;
  // Another worker may add the same key at the same moment: both get the same position, and
  // only the one that claims it fills and publishes it.
  uint8_t free = kFree;
  created = ready_[pos].compare_exchange_strong(free, kClaimed, std::memory_order_acq_rel);
  return pos;
}

bool FlowTable::remove(const void* key) {
  const int32_t pos = rte_hash_del_key(hash_, key);
  if (pos < 0) return false;
  // With RCU the position returns to the free list after a grace period; a plain table (one
  // thread) frees it at once.
  ready_[pos].store(kFree, std::memory_order_release);
  return true;
}

uint32_t FlowTable::count() const {
  const int32_t n = rte_hash_count(hash_);
  return n < 0 ? 0 : static_cast<uint32_t>(n);
}

}  // namespace pathlab
