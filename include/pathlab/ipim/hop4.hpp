#pragma once
// The IPv4 hop of hop.hpp in whole words, for the router's fast path: the same bytes (docs/ipim.md,
// "What a hop does"), with TTL' to the minimum capacity read and written as one 64-bit word, the
// queue sum as one 32-bit word, a slot copied from a template made once per burst, and the
// checksum delta summed over 32-bit words. tests/fuzz/fuzz_ipim_hop4.cc checks it against hop.hpp.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "pathlab/ipim/hop.hpp"
#include "pathlab/net/bytes.hpp"

namespace pathlab::ipim {

// What a burst's packets share: the accumulated values and both slot kinds but for the arrival
// TTL, the flags byte and (topology) the ingress address.
struct Hop4Burst {
  explicit Hop4Burst(const HopValues& h) {
    evolution = h.evolution_offset;
    avail = h.avail_code;
    queue = h.queue_us;
    if (h.avail_code == kCapUnavailable) acc_flags |= kAccCapUnavailable;
    if (h.queue_us == kU32Unavailable) acc_flags |= kAccQueueUnavailable;
    // The slots as hop.hpp's own writers make them, kept as big-endian words; their flags byte
    // is kept apart.
    NoDelta none;
    uint8_t topo[20] = {}, perf[kPerfSlotLen] = {};
    uint8_t f = 0;
    const HopPacket p;
    write_topology(topo, false, h, p, f, none);
    topo_flags = static_cast<uint8_t>(f & ~kNoIngress);
    f = 0;
    write_performance(perf, h, f, none);
    perf_flags = f;
    for (unsigned i = 0; i < 5; ++i) topo_w[i] = rd32(topo + 4 * i);
    for (unsigned i = 0; i < 4; ++i) perf_w[i] = rd32(perf + 4 * i);
  }
  uint32_t evolution = 0, queue = 0;
  uint16_t avail = kCapUnavailable;
  uint8_t acc_flags = 0;
  uint32_t topo_w[5] = {}, perf_w[4] = {};
  uint8_t topo_flags = 0, perf_flags = 0;
};

namespace hop4_detail {
inline uint64_t be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
inline void put_be64(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
// a + b with the carry out added back in: ones' complement addition on 64-bit words, which keeps
// the sum modulo 0xffff that the 16-bit checksum needs (2^16 - 1 divides 2^64 - 1).
inline uint64_t add_ec(uint64_t a, uint64_t b) {
  uint64_t s;
  const bool carry = __builtin_add_overflow(a, b, &s);
  return s + carry;
}
// ~old + new over the 16-bit words of a big-endian value, unfolded.
inline uint64_t delta32(uint32_t was, uint32_t now) { return uint64_t{~was} + now; }
inline uint64_t delta64(uint64_t was, uint64_t now) { return add_ec(~was, now); }
}  // namespace hop4_detail

// The slots of a well-formed IPv4 option of `len` bytes (at most 40) whose flags and acc bytes are
// given, or -1: Option::check() for the lengths IPv4 allows, without its divisions. With one slot
// at most, the length alone tells: 18 (none), 38 (one topology slot), 34 (one performance slot).
inline int ip4_slots(uint8_t flags, uint8_t acc, unsigned len) {
  if ((flags >> 4) != kVersion) return -1;
  const unsigned one = kOffSlots + slot_len((flags & kFlagPerf) != 0, false);
  const int n = len == kOffSlots ? 0 : len == one ? 1 : -1;
  return n >= 0 && (acc & kAccSlotMask) <= unsigned(n) ? n : -1;
}
static_assert(kOffSlots + 2 * kPerfSlotLen > 40 && kOffSlots + 2 * topo_slot_len(false) > 40);

// The ones' complement sum hop4() returns, folded to 16 bits (as WordDelta::sum folds).
inline uint16_t fold_delta(uint64_t s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// accumulate() then stamp() on a checked IPv4 option (opt.check(slots) passed or ip4_slots gave
// slots, !opt.ip6). `ingress`:
// the input port's address as a big-endian word, valid when has_ingress. `delta` receives the
// unfolded checksum sum of the option's words, counted from the type byte.
[[gnu::always_inline]] inline Stamped hop4(const Option& opt, unsigned slots, const Hop4Burst& b, uint8_t arrival_ttl,
                    bool sampled, uint32_t ingress, bool has_ingress, uint64_t& delta) {
  using namespace hop4_detail;
  uint8_t* o = opt.o;
  // Bytes 2..9: flags, target, TTL', acc, evolution; bytes 10..17: min capacity, reserved, queue.
  // The new words are made from the old with masks, in 64-bit registers: no byte is taken out and
  // put back (a byte spilled and reloaded as a word stalls store forwarding).
  const uint64_t w0 = be64(o + 2), w1 = be64(o + 10);
  uint64_t n0 = (w0 & 0xffff00ff00000000ull) | (((w0 >> 40) - 1) & 0xff) << 40 |
                uint64_t{b.acc_flags} << 32 | static_cast<uint32_t>(static_cast<uint32_t>(w0) + b.evolution);
  // kCapUnavailable (0xffff) is above every capacity: the minimum keeps the packet's.
  const uint64_t min_cap = std::min<uint64_t>(w1 >> 48, b.avail);
  auto queue_sum = static_cast<uint32_t>(w1);
  if (b.queue != kU32Unavailable) queue_sum = saturating_add(queue_sum, b.queue);
  const uint64_t n1 = min_cap << 48 | (w1 & 0x0000ffff00000000ull) | queue_sum;

  const auto flags = static_cast<uint32_t>(w0 >> 56);
  const auto target = static_cast<uint8_t>(w0 >> 48);
  const bool triggered = target != 0 && target == arrival_ttl;
  Stamped st = Stamped::kNo;
  uint64_t d = 0;
  if (triggered || (sampled && (flags & kFlagSample) != 0)) {
    const unsigned next = static_cast<unsigned>(w0 >> 32) & kAccSlotMask;
    if (next >= slots) {
      n0 |= uint64_t{kFlagOverflow} << 56;
      st = Stamped::kOverflow;
    } else {
      const bool perf = (flags & kFlagPerf) != 0;
      uint8_t* s = opt.slot(next);
      // Built in registers: a slot assembled in memory and read back as words stalls.
      uint32_t sf = kSlotWritten | (triggered ? kSlotTriggered : 0);
      const uint32_t* tw = perf ? b.perf_w : b.topo_w;
      sf |= perf ? uint32_t{kSlotPerf} | b.perf_flags : b.topo_flags;
      uint32_t w3 = tw[3];
      if (!perf) {
        w3 = has_ingress ? ingress : kU32Unavailable;
        if (!has_ingress) sf |= kNoIngress;
      }
      const uint32_t s0 = uint32_t{arrival_ttl} << 24 | sf << 16 | (tw[0] & 0xffff);
      d = delta32(load_be32(s), s0) + delta32(load_be32(s + 4), tw[1]) +
          delta32(load_be32(s + 8), tw[2]) + delta32(load_be32(s + 12), w3);
      store_be32(s, s0);
      store_be32(s + 4, tw[1]);
      store_be32(s + 8, tw[2]);
      store_be32(s + 12, w3);
      if (!perf) {
        d += delta32(load_be32(s + 16), tw[4]);
        store_be32(s + 16, tw[4]);
      }
      n0 += uint64_t{1} << 32;  // the next free slot: next + 1 <= 15, inside the mask
      st = triggered ? Stamped::kTriggered : Stamped::kSampled;
    }
  }
  put_be64(o + 2, n0);
  put_be64(o + 10, n1);
  // Bytes 2..17 start at an even offset from the type byte: the words line up.
  delta = add_ec(add_ec(delta64(w0, n0), delta64(w1, n1)), d);
  return st;
}

}  // namespace pathlab::ipim
