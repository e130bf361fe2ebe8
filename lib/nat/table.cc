// NAT44's shared table: see include/pathlab/nat/table.hpp and docs/nat.md.
#include "pathlab/nat/table.hpp"

#include <fmt/format.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_byteorder.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_telemetry.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <bit>
#include <map>
#include <mutex>
#include <stdexcept>

namespace pathlab::nat {
namespace {

constexpr unsigned kWaitSpins = 4096;  // pauses a worker waits for another's new mapping

uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  return x ^ (x >> 16);
}

// Room for every mapping's two keys, a permission each, and fragments.
uint32_t capacity_of(const TableConfig& c) {
  return 3 * c.max_sessions + 2 * static_cast<uint32_t>(c.statics.size()) + 1024;
}

}  // namespace

Table::Table(const std::string& name, const TableConfig& c, rte_rcu_qsbr* qsbr)
    : cfg_(c), table_(name, capacity_of(c), sizeof(Key), qsbr), entries_(table_.slots()) {
  if (!c.pool.empty()) {
    pool_lo_ = c.pool.front();
    pool_hi_ = c.pool.back();
  }
  words_ = (static_cast<size_t>(c.port_hi) - c.port_lo + 1 + 63) / 64;
  const size_t n = c.pool.size() * kProtos * words_;
  bits_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (size_t i = 0; i < n; ++i) bits_[i].store(0, std::memory_order_relaxed);
  for (const StaticMap& s : c.statics) {
    const int pi = pool_index(s.ext_addr);
    if (pi < 0) throw std::runtime_error("nat44: a static mapping's outside address is not in the pool");
    const uint8_t idx = proto_index(s.proto);
    if (s.ext_port >= c.port_lo && s.ext_port <= c.port_hi && !claim(pi, idx, s.ext_port)) {
      throw std::runtime_error("nat44: two static mappings share an outside port");
    }
    const Key out = out_key(Dep::Endpoint, s.proto, rte_cpu_to_be_32(s.in_addr),
                            rte_cpu_to_be_16(s.in_port), 0, 0);
    bool fresh = false;
    const int32_t pos = table_.insert(&out, fresh);
    if (pos < 0 || !fresh ||
        publish_mapping(out, s.proto, rte_cpu_to_be_32(s.in_addr), rte_cpu_to_be_16(s.in_port),
                        rte_cpu_to_be_32(s.ext_addr), rte_cpu_to_be_16(s.ext_port), pi, 0,
                        kForever, true) < 0) {
      throw std::runtime_error("nat44: static mappings clash");
    }
  }
}

int Table::pool_index(uint32_t addr) const {
  const auto it = std::lower_bound(cfg_.pool.begin(), cfg_.pool.end(), addr);
  return it != cfg_.pool.end() && *it == addr ? static_cast<int>(it - cfg_.pool.begin()) : -1;
}

void Table::lookup_bulk(const Key* keys, uint32_t n, int32_t* pos) const {
  const void* k[FlowTable::kBulkMax];
  for (uint32_t i = 0; i < n; ++i) k[i] = &keys[i];
  table_.find_bulk(k, n, pos);
  for (uint32_t i = 0; i < n; ++i) {
    if (pos[i] < 0) continue;
    rte_prefetch0(&entries_[pos[i]]);
    rte_prefetch0(table_.ready_line(pos[i]));
  }
}

void Table::prefetch_targets(const int32_t* in_pos, uint32_t n) const {
  for (uint32_t i = 0; i < n; ++i) {
    if (in_pos[i] < 0 || !table_.ready(in_pos[i])) continue;
    const int32_t t = entries_[in_pos[i]].target;
    if (t < 0) continue;
    rte_prefetch0(&entries_[t]);
    rte_prefetch0(table_.ready_line(t));
  }
}

int32_t Table::inbound(const Key& k) const { return inbound_at(table_.find(&k)); }

int32_t Table::inbound_at(int32_t ipos) const {
  if (ipos < 0 || !table_.ready(ipos)) return -1;
  const Entry& ie = entries_[ipos];
  const int32_t t = ie.target;
  if (t < 0 || !table_.ready(t) || entries_[t].serial != ie.serial) return -1;
  return t;
}

bool Table::claim(size_t pool_i, uint8_t pi, uint16_t port) {
  const size_t b = port - cfg_.port_lo;
  const uint64_t mask = uint64_t{1} << (b % 64);
  auto& w = bits_[(pool_i * kProtos + pi) * words_ + b / 64];
  return (w.fetch_or(mask, std::memory_order_acq_rel) & mask) == 0;
}

void Table::release(size_t pool_i, uint8_t pi, uint16_t port) {
  if (port < cfg_.port_lo || port > cfg_.port_hi) return;
  const size_t b = port - cfg_.port_lo;
  bits_[(pool_i * kProtos + pi) * words_ + b / 64].fetch_and(~(uint64_t{1} << (b % 64)),
                                                             std::memory_order_acq_rel);
}

// RFC 4787 REQ-3/4: keep the inside port when asked and free, else (or with parity kept, 4.2.2)
// a free port from a random place in the range. At most one pass over the bitmap.
int Table::alloc_port(size_t pool_i, uint8_t pi, uint16_t want, uint64_t rnd) {
  const bool in_range = want >= cfg_.port_lo && want <= cfg_.port_hi;
  if (cfg_.assign != Assign::Random && in_range && claim(pool_i, pi, want)) return want;
  uint64_t parity = ~uint64_t{0};
  if (cfg_.assign == Assign::PreserveParity) {
    parity = ((want ^ cfg_.port_lo) & 1) != 0 ? 0xaaaaaaaaaaaaaaaaull : 0x5555555555555555ull;
  }
  const size_t range = static_cast<size_t>(cfg_.port_hi) - cfg_.port_lo + 1;
  auto* base = &bits_[(pool_i * kProtos + pi) * words_];
  const size_t start = rnd % words_;
  const unsigned rot = static_cast<unsigned>(rnd >> 32) % 64;
  for (size_t i = 0; i < words_; ++i) {
    const size_t w = (start + i) % words_;
    const size_t nbits = std::min<size_t>(64, range - 64 * w);
    const uint64_t valid = nbits == 64 ? ~uint64_t{0} : (uint64_t{1} << nbits) - 1;
    uint64_t free = ~base[w].load(std::memory_order_relaxed) & valid & parity;
    while (free != 0) {
      const uint64_t high = free & (~uint64_t{0} << rot);
      const unsigned bit = std::countr_zero(high != 0 ? high : free);
      const uint64_t mask = uint64_t{1} << bit;
      if ((base[w].fetch_or(mask, std::memory_order_acq_rel) & mask) == 0) {
        return static_cast<int>(cfg_.port_lo + 64 * w + bit);
      }
      free &= ~mask;
    }
  }
  return -1;
}

Table::Made Table::create(const Key& out, uint8_t proto, uint32_t in_addr, uint16_t in_port,
                          uint8_t ifindex, Nanos deadline, uint64_t rnd, int32_t& pos) {
  if (live_.fetch_add(1, std::memory_order_relaxed) >= cfg_.max_sessions) {
    live_.fetch_sub(1, std::memory_order_relaxed);
    return Made::Exhausted;
  }
  bool fresh = false;
  pos = table_.insert(&out, fresh);
  if (pos < 0 || !fresh) {
    live_.fetch_sub(1, std::memory_order_relaxed);
    return pos < 0 ? Made::Exhausted : Made::Busy;
  }
  // REQ-2 (paired pooling): an inside address always gets the same outside address.
  const size_t n = cfg_.pool.size();
  const uint32_t host = rte_be_to_cpu_32(in_addr);
  const size_t first = cfg_.paired ? mix32(host) % n : rnd % n;
  const uint8_t pi = proto_index(proto);
  for (size_t t = 0; t < (cfg_.paired ? 1 : n); ++t) {
    const size_t a = (first + t) % n;
    const int port = alloc_port(a, pi, rte_be_to_cpu_16(in_port), rnd >> 8);
    if (port < 0) continue;
    if (publish_mapping(out, proto, in_addr, in_port, rte_cpu_to_be_32(cfg_.pool[a]),
                        rte_cpu_to_be_16(static_cast<uint16_t>(port)), a, ifindex, deadline,
                        false) >= 0) {
      return Made::Ok;
    }
    release(a, pi, static_cast<uint16_t>(port));
    break;
  }
  table_.remove(&out);
  live_.fetch_sub(1, std::memory_order_relaxed);
  return Made::Exhausted;
}

int32_t Table::publish_mapping(const Key& out, uint8_t proto, uint32_t in_addr, uint16_t in_port,
                               uint32_t ext_addr, uint16_t ext_port, size_t pool_i,
                               uint8_t ifindex, Nanos deadline, bool is_static) {
  const int32_t pos = table_.find(&out);
  const Key ik = in_key(proto, ext_addr, ext_port);
  bool fresh = false;
  const int32_t ipos = table_.insert(&ik, fresh);
  if (ipos < 0 || !fresh) return -1;
  const uint32_t serial = serial_.fetch_add(1, std::memory_order_relaxed);
  Entry& e = entries_[pos];
  e.key = out;
  e.in_addr = in_addr;
  e.in_port = in_port;
  e.ext_addr = ext_addr;
  e.ext_port = ext_port;
  e.pool_index = static_cast<uint16_t>(pool_i);
  e.proto_index = proto_index(proto);
  e.in_ifindex.store(ifindex, std::memory_order_relaxed);
  e.is_static = is_static;
  e.serial = serial;
  e.target = -1;
  e.tcp.store(0, std::memory_order_relaxed);
  e.deadline.store(deadline, std::memory_order_relaxed);
  fill_link(ipos, ik, pos, serial, 0, kForever);
  table_.publish(pos);
  return pos;
}

void Table::fill_link(int32_t pos, const Key& k, int32_t target, uint32_t serial, uint32_t addr,
                      Nanos deadline) {
  Entry& e = entries_[pos];
  e.key = k;
  e.target = target;
  e.serial = serial;
  e.ext_addr = addr;
  e.is_static = false;
  e.deadline.store(deadline, std::memory_order_relaxed);
  table_.publish(pos);
}

bool Table::wait_ready(const Key& k, int32_t pos) const {
  for (unsigned i = 0; i < kWaitSpins; ++i) {
    if (find(k) == pos) return true;
    rte_pause();
  }
  return false;
}

bool Table::remove_mapping(int32_t pos) {
  const Entry& e = entries_[pos];
  if (e.is_static) return false;
  const Key out = e.key;
  const Key ik = in_key(out.proto, e.ext_addr, e.ext_port);
  const uint16_t pool_i = e.pool_index, port = rte_be_to_cpu_16(e.ext_port);
  const uint8_t pi = e.proto_index;
  if (!table_.remove(&out)) return false;
  table_.remove(&ik);
  release(pool_i, pi, port);
  live_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

bool Table::touch(const Key& k, int32_t target, uint32_t serial, uint32_t addr, Nanos deadline) {
  int32_t pos = find(k);
  if (pos >= 0 && entries_[pos].serial != serial) {  // left by an earlier mapping of the port
    table_.remove(&k);
    pos = -1;
  }
  if (pos >= 0) {
    entries_[pos].deadline.store(deadline, std::memory_order_relaxed);
    return true;
  }
  bool fresh = false;
  pos = table_.insert(&k, fresh);
  if (pos < 0) return false;
  if (!fresh) return true;  // another worker is adding it
  fill_link(pos, k, target, serial, addr, deadline);
  return true;
}

uint64_t Table::sweep(Nanos now, unsigned n) {
  const uint32_t slots = table_.slots();
  // One division a call: the cursor wraps at 2^32, the positions at slots.
  uint32_t pos_u = cursor_.fetch_add(n, std::memory_order_relaxed) % slots;
  uint64_t removed = 0;
  for (unsigned i = 0; i < n; ++i, pos_u = pos_u + 1 == slots ? 0 : pos_u + 1) {
    const auto pos = static_cast<int32_t>(pos_u);
    if (!table_.ready(pos)) continue;
    Entry& e = entries_[pos];
    if (e.deadline.load(std::memory_order_relaxed) >= now) continue;
    if (e.key.tag == kOut) {
      removed += remove_mapping(pos);
    } else if (e.key.tag != kIn) {
      const Key k = e.key;
      table_.remove(&k);
    }
  }
  return removed;
}

// ---- telemetry --------------------------------------------------------------------------------

namespace {

constexpr size_t kListMax = 100;

struct Registry {
  std::mutex mu;
  std::map<std::string, std::weak_ptr<Table>> tables;
  bool registered = false;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string endpoint(uint32_t addr_be, uint16_t port_be) {
  const uint32_t a = rte_be_to_cpu_32(addr_be);
  return fmt::format("{}.{}.{}.{}:{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
                     rte_be_to_cpu_16(port_be));
}

int command(const char*, const char* params, rte_tel_data* d) {
  Registry& reg = registry();
  std::lock_guard<std::mutex> g(reg.mu);
  const std::string p = params != nullptr ? params : "";
  if (p.empty()) {
    rte_tel_data_start_dict(d);
    for (const auto& [name, w] : reg.tables) {
      if (auto t = w.lock()) rte_tel_data_add_dict_u64(d, name.c_str(), t->mappings());
    }
    return 0;
  }
  auto it = reg.tables.find(p);
  auto t = it != reg.tables.end() ? it->second.lock() : nullptr;
  if (!t) return -1;
  rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
  for (const std::string& s : describe(*t, kListMax)) rte_tel_data_add_array_string(d, s.c_str());
  return 0;
}

}  // namespace

std::vector<std::string> describe(const Table& t, size_t max) {
  std::vector<std::string> out;
  for (uint32_t pos = 0; pos < t.slots() && out.size() < max; ++pos) {
    const int32_t at = static_cast<int32_t>(pos);
    const Entry& e = t.at(at);
    if (e.key.tag != kOut || t.find(e.key) != at) continue;
    const char* proto = e.proto_index == kTcp ? "tcp" : (e.proto_index == kUdp ? "udp" : "icmp");
    out.push_back(fmt::format("{} {} {}{}", proto, endpoint(e.in_addr, e.in_port),
                              endpoint(e.ext_addr, e.ext_port), e.is_static ? " static" : ""));
  }
  return out;
}

void register_table(const std::string& name, const std::shared_ptr<Table>& t) {
  Registry& reg = registry();
  std::lock_guard<std::mutex> g(reg.mu);
  reg.tables[name] = t;
  if (!reg.registered) {
    // A process without telemetry (a unit test) has nothing to register with: not an error.
    reg.registered = rte_telemetry_register_cmd(
                         "/pathlab/nat44", command,
                         "NAT44 mappings. Params: none (count per table) or ROUTER/TABLE (list)") == 0;
  }
}

}  // namespace pathlab::nat
