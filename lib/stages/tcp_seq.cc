// tcp_seq: a sequence-number randomiser. Shifts the initial sequence number of a TCP connection
// by a per-flow offset and translates SEQ, ACK and SACK edges in both directions to match, so
// the endpoints never notice (Cisco ASA / PIX "TCP sequence number randomization").
//   - stage: tcp_seq
//     rewrite: initiator     # initiator | responder | both: whose sequence space moves
//     offset: random         # the initiator's offset: random (per flow) or a fixed 1..2^32-1
//     responder_offset: random
//     timeout: 300           # seconds an established flow may idle
//     closing_timeout: 10    # seconds for half-open flows and after RST or FIN both ways
//     capacity: 65536        # flows per worker
//     table: tcp_seq         # instances with the same table name on a router+worker share it
//     match: {dport: 80, proto: tcp}   # which SYNs start a rewritten flow
//
// Offsets: d_i is added to every sequence number the initiator sends (SEQ) and subtracted from
// every number that refers to it coming back (ACK, SACK edges). d_r does the same for the
// responder. The stage must see both directions: put it on one port's ingress AND egress (or on
// the ingress of both ports) with the same `table`; see docs/stages.md#tcp_seq.
#include <fmt/format.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kActions[] = {
    {"flows", "flows tracked from their SYN, sequence numbers rewritten"},
    {"flows_unselected", "flows tracked with no rewrite (the probability draw missed)"},
    {"rewritten", "packets whose SEQ, ACK or SACK numbers were rewritten"},
    {"sack_blocks", "SACK blocks rewritten"},
    {"untracked", "TCP packets of flows without an entry (no SYN seen, not matched), untouched"},
    {"table_full", "SYNs passed untouched because the flow table was full"},
    {"expired", "flow entries removed after their timeout"},
};
enum Action : uint8_t {
  kFlows,
  kFlowsUnselected,
  kRewritten,
  kSackBlocks,
  kUntracked,
  kTableFull,
  kExpired
};

constexpr unsigned kSweepPerBurst = 8;  // table slots examined for expiry after each burst

// ---- flow table -------------------------------------------------------------------------------

// Both directions of a connection give the same key: endpoint a is the lower (address, port).
struct FlowKey {
  uint8_t addr_a[16];
  uint8_t addr_b[16];
  uint16_t port_a, port_b;  // network order
  uint8_t family;
  uint8_t pad[3];
};
static_assert(sizeof(FlowKey) == 40);

struct Flow {
  uint64_t deadline = 0;  // TSC; stale after it
  uint32_t d_init = 0;    // added to the initiator's sequence numbers
  uint32_t d_resp = 0;    // added to the responder's
  bool used = false;
  bool init_is_a = false;  // the initiator (sender of the SYN) is endpoint a of the key
  bool answered = false;   // the responder has sent something
  bool closing = false;    // RST seen, or FIN from both sides
  uint8_t fins = 0;        // 1: FIN from the initiator, 2: from the responder
};

struct TableParams {
  uint32_t capacity = 65536;
  double timeout_s = 300;
  double closing_s = 10;
  bool operator==(const TableParams&) const = default;
};

// One worker's flows: an rte_hash from key to a slot in flows_. No locks: only the worker that
// owns it touches it (its ingress and egress chains run on the same lcore).
class FlowTable {
 public:
  explicit FlowTable(const TableParams& p) : params_(p) {
    static std::atomic<unsigned> serial{0};
    const std::string name = fmt::format("tcp_seq_{}", serial++);
    rte_hash_parameters hp{};
    hp.name = name.c_str();
    hp.entries = p.capacity;
    hp.key_len = sizeof(FlowKey);
    hp.hash_func = rte_hash_crc;
    hp.socket_id = SOCKET_ID_ANY;
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;  // holds `capacity` flows, not ~95% of it
    hash_ = rte_hash_create(&hp);
    if (hash_ == nullptr)
      throw std::runtime_error(fmt::format("tcp_seq: cannot create flow table {}", name));
    flows_.resize(static_cast<size_t>(rte_hash_max_key_id(hash_)) + 1);
    const double hz = static_cast<double>(rte_get_tsc_hz());
    timeout_ = static_cast<uint64_t>(p.timeout_s * hz);
    closing_ = static_cast<uint64_t>(p.closing_s * hz);
  }
  ~FlowTable() { rte_hash_free(hash_); }
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  const TableParams& params() const { return params_; }
  int32_t find(const FlowKey& k) const { return rte_hash_lookup(hash_, &k); }
  void find_bulk(const void** keys, uint32_t n, int32_t* pos) const {
    for (uint32_t i = 0; i < n; i += RTE_HASH_LOOKUP_BULK_MAX) {
      rte_hash_lookup_bulk(hash_, keys + i, std::min<uint32_t>(n - i, RTE_HASH_LOOKUP_BULK_MAX),
                           pos + i);
    }
  }
  // A fresh slot for k, or -1 when the table is full.
  int32_t add(const FlowKey& k) {
    const int32_t pos = rte_hash_add_key(hash_, &k);
    if (pos < 0) return -1;
    flows_[pos] = Flow{};
    flows_[pos].used = true;
    return pos;
  }
  void remove(int32_t pos) {
    void* stored = nullptr;
    if (rte_hash_get_key_with_position(hash_, pos, &stored) == 0) {
      FlowKey k;
      std::memcpy(&k, stored, sizeof k);
      rte_hash_del_key(hash_, &k);
    }
    flows_[pos].used = false;
  }
  Flow& at(int32_t pos) { return flows_[pos]; }
  uint64_t idle_cycles(const Flow& f) const {
    return f.closing || !f.answered ? closing_ : timeout_;
  }

  // Removes the stale entries among the next n slots; returns how many.
  uint64_t sweep(uint64_t now, unsigned n) {
    uint64_t removed = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (++cursor_ >= flows_.size()) cursor_ = 0;
      if (flows_[cursor_].used && flows_[cursor_].deadline < now) {
        remove(static_cast<int32_t>(cursor_));
        ++removed;
      }
    }
    return removed;
  }

 private:
  TableParams params_;
  rte_hash* hash_ = nullptr;
  std::vector<Flow> flows_;
  size_t cursor_ = 0;
  uint64_t timeout_ = 0, closing_ = 0;
};

// Tables by router/table/worker, so that every instance naming the same table on one router and
// worker (e.g. p0 ingress and p0 egress) shares it. Build time only.
std::shared_ptr<FlowTable> shared_table(const std::string& id, const TableParams& p) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<FlowTable>> tables;
  std::lock_guard lock(mu);
  auto& slot = tables[id];
  if (auto t = slot.lock()) {
    if (!(t->params() == p)) {
      throw std::runtime_error(fmt::format(
          "tcp_seq: flow table {} is shared by stages with different capacity or timeouts", id));
    }
    return t;
  }
  auto t = std::make_shared<FlowTable>(p);
  slot = t;
  return t;
}

// ---- packet helpers ---------------------------------------------------------------------------

// Key of the packet's flow; from_a: the sender is endpoint a.
void flow_key(const PktView& v, FlowKey& k, bool& from_a) {
  std::memset(&k, 0, sizeof k);
  const bool v4 = v.version == 4;
  const size_t alen = v4 ? 4 : 16;
  const uint8_t* src = v.l3 + (v4 ? 12 : 8);
  const uint8_t* dst = v.l3 + (v4 ? 16 : 24);
  int c = std::memcmp(src, dst, alen);
  if (c == 0) c = v.sport < v.dport ? -1 : (v.sport > v.dport ? 1 : 0);
  from_a = c <= 0;
  std::memcpy(k.addr_a, from_a ? src : dst, alen);
  std::memcpy(k.addr_b, from_a ? dst : src, alen);
  k.port_a = get16(v.l4 + (from_a ? 0 : 2));
  k.port_b = get16(v.l4 + (from_a ? 2 : 0));
  k.family = v.version;
}

// The changes to bytes under the TCP checksum, summed and applied once per packet (RFC 1624
// eqn. 3 over several fields: HC' = ~(~HC + sum(~m + m'))).
class CsumDelta {
 public:
  // The 32-bit field at l4 + off was old_raw and is now new_raw (both as stored). At an odd offset
  // (a SACK edge after an odd number of NOPs) its bytes sit in the other halves of the checksum
  // words: the sum of a byte-swapped sequence is the byte-swapped sum (RFC 1071).
  void add(uint32_t off, uint32_t old_raw, uint32_t new_raw) {
    const uint32_t s = static_cast<uint16_t>(~old_raw) + static_cast<uint16_t>(~(old_raw >> 16)) +
                       (new_raw & 0xffff) + (new_raw >> 16);
    uint16_t f = csum::fold(s);
    if (off & 1u) f = static_cast<uint16_t>(f << 8 | f >> 8);
    sum_ += f;
    any_ = true;
  }
  void apply(uint8_t* cksum) const {
    if (!any_) return;
    put16(cksum, static_cast<uint16_t>(
                     ~csum::fold(static_cast<uint16_t>(~get16(cksum)) + csum::fold(sum_))));
  }

 private:
  uint32_t sum_ = 0;  // at most 10 folded terms (SEQ, ACK, 8 SACK edges): no overflow
  bool any_ = false;
};

// Adds `delta` to the 32-bit number at l4 + off.
void shift32(uint8_t* l4, uint32_t off, uint32_t delta, CsumDelta& ck) {
  const uint32_t old_raw = get32(l4 + off);
  const uint32_t new_raw = rte_cpu_to_be_32(rte_be_to_cpu_32(old_raw) + delta);
  put32(l4 + off, new_raw);
  ck.add(off, old_raw, new_raw);
}

// Moves every SACK edge by `delta`; returns the number of blocks. Stops at a malformed option.
unsigned shift_sack(const PktView& v, uint32_t delta, CsumDelta& ck) {
  const uint32_t doff = (v.l4[12] >> 4) * 4u;
  unsigned blocks = 0;
  uint32_t o = 20;
  while (o < doff) {
    const uint8_t kind = v.l4[o];
    if (kind == 0) break;
    if (kind == 1) {
      ++o;
      continue;
    }
    if (o + 1 >= doff) break;
    const uint32_t len = v.l4[o + 1];
    if (len < 2 || o + len > doff) break;
    if (kind == 5 && len >= 10 && (len - 2) % 8 == 0) {
      for (uint32_t e = o + 2; e < o + len; e += 4) shift32(v.l4, e, delta, ck);
      blocks += (len - 2) / 8;
    }
    o += len;
  }
  return blocks;
}

// Draws a nonzero 32-bit offset.
uint32_t draw_offset(Chance& ch) {
  uint32_t d;
  do {
    d = static_cast<uint32_t>(ch.next() >> 32);
  } while (d == 0);
  return d;
}

// ---- the stage --------------------------------------------------------------------------------

struct SeqParams {
  bool rewrite_init = true, rewrite_resp = false;
  std::optional<uint32_t> offset_init, offset_resp;  // fixed; nullopt: random per flow
};

class TcpSeq final : public MatchStage {
 public:
  TcpSeq(const StageCommon& c, const StageSite& site, const SeqParams& p,
         std::shared_ptr<FlowTable> table)
      : MatchStage({}, kActions, c, site),
        syn_match_(c.match),
        params_(p),
        table_(std::move(table)) {}

  bool stateful() const override { return true; }

  // Every instance rewrites the flows it knows, whatever its port or direction: the match (port
  // and direction included) only decides which SYNs start a flow.
  void process(Batch& b) override {
    const uint64_t now = rte_get_tsc_cycles();
    PktView views[kMaxBurst];
    FlowKey keys[kMaxBurst];
    const void* key_ptrs[kMaxBurst];
    bool from_a[kMaxBurst];
    int32_t pos[kMaxBurst];
    uint16_t n = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView& v = views[n];
      if (!view_packet(b.pkts[i], v) || !v.tcp_ok) continue;
      flow_key(v, keys[n], from_a[n]);
      key_ptrs[n] = &keys[n];
      ++n;
    }
    if (n != 0) {
      table_->find_bulk(key_ptrs, n, pos);
      bool changed = false;  // an add or remove in this burst makes later bulk results stale
      for (uint16_t j = 0; j < n; ++j) {
        const int32_t p = changed ? table_->find(keys[j]) : pos[j];
        changed |= handle(views[j], keys[j], from_a[j], p, now);
      }
    }
    tally_[kExpired] += table_->sweep(now, kSweepPerBurst);
    flush();
  }

 private:
  // One TCP packet; pos: its flow's slot or < 0. Returns true when the table changed.
  bool handle(const PktView& v, const FlowKey& key, bool from_a, int32_t pos, uint64_t now) {
    bool changed = false;
    const bool syn = (v.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
    if (pos >= 0) {
      const Flow& f = table_->at(pos);
      // Stale, or a new connection on the 4-tuple of a closed one: start over.
      if (f.deadline < now || (syn && f.closing)) {
        if (f.deadline < now) ++tally_[kExpired];
        table_->remove(pos);
        pos = -1;
        changed = true;
      }
    }
    if (pos < 0) {
      if (!syn || !active() || !syn_match_.test(v)) {
        ++tally_[kUntracked];
        return changed;
      }
      pos = table_->add(key);
      if (pos < 0) {
        ++tally_[kTableFull];
        return changed;
      }
      changed = true;
      Flow& f = table_->at(pos);
      f.init_is_a = from_a;
      if (chance().hit()) {
        if (params_.rewrite_init)
          f.d_init = params_.offset_init ? *params_.offset_init : draw_offset(chance());
        if (params_.rewrite_resp)
          f.d_resp = params_.offset_resp ? *params_.offset_resp : draw_offset(chance());
        ++tally_[kFlows];
      } else {
        ++tally_[kFlowsUnselected];
      }
    }

    Flow& f = table_->at(pos);
    const bool from_init = from_a == f.init_is_a;
    const uint32_t d_seq = from_init ? f.d_init : f.d_resp;  // the sender's own numbers
    const uint32_t d_ack = from_init ? f.d_resp : f.d_init;  // numbers about the peer
    CsumDelta ck;
    bool rewritten = false;
    if (d_seq != 0) {
      shift32(v.l4, 4, d_seq, ck);
      rewritten = true;
    }
    if (d_ack != 0 && (v.tcp_flags & kTcpAck) != 0) {
      shift32(v.l4, 8, 0u - d_ack, ck);
      tally_[kSackBlocks] += shift_sack(v, 0u - d_ack, ck);
      rewritten = true;
    }
    ck.apply(v.l4 + 16);
    tally_[kRewritten] += rewritten;

    if (!from_init) f.answered = true;
    if (v.tcp_flags & kTcpFin) f.fins |= from_init ? 1 : 2;
    if ((v.tcp_flags & kTcpRst) || f.fins == 3) f.closing = true;
    f.deadline = now + table_->idle_cycles(f);
    return changed;
  }

  void flush() {
    for (size_t a = 0; a < std::size(kActions); ++a) {
      if (tally_[a] != 0) count_action(a, tally_[a]);
      tally_[a] = 0;
    }
  }

  Match syn_match_;
  SeqParams params_;
  std::shared_ptr<FlowTable> table_;
  uint64_t tally_[std::size(kActions)] = {};
};

// ---- params -----------------------------------------------------------------------------------

// `random` (nullopt) or a fixed offset 1..2^32-1, decimal or 0x-hex.
std::optional<uint32_t> parse_offset(YamlMap& m, std::string_view key) {
  const YAML::Node n = m.node(key);
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  if (s == "random") return std::nullopt;
  const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  const char* first = s.data() + (hex ? 2 : 0);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(first, s.data() + s.size(), v, hex ? 16 : 10);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 0xffffffffu) {
    m.fail(key, fmt::format("'{}' is not random or an offset 1..4294967295", s));
  }
  return static_cast<uint32_t>(v);
}

double parse_seconds(YamlMap& m, std::string_view key, double fallback) {
  if (!m.has(key)) return fallback;
  const double s = m.get<double>(key);
  if (!(s >= 0.001 && s <= 1e7))
    m.fail(key, fmt::format("{} is not within 0.001..10000000 seconds", s));
  return s;
}

const StageRegistration kReg{{
    .name = "tcp_seq",
    .help =
        "randomise TCP initial sequence numbers per flow; translate SEQ, ACK and SACK both ways",
    .drops = {},
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      SeqParams sp;
      const auto rw = m.get_or<std::string>("rewrite", "initiator");
      if (rw == "initiator") {
        sp = {true, false};
      } else if (rw == "responder") {
        sp = {false, true};
      } else if (rw == "both") {
        sp = {true, true};
      } else {
        m.fail("rewrite", fmt::format("'{}' is not initiator, responder or both", rw));
      }
      if (m.has("offset")) {
        if (!sp.rewrite_init)
          m.fail("offset", "rewrite: responder leaves the initiator's numbers alone");
        sp.offset_init = parse_offset(m, "offset");
      }
      if (m.has("responder_offset")) {
        if (!sp.rewrite_resp) m.fail("responder_offset", "needs rewrite: responder or both");
        sp.offset_resp = parse_offset(m, "responder_offset");
      }
      TableParams tp;
      tp.timeout_s = parse_seconds(m, "timeout", tp.timeout_s);
      tp.closing_s = parse_seconds(m, "closing_timeout", tp.closing_s);
      tp.capacity = m.get_or_in<uint32_t>("capacity", tp.capacity, 8, 1u << 24);
      const auto table = m.get_or<std::string>("table", "tcp_seq");
      if (table.empty()) m.fail("table", "a table name cannot be empty");
      m.done();
      return [c, sp, tp, table](const StageSite& site) {
        auto t = shared_table(fmt::format("{}/{}/{}", site.router, table, site.worker), tp);
        return std::make_unique<TcpSeq>(c, site, sp, std::move(t));
      };
    },
}};

}  // namespace
}  // namespace pathlab
