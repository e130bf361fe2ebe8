// tcp_seq: a sequence-number randomiser. Shifts the initial sequence number of a TCP connection
// by a per-flow offset and translates SEQ, ACK and SACK edges in both directions to match, so
// the endpoints never notice (Cisco ASA / PIX "TCP sequence number randomization").
//   - stage: tcp_seq
//     rewrite: initiator     # initiator | responder | both: whose sequence space moves
//     offset: random         # the initiator's offset: random (per flow) or a fixed 1..2^32-1
//     responder_offset: random
//     timeout: 300           # seconds an established flow may idle
//     closing_timeout: 10    # seconds for half-open flows and after RST or FIN both ways
//     capacity: 65536        # flows per table
//     table: tcp_seq         # instances with the same table name on a router share it (all workers)
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
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "pathlab/engine/shared.hpp"
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

// A flow's translation, fixed when its SYN creates it (then published), and its state, which
// the workers seeing either direction update with relaxed atomics.
struct Flow {
  uint32_t d_init = 0;     // added to the initiator's sequence numbers
  uint32_t d_resp = 0;     // added to the responder's
  bool init_is_a = false;  // the initiator (sender of the SYN) is endpoint a of the key
  std::atomic<uint64_t> deadline{0};  // engine time (ns); stale after it
  std::atomic<bool> answered{false};  // the responder has sent something
  std::atomic<bool> closing{false};   // RST seen, or FIN from both sides
  std::atomic<uint8_t> fins{0};       // 1: FIN from the initiator, 2: from the responder
  FlowKey key{};                      // for the expiry sweep
};

struct TableParams {
  uint32_t capacity = 65536;
  double timeout_s = 300;
  double closing_s = 10;
  bool operator==(const TableParams&) const = default;
};

// The flows of one `table`: every worker's instances on a router share it (engine/shared.hpp:
// lock-free lookups, positions reclaimed through RCU), so both directions of a connection may
// run on different workers.
class SeqTable {
 public:
  SeqTable(const std::string& name, const TableParams& p, rte_rcu_qsbr* qsbr)
      : params_(p), table_(name, p.capacity, sizeof(FlowKey), qsbr), flows_(table_.slots()) {
    timeout_ = static_cast<Nanos>(p.timeout_s * 1e9);
    closing_ = static_cast<Nanos>(p.closing_s * 1e9);
  }

  const TableParams& params() const { return params_; }
  // The published flow of key, or -1.
  int32_t find(const FlowKey& k) const {
    const int32_t pos = table_.find(&k);
    return pos >= 0 && table_.ready(pos) ? pos : -1;
  }
  // A slot for k; `fresh`: it is new and the caller fills and publishes it. -1: table full.
  int32_t add(const FlowKey& k, bool& fresh) {
    const int32_t pos = table_.insert(&k, fresh);
    if (pos >= 0 && fresh) {
      Flow& f = flows_[pos];
      f.d_init = f.d_resp = 0;
      f.init_is_a = false;
      f.answered.store(false, std::memory_order_relaxed);
      f.closing.store(false, std::memory_order_relaxed);
      f.fins.store(0, std::memory_order_relaxed);
      f.key = k;
    }
    return pos;
  }
  void publish(int32_t pos) { table_.publish(pos); }
  bool remove(int32_t pos) { return table_.remove(&flows_[pos].key); }
  Flow& at(int32_t pos) { return flows_[pos]; }
  Nanos idle_time(const Flow& f) const {
    return f.closing.load(std::memory_order_relaxed) || !f.answered.load(std::memory_order_relaxed)
               ? closing_
               : timeout_;
  }

  // Removes the stale flows among the next n slots after `cursor`; returns how many.
  uint64_t sweep(Nanos now, unsigned n, size_t& cursor) {
    uint64_t removed = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (++cursor >= flows_.size()) cursor = 0;
      const auto pos = static_cast<int32_t>(cursor);
      if (table_.ready(pos) && flows_[pos].deadline.load(std::memory_order_relaxed) < now &&
          remove(pos)) {
        ++removed;
      }
    }
    return removed;
  }

 private:
  TableParams params_;
  FlowTable table_;
  std::vector<Flow> flows_;
  Nanos timeout_ = 0, closing_ = 0;
};

// The router's table named `name` (shared by every worker's instances), or a private one when the
// stage runs outside a dataplane.
std::shared_ptr<SeqTable> seq_table(const StageSite& site, const std::string& name,
                                    const TableParams& p) {
  static std::atomic<unsigned> serial{0};
  auto make = [&] {
    return std::make_shared<SeqTable>(fmt::format("tcp_seq_{}", serial++), p,
                                      site.shared ? site.shared->qsbr() : nullptr);
  };
  if (site.shared == nullptr) return make();
  auto t = site.shared->object<SeqTable>("tcp_seq/" + name, make);
  if (!(t->params() == p)) {
    throw std::runtime_error(fmt::format(
        "tcp_seq: flow table {} is shared by stages with different capacity or timeouts", name));
  }
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
         std::shared_ptr<SeqTable> table)
      : MatchStage({}, kActions, c, site),
        syn_match_(c.match),
        params_(p),
        table_(std::move(table)) {}

  bool stateful() const override { return true; }

  // Every instance rewrites the flows it knows, whatever its port or direction: the match (port
  // and direction included) only decides which SYNs start a flow.
  void process(Batch& b) override {
    const Nanos now = b.now;
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView v;
      if (!view_packet(b.pkts[i], v) || !v.tcp_ok) continue;
      FlowKey key;
      bool from_a;
      flow_key(v, key, from_a);
      handle(v, key, from_a, table_->find(key), now);
    }
    tally_[kExpired] += table_->sweep(now, kSweepPerBurst, cursor_);
    flush();
  }

 private:
  // One TCP packet; pos: its flow's slot or < 0.
  void handle(const PktView& v, const FlowKey& key, bool from_a, int32_t pos, Nanos now) {
    const bool syn = (v.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn;
    if (pos >= 0) {
      const Flow& f = table_->at(pos);
      const bool stale = f.deadline.load(std::memory_order_relaxed) < now;
      // Stale, or a new connection on the 4-tuple of a closed one: start over.
      if (stale || (syn && f.closing.load(std::memory_order_relaxed))) {
        if (table_->remove(pos) && stale) ++tally_[kExpired];
        pos = -1;
      }
    }
    if (pos < 0) {
      if (!syn || !active() || !syn_match_.test(v)) {
        ++tally_[kUntracked];
        return;
      }
      bool fresh = false;
      pos = table_->add(key, fresh);
      if (pos < 0) {
        ++tally_[kTableFull];
        return;
      }
      if (!fresh) {  // another worker created it a moment ago
        ++tally_[kUntracked];
        return;
      }
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
      f.deadline.store(now + table_->idle_time(f), std::memory_order_relaxed);
      table_->publish(pos);
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

    if (!from_init && !f.answered.load(std::memory_order_relaxed)) {
      f.answered.store(true, std::memory_order_relaxed);
    }
    uint8_t fins = f.fins.load(std::memory_order_relaxed);
    if (v.tcp_flags & kTcpFin) {
      fins = f.fins.fetch_or(from_init ? 1 : 2, std::memory_order_relaxed) | (from_init ? 1 : 2);
    }
    if ((v.tcp_flags & kTcpRst) || fins == 3) f.closing.store(true, std::memory_order_relaxed);
    f.deadline.store(now + table_->idle_time(f), std::memory_order_relaxed);
  }

  void flush() {
    for (size_t a = 0; a < std::size(kActions); ++a) {
      if (tally_[a] != 0) count_action(a, tally_[a]);
      tally_[a] = 0;
    }
  }

  Match syn_match_;
  SeqParams params_;
  std::shared_ptr<SeqTable> table_;
  size_t cursor_ = 0;
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
        return std::make_unique<TcpSeq>(c, site, sp, seq_table(site, table, tp));
      };
    },
}};

}  // namespace
}  // namespace pathlab
