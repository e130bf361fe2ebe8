// nat44: NAPT44 with selectable RFC 4787 behaviour (docs/nat.md). Put it on the OUTSIDE port,
// on egress (outbound: source translated after routing, mappings created) and on ingress
// (inbound: destination translated before routing), with the same `table`.
//   - stage: nat44
//     pool: [198.51.100.1/32, 198.51.100.8-198.51.100.9]   # outside addresses
//     ports: 1024-65535
//     mapping: endpoint_independent      # | address_dependent | address_and_port_dependent
//     filtering: endpoint_independent    # same choices (RFC 4787 section 5)
//     port_assignment: preserve          # | preserve_parity | random
//     pooling: paired                    # | arbitrary
//     hairpinning: true
//     timeouts: {udp: 300, tcp_established: 7440, tcp_transitory: 240, icmp: 60, fragment: 2}
//     max_sessions: 65536
//     at_limit: drop                     # | reject (ICMP 3/13 to the inside host)
//     static: [{proto: tcp, inside: 10.0.0.2:80, outside: 198.51.100.1:8080}]
//     mode: napt                         # | one_to_one (with inside: PREFIX, pool: one PREFIX)
//     table: nat44                       # instances naming the same table share it
//     inside_ports: [p0]                 # whose packets are translated out (default: all)
//     match: {src: 10.0.0.0/8}           # which outbound packets are translated
// Translates TCP, UDP, ICMP echo (identifier) and ICMP errors (the quoted header too, RFC 5508);
// first fragments create a fragment entry that later fragments of the datagram follow.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pathlab/nat/table.hpp"
#include "pathlab/net/icmp.hpp"
#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

using nat::Dep;
using nat::Entry;
using nat::Key;
using nat::Table;

constexpr CounterDesc kDrops[] = {
    {"no_mapping", "inbound to a pool address (or a hairpin, or an ICMP error) without a mapping"},
    {"filtered", "inbound refused by the filtering behaviour (no permission for the sender)"},
    {"exhausted", "new mapping refused: no port or address left, max_sessions or table full"},
    {"hairpin_off", "inside to a pool address with hairpinning: false"},
    {"unsupported", "outbound protocol or ICMP type not translated, or a header too short"},
    {"fragment", "non-first fragment of a datagram whose first fragment was not seen"},
    {"busy", "another worker was still creating the same mapping"},
};
enum Drop : uint8_t {
  kNoMapping = 1,
  kFiltered,
  kExhausted,
  kHairpinOff,
  kUnsupported,
  kFragment,
  kBusy
};

constexpr CounterDesc kActions[] = {
    {"created", "mappings (sessions) created"},
    {"expired", "mappings removed after their timeout"},
    {"translated_out", "outbound packets translated (source)"},
    {"translated_in", "inbound packets translated (destination)"},
    {"hairpinned", "inside-to-inside packets through a pool address, sent back inside"},
    {"icmp_errors", "ICMP errors translated with their quoted header"},
    {"fragments", "non-first fragments translated after their first fragment"},
    {"rejected", "new mappings refused with ICMP administratively prohibited (at_limit: reject)"},
};
enum Action : uint8_t {
  kCreated,
  kExpired,
  kTranslatedOut,
  kTranslatedIn,
  kHairpinned,
  kIcmpErrors,
  kFragments,
  kRejected
};

constexpr unsigned kSweepPerBurst = 16;  // table positions examined for expiry per burst

struct OneToOne {
  Ip4Prefix inside, outside;
};

struct Params {
  std::vector<std::string> inside_ports;  // empty: every port but this one
  bool hairpin = true;
  bool reject = false;
  std::optional<OneToOne> one_to_one;
};

// ---- header rewrites (checksums incremental, RFC 1624) ---------------------------------------

uint32_t be32(uint32_t host) { return rte_cpu_to_be_32(host); }
uint32_t host32(uint32_t be) { return rte_be_to_cpu_32(be); }

// The IPv4 address at l3 + off (12 source, 16 destination) becomes a (network order); the header
// checksum and, when the transport header is here, its pseudo-header checksum follow.
void set_addr(const PktView& v, unsigned off, uint32_t a) {
  const uint32_t old = get32(v.l3 + off);
  if (old == a) return;
  put32(v.l3 + off, a);
  put16(v.l3 + 10, csum::update32(get16(v.l3 + 10), old, a));
  if (v.l4 != nullptr && (v.proto == kProtoTcp || v.proto == kProtoUdp)) l4_update32(v, old, a);
}

// The port (TCP/UDP at 0 or 2) or ICMP echo identifier becomes p (network order).
void set_port(const PktView& v, unsigned off, uint16_t p) {
  if (v.proto == kProtoIcmp4) {
    csum::set16(v.l4 + 2, v.l4 + 4, p);
  } else {
    l4_set16(v, off, p);
  }
}

// The ICMP error at v.l4 quotes an IPv4 packet whose address at `addr_off` (12, 16) and port at
// `port_off` (0, 2; 4 for an echo identifier) become a and p: the quoted IP and transport
// checksums (when quoted) and the ICMP checksum follow (RFC 5508 REQ-3).
void rewrite_quote(const PktView& v, unsigned addr_off, unsigned port_off, uint32_t a, uint16_t p) {
  uint8_t* ip = v.l4 + 8;
  const uint32_t ihl = (ip[0] & 0xfu) * 4u;
  uint8_t* l4 = ip + ihl;
  const uint32_t l4_avail = v.l4_len - 8 - ihl;
  csum::Delta icmp;
  const uint32_t old_a = get32(ip + addr_off);
  const uint16_t old_p = get16(l4 + port_off);
  put32(ip + addr_off, a);
  put16(l4 + port_off, p);
  icmp.add32(old_a, a);
  icmp.add16(old_p, p);
  const uint16_t old_ipc = get16(ip + 10);
  const uint16_t new_ipc = csum::update32(old_ipc, old_a, a);
  put16(ip + 10, new_ipc);
  icmp.add16(old_ipc, new_ipc);
  const uint8_t proto = ip[9];
  const unsigned ck = proto == kProtoTcp ? 16 : (proto == kProtoUdp ? 6 : 2);
  const bool has_ck = proto == kProtoTcp || proto == kProtoUdp || proto == kProtoIcmp4;
  if (has_ck && l4_avail >= ck + 2 && !(proto == kProtoUdp && get16(l4 + ck) == 0)) {
    csum::Delta t;
    if (proto != kProtoIcmp4) t.add32(old_a, a);  // ICMP has no pseudo-header
    t.add16(old_p, p);
    const uint16_t old_c = get16(l4 + ck);
    uint16_t new_c = t.apply(old_c);
    if (proto == kProtoUdp && new_c == 0) new_c = 0xffff;
    put16(l4 + ck, new_c);
    icmp.add16(old_c, new_c);
  }
  put16(v.l4 + 2, icmp.apply(get16(v.l4 + 2)));
}

// A quoted packet we can read: IPv4 header and the 8 transport bytes RFC 792 promises, first
// fragment. Its transport header offset from v.l4, or 0.
uint32_t quote_l4(const PktView& v) {
  if (v.l4_len < 8 + 20) return 0;
  const uint8_t* ip = v.l4 + 8;
  const uint32_t ihl = (ip[0] & 0xfu) * 4u;
  if ((ip[0] >> 4) != 4 || ihl < 20 || v.l4_len < 8 + ihl + 8) return 0;
  if ((load_be16(ip + 6) & 0x1fff) != 0) return 0;
  return 8 + ihl;
}

// ---- the stage --------------------------------------------------------------------------------

class Nat44 final : public MatchStage {
 public:
  Nat44(const StageCommon& c, const StageSite& site, const Params& p, std::shared_ptr<Table> t)
      : MatchStage(kDrops, kActions, c, site), p_(p), table_(std::move(t)), egress_(site.egress) {
    for (const auto& port : site.port_ip4) {
      for (const Ip4Prefix& a : port) own_.push_back(be32(a.addr.v));
    }
    for (const Ip4Prefix& a : site.ip4) own_.push_back(be32(a.addr.v));
    if (!site.ip4.empty()) src4_ = site.ip4.front().addr;
    if (!p.inside_ports.empty()) inside_ = 0;
    for (const std::string& name : p.inside_ports) {
      const auto it = std::find(site.port_names.begin(), site.port_names.end(), name);
      if (it == site.port_names.end()) {
        throw std::runtime_error(fmt::format("nat44: inside_ports: router {} has no port {}",
                                             site.router, name));
      }
      inside_ |= uint64_t{1} << std::min<size_t>(it - site.port_names.begin(), 63);
    }
    if (table_) {
      cfg_ = table_->config();
      mapping_ = cfg_.mapping;
      filtering_ = cfg_.filtering;
      has_statics_ = !cfg_.statics.empty();
    }
  }

  bool stateful() const override { return true; }

  void process(Batch& b) override {
    if (table_ && !p_.one_to_one) {
      for (uint16_t base = 0; base < b.n; base += kChunk) {
        translate(b, base, std::min<uint16_t>(kChunk, b.n - base));
      }
      tally_[kExpired] += table_->sweep(b.now, kSweepPerBurst);
      return flush();
    }
    for (uint16_t i = 0; i < b.n; ++i) {
      PktView v;
      if (!view_packet(b.pkts[i], v) || v.version != 4) {
        b.verdict[i] = kPass;
        continue;
      }
      if (p_.one_to_one) {
        b.verdict[i] = egress_ ? (inside(b.pkts[i]) ? static_out(v) : kPass) : static_in(v);
      } else {
        b.verdict[i] = egress_ ? outbound(b, i, v, -1) : inbound(b.pkts[i], v, b.now, -1, false);
      }
    }
    if (table_) tally_[kExpired] += table_->sweep(b.now, kSweepPerBurst);
    flush();
  }

 private:
  bool own(uint32_t a) const { return std::find(own_.begin(), own_.end(), a) != own_.end(); }
  bool inside(const rte_mbuf* m) const { return (inside_ >> std::min<uint16_t>(m->port, 63)) & 1; }
  Nanos timeout(const Entry& e) const {
    const nat::Timeouts& t = cfg_.timeouts;
    if (e.proto_index == nat::kTcp) {
      return nat::tcp_established(e.tcp.load(std::memory_order_relaxed)) ? t.tcp_est : t.tcp_trans;
    }
    return e.proto_index == nat::kUdp ? t.udp : t.icmp;
  }
  void refresh(Entry& e, Nanos now) {
    if (!e.is_static) e.deadline.store(now + timeout(e), std::memory_order_relaxed);
  }
  void note_tcp(Entry& e, const PktView& v, bool out) {
    const uint8_t seen = e.tcp.load(std::memory_order_relaxed);
    if (out && (v.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn && seen != 0 &&
        !nat::tcp_established(seen) && (seen & nat::kSynIn) != 0) {
      e.tcp.store(nat::kSynOut, std::memory_order_relaxed);  // a new connection after a close
      return;
    }
    uint8_t add = 0;
    if (v.tcp_flags & kTcpSyn) add |= out ? nat::kSynOut : nat::kSynIn;
    if (v.tcp_flags & kTcpFin) add |= out ? nat::kFinOut : nat::kFinIn;
    if (v.tcp_flags & kTcpRst) add |= nat::kRstSeen;
    if (add != 0 && (seen & add) != add) {
      e.tcp.fetch_or(add, std::memory_order_relaxed);
    }
  }
  // A published mapping still live at `now`; a stale one is removed (by whoever wins).
  int32_t live(int32_t pos, Nanos now) {
    if (pos < 0) return -1;
    if (table_->at(pos).deadline.load(std::memory_order_relaxed) >= now) return pos;
    if (table_->remove_mapping(pos)) ++tally_[kExpired];
    return -1;
  }
  // The sender may reach the mapping at pos under the filtering behaviour (RFC 4787 REQ-8); its
  // permission lives on as long as the mapping it keeps alive.
  // The remote's port in a permission. ICMP echo has none: its "ports" are the identifier, inside
  // on the way out and outside on the way back, which differ when it is not preserved.
  static uint16_t remote_port(uint8_t proto, uint16_t port) { return proto == kProtoIcmp4 ? 0 : port; }

  bool permitted(int32_t pos, uint8_t proto, uint32_t r_addr, uint16_t r_port, Nanos now) {
    const Entry& e = table_->at(pos);
    if (filtering_ == Dep::Endpoint || e.is_static) return true;
    const int32_t pp =
        table_->find(nat::perm_key(filtering_, proto, e.ext_addr, e.ext_port, r_addr, r_port));
    if (pp < 0) return false;
    Entry& pe = table_->at(pp);
    if (pe.target != pos || pe.serial != e.serial ||
        pe.deadline.load(std::memory_order_relaxed) < now) {
      return false;
    }
    pe.deadline.store(now + timeout(e), std::memory_order_relaxed);
    return true;
  }

  // The endpoint keys of a TCP/UDP packet or an ICMP echo (its identifier as both ports).
  static bool ports(const PktView& v, bool out, uint16_t& sport, uint16_t& dport) {
    if (v.proto == kProtoTcp || v.proto == kProtoUdp) {
      if (!(v.proto == kProtoTcp ? v.tcp_ok : v.udp_ok)) return false;
      sport = get16(v.l4);
      dport = get16(v.l4 + 2);
      return true;
    }
    if (v.proto != kProtoIcmp4 || v.l4_len < 8) return false;
    if (v.l4[0] != (out ? icmp::kIcmp4Echo : icmp::kIcmp4EchoReply)) return false;
    sport = dport = get16(v.l4 + 4);
    return true;
  }
  static bool icmp_error(const PktView& v) {
    return v.proto == kProtoIcmp4 && v.l4 != nullptr && v.l4_len >= 8 &&
           icmp::ip4_is_error_type(v.l4[0]);
  }

  // ---- outbound (egress of the outside port) ----

  // A chunk of the burst: the table keys of the packets that need one are looked up together (their
  // cache misses overlap), then each packet is translated in order. Outbound, a key the lookup did
  // not find is looked for again, as an earlier packet of the chunk may have made its mapping.
  static constexpr uint16_t kChunk = 32;
  static_assert(kChunk <= FlowTable::kBulkMax);
  void translate(Batch& b, uint16_t base, uint16_t n) {
    PktView v[kChunk];
    Key keys[kChunk];
    Flow flows[kChunk];
    int32_t found[kChunk];
    uint8_t key_of[kChunk];
    uint32_t nk = 0;
    for (uint16_t j = 0; j < n; ++j) {
      key_of[j] = kNoKey;
      rte_mbuf* m = b.pkts[base + j];
      if (!view_packet(m, v[j]) || v[j].version != 4) continue;
      if (egress_ ? out_key(m, v[j], flows[nk], keys[nk]) : inbound_key(v[j], keys[nk])) {
        key_of[j] = static_cast<uint8_t>(nk++);
      }
    }
    table_->lookup_bulk(keys, nk, found);
    if (!egress_) table_->prefetch_targets(found, nk);
    for (uint16_t j = 0; j < n; ++j) {
      const uint16_t i = base + j;
      const bool looked = key_of[j] != kNoKey;
      const int32_t pos = looked ? found[key_of[j]] : -1;
      if (v[j].version != 4) {
        b.verdict[i] = kPass;
      } else {
        b.verdict[i] = !egress_ ? inbound(b.pkts[i], v[j], b.now, pos, looked)
                       : looked ? translate_out(b, i, v[j], flows[key_of[j]], keys[key_of[j]], pos)
                                : outbound(b, i, v[j], -1);
      }
    }
  }
  static constexpr uint8_t kNoKey = 0xff;

  // An outbound packet's addresses and ports (network order).
  struct Flow {
    uint32_t src, dst;
    uint16_t sport, dport;
  };

  // The flow and mapping key of an inside packet that takes the common path, or false.
  bool out_key(const rte_mbuf* m, const PktView& v, Flow& f, Key& key) const {
    f.src = get32(v.l3 + 12);
    if (!inside(m) || table_->in_pool(host32(f.src)) || own(f.src) || !match().test(v) ||
        (v.flags & kViewLaterFrag) || icmp_error(v) || !ports(v, true, f.sport, f.dport)) {
      return false;
    }
    f.dst = get32(v.l3 + 16);
    key = nat::out_key(mapping_, v.proto, f.src, f.sport, f.dst, f.dport);
    return true;
  }

  // `found`: the key's position from a lookup made earlier in the burst (published or not), or
  // -1 (look again).
  uint8_t outbound(Batch& b, uint16_t i, const PktView& v, int32_t found) {
    const uint32_t src = get32(v.l3 + 12);
    if (!inside(b.pkts[i]) || table_->in_pool(host32(src)) || own(src) || !match().test(v)) {
      return kPass;
    }
    if (v.flags & kViewLaterFrag) return follow(v, nat::kFragOut, 12, b.now);
    if (icmp_error(v)) return error_out(v, b.now);
    Flow f{src, get32(v.l3 + 16), 0, 0};
    if (!ports(v, true, f.sport, f.dport)) return kUnsupported;
    return translate_out(b, i, v, f, nat::out_key(mapping_, v.proto, f.src, f.sport, f.dst, f.dport), found);
  }

  // An outbound packet out_key() accepted, with its key.
  uint8_t translate_out(Batch& b, uint16_t i, const PktView& v, const Flow& f, const Key& key,
                        int32_t found) {
    const Nanos now = b.now;
    const uint32_t src = f.src, dst = f.dst;
    const uint16_t sport = f.sport, dport = f.dport;
    const uint8_t proto = v.proto;
    int32_t pos = live(found >= 0 && table_->published(found) ? found : table_->find(key), now);
    if (pos < 0 && has_statics_) pos = find_static(proto, src, sport);
    rte_mbuf* m = b.pkts[i];
    if (pos < 0) {
      const nat::Timeouts& t = cfg_.timeouts;
      const Nanos first = proto == kProtoTcp ? t.tcp_trans : (proto == kProtoUdp ? t.udp : t.icmp);
      switch (table_->create(key, proto, src, sport, static_cast<uint8_t>(m->port), now + first,
                             chance().next(), pos)) {
        case Table::Made::Ok:
          ++tally_[kCreated];
          break;
        case Table::Made::Busy:
          if (!table_->wait_ready(key, pos)) return kBusy;
          break;
        case Table::Made::Exhausted:
          return refuse(m);
      }
    }
    Entry& e = table_->at(pos);
    if (proto == kProtoTcp) note_tcp(e, v, true);
    refresh(e, now);
    if (e.in_ifindex.load(std::memory_order_relaxed) != m->port) {
      e.in_ifindex.store(static_cast<uint8_t>(m->port), std::memory_order_relaxed);
    }
    // REQ-8: what the filtering will let back in.
    if (filtering_ != Dep::Endpoint && !e.is_static &&
        !table_->touch(nat::perm_key(filtering_, proto, e.ext_addr, e.ext_port, dst,
                                     remote_port(proto, dport)), pos,
                       e.serial, 0, now + timeout(e))) {
      return kExhausted;
    }
    if (v.flags & kViewFragment) {
      const Key fk = nat::frag_key(nat::kFragOut, proto, src, dst, get16(v.l3 + 4));
      table_->touch(fk, -1, 0, e.ext_addr, now + cfg_.timeouts.frag);
    }
    set_addr(v, 12, e.ext_addr);
    set_port(v, 0, e.ext_port);
    if (proto != kProtoIcmp4) view_set_ports(m, host16(e.ext_port), host16(dport));
    ++tally_[kTranslatedOut];
    if (table_->in_pool(host32(dst))) [[unlikely]] return hairpin(b, i, v, now);
    return kPass;
  }

  static uint16_t host16(uint16_t be) { return rte_be_to_cpu_16(be); }

  int32_t find_static(uint8_t proto, uint32_t addr, uint16_t port) const {
    const int32_t pos = table_->find(nat::out_key(Dep::Endpoint, proto, addr, port, 0, 0));
    return pos >= 0 && table_->at(pos).is_static ? pos : -1;
  }

  // At the limit: drop, or answer the inside host with ICMP 3/13 (counted as rejected).
  uint8_t refuse(rte_mbuf* m) {
    if (!p_.reject || !src4_) return kExhausted;
    const uint16_t l2_len = m->l2_len;
    if (icmp::make_ip4_error(m, l2_len, icmp::kIcmp4DestUnreach, icmp::kIcmp4AdminProhibited, 0,
                             *src4_) != icmp::Refuse::None) {
      return kExhausted;
    }
    untag_reply(m, l2_len, true);
    refresh_view(m);
    ++tally_[kRejected];
    return kGenerated;
  }

  // RFC 4787 section 6: inside to a pool address, already given its own mapping's source, goes
  // back in to the mapping's inside host if its filtering lets that source in.
  uint8_t hairpin(Batch& b, uint16_t i, const PktView& v, Nanos now) {
    if (!p_.hairpin) return kHairpinOff;
    const uint8_t proto = v.proto;
    uint16_t sport = 0, dport = 0;
    if (proto == kProtoIcmp4 || !ports(v, true, sport, dport)) return kNoMapping;
    const int32_t pos = live(table_->inbound(nat::in_key(proto, get32(v.l3 + 16), dport)), now);
    if (pos < 0) return kNoMapping;
    if (!permitted(pos, proto, get32(v.l3 + 12), sport, now)) return kFiltered;
    Entry& e = table_->at(pos);
    refresh(e, now);
    set_addr(v, 16, e.in_addr);
    set_port(v, 2, e.in_port);
    view_set_ports(b.pkts[i], host16(sport), host16(e.in_port));
    b.redirect_port[i] = e.in_ifindex.load(std::memory_order_relaxed);
    ++tally_[kHairpinned];
    return kRedirect;
  }

  // An inside host's ICMP error about a packet from outside: the quoted packet's destination is
  // the inside endpoint of a mapping (RFC 5508).
  uint8_t error_out(const PktView& v, Nanos now) {
    const uint32_t q = quote_l4(v);
    if (q == 0) return kUnsupported;
    const uint8_t* ip = v.l4 + 8;
    const uint8_t proto = ip[9];
    if (proto != kProtoTcp && proto != kProtoUdp) return kUnsupported;
    const uint8_t* l4 = v.l4 + q;
    const uint32_t r_addr = get32(ip + 12), in_addr = get32(ip + 16);
    const uint16_t r_port = get16(l4), in_port = get16(l4 + 2);
    int32_t pos = live(table_->find(nat::out_key(mapping_, proto, in_addr, in_port, r_addr, r_port)), now);
    if (pos < 0 && has_statics_) pos = find_static(proto, in_addr, in_port);
    if (pos < 0) return kNoMapping;
    const Entry& e = table_->at(pos);
    rewrite_quote(v, 16, 2, e.ext_addr, e.ext_port);
    set_addr(v, 12, e.ext_addr);
    ++tally_[kIcmpErrors];
    return kPass;
  }

  // A later fragment takes the address its first fragment was given.
  uint8_t follow(const PktView& v, nat::Tag tag, unsigned off, Nanos now) {
    const int32_t pos = table_->find(nat::frag_key(tag, v.proto, get32(v.l3 + 12),
                                                   get32(v.l3 + 16), get16(v.l3 + 4)));
    if (pos < 0 || table_->at(pos).deadline.load(std::memory_order_relaxed) < now) return kFragment;
    set_addr(v, off, table_->at(pos).ext_addr);
    ++tally_[kFragments];
    return kPass;
  }

  // ---- inbound (ingress of the outside port) ----

  // The In key of a packet to the pool that takes the common path, or false.
  bool inbound_key(const PktView& v, Key& key) const {
    const uint32_t dst = get32(v.l3 + 16);
    uint16_t sport = 0, dport = 0;
    if (!table_->in_pool(host32(dst)) || (v.flags & kViewLaterFrag) || icmp_error(v) ||
        !ports(v, false, sport, dport)) {
      return false;
    }
    key = nat::in_key(v.proto, dst, dport);
    return true;
  }

  // Unsolicited: the router's own address passes to the router, the rest is dropped.
  uint8_t unsolicited(uint32_t dst) const { return own(dst) ? kPass : uint8_t{kNoMapping}; }

  // `looked`: `found` is the In key's position from a lookup made earlier in the burst (or -1).
  uint8_t inbound(rte_mbuf* m, const PktView& v, Nanos now, int32_t found, bool looked) {
    const uint32_t src = get32(v.l3 + 12), dst = get32(v.l3 + 16);
    if (!table_->in_pool(host32(dst))) return kPass;
    if (v.flags & kViewLaterFrag) return follow(v, nat::kFragIn, 16, now);
    if (icmp_error(v)) return error_in(v, now);
    uint16_t sport = 0, dport = 0;
    if (!ports(v, false, sport, dport)) return unsolicited(dst);
    const uint8_t proto = v.proto;
    const int32_t pos =
        live(looked ? table_->inbound_at(found) : table_->inbound(nat::in_key(proto, dst, dport)), now);
    if (pos < 0) return unsolicited(dst);
    if (!permitted(pos, proto, src, remote_port(proto, sport), now)) return kFiltered;
    Entry& e = table_->at(pos);
    if (proto == kProtoTcp) note_tcp(e, v, false);
    refresh(e, now);  // REQ-6 allows inbound refresh
    if (v.flags & kViewFragment) {
      const Key fk = nat::frag_key(nat::kFragIn, proto, src, dst, get16(v.l3 + 4));
      table_->touch(fk, -1, 0, e.in_addr, now + cfg_.timeouts.frag);
    }
    set_addr(v, 16, e.in_addr);
    set_port(v, 2, e.in_port);
    if (proto != kProtoIcmp4) view_set_ports(m, host16(sport), host16(e.in_port));
    ++tally_[kTranslatedIn];
    return kPass;
  }

  // An ICMP error from beyond the NAT quoting a packet the NAT sent out (RFC 5508): the quoted
  // source goes back to the inside endpoint, and so does the error's destination.
  uint8_t error_in(const PktView& v, Nanos now) {
    const uint32_t dst = get32(v.l3 + 16);
    const uint32_t q = quote_l4(v);
    if (q == 0) return unsolicited(dst);
    const uint8_t* ip = v.l4 + 8;
    const uint8_t proto = ip[9];
    const uint8_t* l4 = v.l4 + q;
    unsigned port_off = 0;
    if (proto == kProtoIcmp4) {
      if (l4[0] != icmp::kIcmp4Echo) return unsolicited(dst);
      port_off = 4;
    } else if (proto != kProtoTcp && proto != kProtoUdp) {
      return unsolicited(dst);
    }
    const int32_t pos =
        live(table_->inbound(nat::in_key(proto, get32(ip + 12), get16(l4 + port_off))), now);
    if (pos < 0) return unsolicited(dst);
    const Entry& e = table_->at(pos);
    rewrite_quote(v, 12, port_off, e.in_addr, e.in_port);
    set_addr(v, 16, e.in_addr);
    ++tally_[kIcmpErrors];
    return kPass;
  }

  // ---- one_to_one: stateless address translation between two equal prefixes ----

  static uint32_t swap_prefix(uint32_t a_be, const Ip4Prefix& from, const Ip4Prefix& to) {
    const uint32_t host_mask = from.len == 0 ? ~0u : (1u << (32 - from.len)) - 1;
    return be32((to.addr.v & ~host_mask) | (host32(a_be) & host_mask));
  }
  uint8_t static_out(const PktView& v) {
    const OneToOne& o = *p_.one_to_one;
    const uint32_t src = get32(v.l3 + 12);
    if (!o.inside.contains(Ip4Addr{host32(src)}) || !match().test(v)) return kPass;
    if (icmp_error(v) && quote_l4(v) != 0) {
      uint8_t* ip = v.l4 + 8;
      const uint32_t q = get32(ip + 16);
      if (o.inside.contains(Ip4Addr{host32(q)})) {
        rewrite_quote(v, 16, 2, swap_prefix(q, o.inside, o.outside), get16(v.l4 + quote_l4(v) + 2));
        ++tally_[kIcmpErrors];
      }
    }
    set_addr(v, 12, swap_prefix(src, o.inside, o.outside));
    ++tally_[kTranslatedOut];
    return kPass;
  }
  uint8_t static_in(const PktView& v) {
    const OneToOne& o = *p_.one_to_one;
    const uint32_t dst = get32(v.l3 + 16);
    if (!o.outside.contains(Ip4Addr{host32(dst)})) return kPass;
    if (icmp_error(v) && quote_l4(v) != 0) {
      uint8_t* ip = v.l4 + 8;
      const uint32_t q = get32(ip + 12);
      if (o.outside.contains(Ip4Addr{host32(q)})) {
        const unsigned po = ip[9] == kProtoIcmp4 ? 4 : 0;
        rewrite_quote(v, 12, po, swap_prefix(q, o.outside, o.inside), get16(v.l4 + quote_l4(v) + po));
        ++tally_[kIcmpErrors];
      }
    }
    set_addr(v, 16, swap_prefix(dst, o.outside, o.inside));
    ++tally_[kTranslatedIn];
    return kPass;
  }

  void flush() {
    for (size_t a = 0; a < std::size(kActions); ++a) {
      if (tally_[a] != 0) count_action(a, tally_[a]);
      tally_[a] = 0;
    }
  }

  Params p_;
  std::shared_ptr<Table> table_;
  nat::TableConfig cfg_;
  Dep mapping_ = Dep::Endpoint, filtering_ = Dep::Endpoint;
  bool has_statics_ = false;
  bool egress_;
  uint64_t inside_ = ~uint64_t{0};  // router port indexes whose packets are translated out
  std::vector<uint32_t> own_;  // the router's addresses, network order
  std::optional<Ip4Addr> src4_;
  uint64_t tally_[std::size(kActions)] = {};
};

// The router's table named `name`, shared by all its instances, or a private one outside a
// dataplane (unit tests: one instance each unless they share a SharedState).
std::shared_ptr<Table> nat_table(const StageSite& site, const std::string& name,
                                 const nat::TableConfig& c) {
  static std::atomic<unsigned> serial{0};
  auto make = [&] {
    auto t = std::make_shared<Table>(fmt::format("nat44_{}", serial++), c,
                                     site.shared ? site.shared->qsbr() : nullptr);
    nat::register_table(site.router + "/" + name, t);
    return t;
  };
  if (site.shared == nullptr) return make();
  auto t = site.shared->object<Table>("nat44/" + name, make);
  if (!(t->config() == c)) {
    throw std::runtime_error(
        fmt::format("nat44: table {} is shared by stages with different settings", name));
  }
  return t;
}

// ---- params -----------------------------------------------------------------------------------

constexpr size_t kPoolMax = 256;

uint32_t parse_addr(YamlMap& m, std::string_view key, std::string_view s) {
  const auto a = parse_ip4(s);
  if (!a) m.fail(key, fmt::format("'{}' is not an IPv4 address", s));
  return a->v;
}

// Prefixes (every address in them), ranges a-b and single addresses.
std::vector<uint32_t> parse_pool(YamlMap& m) {
  std::vector<uint32_t> pool;
  for (const auto& item : m.items("pool", true)) {
    const std::string s = item.node.IsScalar() ? item.node.Scalar() : "";
    uint64_t lo, hi;
    if (const auto dash = s.find('-'); dash != std::string::npos) {
      lo = parse_addr(m, "pool", s.substr(0, dash));
      hi = parse_addr(m, "pool", s.substr(dash + 1));
      if (lo > hi) m.fail("pool", fmt::format("'{}': the range runs backwards", s));
    } else if (s.find('/') != std::string::npos) {
      const auto p = parse_ip4_prefix(s);
      if (!p) m.fail("pool", fmt::format("'{}' is not an IPv4 prefix", s));
      lo = p->network().addr.v;
      hi = lo + ((uint64_t{1} << (32 - p->len)) - 1);
    } else {
      lo = hi = parse_addr(m, "pool", s);
    }
    if (hi - lo + 1 + pool.size() > kPoolMax) {
      m.fail("pool", fmt::format("more than {} addresses", kPoolMax));
    }
    for (uint64_t a = lo; a <= hi; ++a) pool.push_back(static_cast<uint32_t>(a));
  }
  std::sort(pool.begin(), pool.end());
  pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
  return pool;
}

uint16_t parse_port(YamlMap& m, std::string_view key, std::string_view s, uint16_t lo) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > 65535) {
    m.fail(key, fmt::format("'{}' is not a port {}..65535", s, lo));
  }
  return static_cast<uint16_t>(v);
}

Dep parse_dep(YamlMap& m, std::string_view key) {
  const auto s = m.get_or<std::string>(key, "endpoint_independent");
  if (s == "endpoint_independent") return Dep::Endpoint;
  if (s == "address_dependent") return Dep::Address;
  if (s == "address_and_port_dependent") return Dep::AddressPort;
  m.fail(key, fmt::format(
                  "'{}' is not endpoint_independent, address_dependent or address_and_port_dependent", s));
}

Nanos parse_timeout(YamlMap& t, std::string_view key, Nanos fallback, double min_s) {
  if (!t.has(key)) return fallback;
  const double s = t.get<double>(key);
  if (!(s >= min_s && s <= 1e7)) {
    t.fail(key, fmt::format("{} is not within {}..10000000 seconds{}", s, min_s,
                            key == "udp" ? " (RFC 4787 REQ-5)" : ""));
  }
  return static_cast<Nanos>(s * 1e9);
}

nat::StaticMap parse_static(YamlMap& m) {
  nat::StaticMap s;
  const auto proto = m.get<std::string>("proto");
  if (proto != "tcp" && proto != "udp") m.fail("proto", fmt::format("'{}' is not tcp or udp", proto));
  s.proto = proto == "tcp" ? kProtoTcp : kProtoUdp;
  for (const char* side : {"inside", "outside"}) {
    const auto ep = m.get<std::string>(side);
    const auto colon = ep.find(':');
    if (colon == std::string::npos) m.fail(side, fmt::format("'{}' is not ADDRESS:PORT", ep));
    const uint32_t a = parse_addr(m, side, ep.substr(0, colon));
    const uint16_t p = parse_port(m, side, ep.substr(colon + 1), 1);
    (side[0] == 'i' ? s.in_addr : s.ext_addr) = a;
    (side[0] == 'i' ? s.in_port : s.ext_port) = p;
  }
  m.done();
  return s;
}

const StageRegistration kReg{{
    .name = "nat44",
    .help = "NAPT44 (RFC 4787 mapping, filtering, pooling, hairpinning), static mappings, 1:1 NAT",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      if (c.probability != 1.0) m.fail("probability", "nat44 translates every matching packet");
      Params p;
      nat::TableConfig tc;
      if (!m.has("pool")) m.fail("pool", "nat44 needs a pool of outside addresses");
      p.inside_ports = m.list<std::string>("inside_ports");
      const auto mode = m.get_or<std::string>("mode", "napt");
      if (mode == "one_to_one") {
        const auto inside = m.get<Ip4Prefix>("inside");
        const auto pool = m.items("pool", true);
        const auto out = parse_ip4_prefix(pool.size() == 1 && pool[0].node.IsScalar()
                                              ? pool[0].node.Scalar() : "");
        if (!out || out->len != inside.len) {
          m.fail("pool", fmt::format("one_to_one needs one pool prefix of length /{}", inside.len));
        }
        p.one_to_one = OneToOne{inside.network(), out->network()};
        m.done();
        return [c, p](const StageSite& site) {
          return std::make_unique<Nat44>(c, site, p, nullptr);
        };
      }
      if (mode != "napt") m.fail("mode", fmt::format("'{}' is not napt or one_to_one", mode));
      if (m.has("inside")) m.fail("inside", "needs mode: one_to_one");
      tc.pool = parse_pool(m);
      if (tc.pool.empty()) m.fail("pool", "no addresses");
      if (m.has("ports")) {
        const YAML::Node n = m.node("ports");
        const std::string s = n.IsScalar() ? n.Scalar() : "";
        const auto dash = s.find('-');
        tc.port_lo = parse_port(m, "ports", s.substr(0, dash), 1);
        tc.port_hi = dash == std::string::npos ? tc.port_lo
                                               : parse_port(m, "ports", s.substr(dash + 1), 1);
        if (tc.port_lo > tc.port_hi) m.fail("ports", fmt::format("'{}': the range runs backwards", s));
      }
      tc.mapping = parse_dep(m, "mapping");
      tc.filtering = parse_dep(m, "filtering");
      const auto assign = m.get_or<std::string>("port_assignment", "preserve");
      if (assign == "preserve") {
        tc.assign = nat::Assign::Preserve;
      } else if (assign == "preserve_parity") {
        tc.assign = nat::Assign::PreserveParity;
      } else if (assign == "random") {
        tc.assign = nat::Assign::Random;
      } else {
        m.fail("port_assignment",
               fmt::format("'{}' is not preserve, preserve_parity or random", assign));
      }
      const auto pooling = m.get_or<std::string>("pooling", "paired");
      if (pooling != "paired" && pooling != "arbitrary") {
        m.fail("pooling", fmt::format("'{}' is not paired or arbitrary", pooling));
      }
      tc.paired = pooling == "paired";
      p.hairpin = m.get_or<bool>("hairpinning", true);
      if (m.has("timeouts")) {
        YamlMap t(m.node("timeouts"), file, m.path("timeouts"));
        tc.timeouts.udp = parse_timeout(t, "udp", tc.timeouts.udp, 120);
        tc.timeouts.tcp_est = parse_timeout(t, "tcp_established", tc.timeouts.tcp_est, 1);
        tc.timeouts.tcp_trans = parse_timeout(t, "tcp_transitory", tc.timeouts.tcp_trans, 1);
        tc.timeouts.icmp = parse_timeout(t, "icmp", tc.timeouts.icmp, 1);
        tc.timeouts.frag = parse_timeout(t, "fragment", tc.timeouts.frag, 0.001);
        t.done();
      }
      tc.max_sessions = m.get_or_in<uint32_t>("max_sessions", 65536, 1, 1u << 22);
      const auto at_limit = m.get_or<std::string>("at_limit", "drop");
      if (at_limit != "drop" && at_limit != "reject") {
        m.fail("at_limit", fmt::format("'{}' is not drop or reject", at_limit));
      }
      p.reject = at_limit == "reject";
      for (const auto& item : m.items("static")) {
        YamlMap sm(item.node, file, item.path, item.pos);
        tc.statics.push_back(parse_static(sm));
        const auto& s = tc.statics.back();
        if (!std::binary_search(tc.pool.begin(), tc.pool.end(), s.ext_addr)) {
          sm.fail("outside", "the address is not in the pool");
        }
        for (size_t k = 0; k + 1 < tc.statics.size(); ++k) {
          const auto& o = tc.statics[k];
          if (o.proto == s.proto && ((o.ext_addr == s.ext_addr && o.ext_port == s.ext_port) ||
                                     (o.in_addr == s.in_addr && o.in_port == s.in_port))) {
            sm.fail("outside", "another static mapping uses this endpoint");
          }
        }
      }
      const auto table = m.get_or<std::string>("table", "nat44");
      if (table.empty()) m.fail("table", "a table name cannot be empty");
      m.done();
      return [c, p, tc, table](const StageSite& site) {
        return std::make_unique<Nat44>(c, site, p, nat_table(site, table, tc));
      };
    },
}};

}  // namespace
}  // namespace pathlab
