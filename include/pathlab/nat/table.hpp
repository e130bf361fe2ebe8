#pragma once
// NAT44 state shared by every worker of a router (docs/nat.md): mappings, filter permissions and
// fragment translations in one FlowTable (engine/shared.hpp), and the pool's port bitmaps.
//
// Keys (16 bytes, addresses and ports in network order):
//   Out  (proto, inside addr, inside port, [remote addr, [remote port]])  -> a mapping
//   In   (proto, outside addr, outside port)                               -> the mapping's position
//   Perm (proto, outside addr, outside port, remote addr, [remote port])   -> filter permission
//   FragOut / FragIn (proto, src, dst, IP ID)                              -> the translated address
// A mapping is created on an outbound packet (Out then In inserted, then published) and removed by
// whoever first finds it stale (lookup or the incremental sweep), which also frees its port.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pathlab/engine/batch.hpp"
#include "pathlab/engine/shared.hpp"

namespace pathlab::nat {

enum class Dep : uint8_t { Endpoint, Address, AddressPort };  // RFC 4787 4.1 / 5
enum class Assign : uint8_t { Preserve, PreserveParity, Random };  // RFC 4787 4.2.2, 4.2.3
enum Tag : uint8_t { kOut = 1, kIn, kPerm, kFragOut, kFragIn };
enum ProtoIndex : uint8_t { kTcp, kUdp, kIcmp, kProtos };

struct Key {
  uint8_t tag = 0, proto = 0;
  uint16_t port_a = 0;
  uint32_t addr_a = 0, addr_b = 0;
  uint16_t port_b = 0, pad = 0;
};
static_assert(sizeof(Key) == 16);

// TCP flags a mapping has seen (RFC 5382 timers): established once SYN went both ways, until
// FIN went both ways or a RST.
enum TcpSeen : uint8_t { kSynOut = 1, kSynIn = 2, kFinOut = 4, kFinIn = 8, kRstSeen = 16 };
inline bool tcp_established(uint8_t s) {
  return (s & (kSynOut | kSynIn)) == (kSynOut | kSynIn) && (s & kRstSeen) == 0 &&
         (s & (kFinOut | kFinIn)) != (kFinOut | kFinIn);
}

// One table position's value. Fields are fixed when published, except deadline and tcp.
struct alignas(64) Entry {  // one cache line, so one prefetch brings it
  Key key{};
  uint32_t in_addr = 0, ext_addr = 0;  // network order (FragOut/FragIn: the new address)
  uint16_t in_port = 0, ext_port = 0;
  uint16_t pool_index = 0;
  uint8_t proto_index = 0;
  std::atomic<uint8_t> in_ifindex{0};  // router port the inside host last sent from (hairpins)
  bool is_static = false;
  int32_t target = -1;     // In, Perm: the mapping's position
  uint32_t serial = 0;     // mapping generation, copied into its In and Perm entries
  std::atomic<uint64_t> deadline{0};
  std::atomic<uint8_t> tcp{0};
};
static_assert(sizeof(Entry) == 64);

struct Timeouts {
  Nanos udp = 300'000'000'000, tcp_est = 7'440'000'000'000, tcp_trans = 240'000'000'000,
        icmp = 60'000'000'000, frag = 2'000'000'000;
  bool operator==(const Timeouts&) const = default;
};

struct StaticMap {
  uint8_t proto = 0;
  uint32_t in_addr = 0, ext_addr = 0;  // host order
  uint16_t in_port = 0, ext_port = 0;
  bool operator==(const StaticMap&) const = default;
};

struct TableConfig {
  std::vector<uint32_t> pool;  // host order, sorted, unique
  uint16_t port_lo = 1024, port_hi = 65535;
  Dep mapping = Dep::Endpoint, filtering = Dep::Endpoint;
  Assign assign = Assign::Preserve;
  bool paired = true;
  Timeouts timeouts;
  uint32_t max_sessions = 65536;
  std::vector<StaticMap> statics;
  bool operator==(const TableConfig&) const = default;
};

inline uint8_t proto_index(uint8_t proto) {
  return proto == 6 ? kTcp : (proto == 17 ? kUdp : kIcmp);
}

class Table {
 public:
  // Throws std::runtime_error when the hash cannot be made or a static mapping does not fit.
  Table(const std::string& name, const TableConfig& c, rte_rcu_qsbr* qsbr);

  const TableConfig& config() const { return cfg_; }
  Entry& at(int32_t pos) { return entries_[pos]; }
  const Entry& at(int32_t pos) const { return entries_[pos]; }
  // The published entry of key, or -1.
  int32_t find(const Key& k) const {
    const int32_t pos = table_.find(&k);
    return pos >= 0 && table_.ready(pos) ? pos : -1;
  }
  // The positions of n <= FlowTable::kBulkMax keys at once, negative for a miss, not yet checked as
  // published (published()); their entries are prefetched. Their cache misses overlap, where find() pays one after another.
  void lookup_bulk(const Key* keys, uint32_t n, int32_t* pos) const;
  bool published(int32_t pos) const { return table_.ready(pos); }
  // The mapping an In key leads to (published, same generation), or -1.
  int32_t inbound(const Key& k) const;
  // The same from the In key's position as lookup_bulk gives it (-1: none).
  int32_t inbound_at(int32_t in_pos) const;
  // After lookup_bulk of In keys: prefetches the mappings they lead to.
  void prefetch_targets(const int32_t* in_pos, uint32_t n) const;
  // Pool index of a host-order address, or -1.
  int pool_index(uint32_t addr) const;
  bool in_pool(uint32_t addr) const {
    return addr >= pool_lo_ && addr <= pool_hi_ && pool_index(addr) >= 0;
  }

  enum class Made : uint8_t { Ok, Exhausted, Busy };
  // A new mapping for an outbound packet (host order inside endpoint). `rnd` seeds the choices.
  Made create(const Key& out, uint8_t proto, uint32_t in_addr, uint16_t in_port, uint8_t ifindex,
              Nanos deadline, uint64_t rnd, int32_t& pos);
  // Waits (bounded) for another worker's new entry for k, at pos, to be published.
  bool wait_ready(const Key& k, int32_t pos) const;
  // Removes the mapping at pos (and its In key and port) if this caller wins; true then.
  bool remove_mapping(int32_t pos);
  // Adds or refreshes a permission / fragment entry; false when the table is full.
  bool touch(const Key& k, int32_t target, uint32_t serial, uint32_t addr, Nanos deadline);
  // Removes stale entries among the next n positions; returns the mappings removed.
  uint64_t sweep(Nanos now, unsigned n);

  uint32_t mappings() const { return live_.load(std::memory_order_relaxed); }
  uint32_t entries() const { return table_.count(); }
  uint32_t slots() const { return table_.slots(); }

 private:
  bool claim(size_t pool_i, uint8_t pi, uint16_t port);
  void release(size_t pool_i, uint8_t pi, uint16_t port);
  int alloc_port(size_t pool_i, uint8_t pi, uint16_t want, uint64_t rnd);
  int32_t publish_mapping(const Key& out, uint8_t proto, uint32_t in_addr, uint16_t in_port,
                          uint32_t ext_addr, uint16_t ext_port, size_t pool_i, uint8_t ifindex,
                          Nanos deadline, bool is_static);
  // Fills and publishes an In, Perm or fragment entry.
  void fill_link(int32_t pos, const Key& k, int32_t target, uint32_t serial, uint32_t addr,
                 Nanos deadline);

  TableConfig cfg_;
  FlowTable table_;
  std::vector<Entry> entries_;
  uint32_t pool_lo_ = 1, pool_hi_ = 0;  // the pool's first and last address (host order)
  size_t words_ = 0;  // bitmap words per (address, protocol)
  std::unique_ptr<std::atomic<uint64_t>[]> bits_;
  std::atomic<uint32_t> live_{0};
  std::atomic<uint32_t> serial_{1};
  std::atomic<uint32_t> cursor_{0};
};

// Key builders (addresses and ports in network order); a dependent class keys on the remote.
inline Key key_of(Tag tag, uint8_t proto, uint32_t addr_a, uint16_t port_a, uint32_t addr_b = 0,
                  uint16_t port_b = 0) {
  Key k;
  k.tag = tag;
  k.proto = proto;
  k.addr_a = addr_a;
  k.port_a = port_a;
  k.addr_b = addr_b;
  k.port_b = port_b;
  return k;
}
inline Key in_key(uint8_t proto, uint32_t ext_addr, uint16_t ext_port) {
  return key_of(kIn, proto, ext_addr, ext_port);
}
inline Key out_key(Dep mapping, uint8_t proto, uint32_t in_addr, uint16_t in_port, uint32_t r_addr,
                   uint16_t r_port) {
  return key_of(kOut, proto, in_addr, in_port, mapping != Dep::Endpoint ? r_addr : 0,
                mapping == Dep::AddressPort ? r_port : 0);
}
inline Key perm_key(Dep filtering, uint8_t proto, uint32_t ext_addr, uint16_t ext_port,
                    uint32_t r_addr, uint16_t r_port) {
  return key_of(kPerm, proto, ext_addr, ext_port, r_addr,
                filtering == Dep::AddressPort ? r_port : 0);
}
// A fragment: (src, dst, IP ID) of the datagram as it arrives.
inline Key frag_key(Tag tag, uint8_t proto, uint32_t src, uint32_t dst, uint16_t id) {
  return key_of(tag, proto, src, id, dst);
}

// Every table of the process, for the /pathlab/nat44 telemetry command: no parameter, the live
// mappings per table; ROUTER/TABLE, up to 100 of its mappings as describe() gives them.
void register_table(const std::string& name, const std::shared_ptr<Table>& t);
// Up to `max` live mappings: "udp 10.0.0.2:5000 198.51.100.1:5000" (+ " static").
std::vector<std::string> describe(const Table& t, size_t max);

}  // namespace pathlab::nat
