#pragma once
// The IPv4 hop of hop.hpp in whole words, for the router's fast path: the same bytes (docs/ipim.md,
// "What a hop does"), with TTL' to the minimum capacity read and written as two 64-bit words, a
// slot copied from templates made once per burst, and the checksum delta summed over the words as
// they lie in memory (RFC 1071's byte-order independence: no byte swap for the sum).
// tests/fuzz/fuzz_ipim_hop4.cc checks it against hop.hpp.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#include "pathlab/ipim/hop.hpp"
#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"

namespace pathlab::ipim {

// Slot words are put together in memory order, byte 0 lowest.
static_assert(std::endian::native == std::endian::little);

namespace hop4_detail {
using csum::add_ec;
// ~old + new, ones' complement.
inline uint64_t delta64(uint64_t was, uint64_t now) { return add_ec(~was, now); }
}  // namespace hop4_detail

// What a burst's packets share: the accumulated values and both slot kinds but for the arrival
// TTL, the flags byte and (topology) the ingress address.
struct Hop4Burst {
  explicit Hop4Burst(const HopValues& h) {
    evolution = h.evolution_offset;
    avail = h.avail_code;
    queue = h.queue_us;
    if (h.avail_code == kCapUnavailable) acc_flags |= kAccCapUnavailable;
    if (h.queue_us == kU32Unavailable) acc_flags |= kAccQueueUnavailable;
    // The slots as hop.hpp's own writers make them, in memory order, with the bytes each packet
    // fills (arrival TTL, flags, ingress) zero; the flags byte is kept apart.
    NoDelta none;
    uint8_t topo[24] = {}, perf[kPerfSlotLen] = {};
    uint8_t f = 0;
    const HopPacket p;
    write_topology(topo, false, h, p, f, none);
    topo_flags = static_cast<uint8_t>(f & ~kNoIngress);
    f = 0;
    write_performance(perf, h, f, none);
    perf_flags = f;
    topo[0] = topo[1] = perf[0] = perf[1] = 0;
    std::memset(topo + kTopoIngress, 0, 4);
    topo0 = get64(topo);
    topo1 = get64(topo + 8);
    std::memcpy(&topo2, topo + 16, 4);
    perf0 = get64(perf);
    perf1 = get64(perf + 8);
  }
  uint32_t evolution = 0, queue = 0;
  uint16_t avail = kCapUnavailable;
  uint8_t acc_flags = 0;
  uint8_t topo_flags = 0, perf_flags = 0;
  uint64_t topo0 = 0, topo1 = 0, perf0 = 0, perf1 = 0;
  uint32_t topo2 = 0;
};
static_assert(kTopoIngress == 12);

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

// Updates the IPv4 header checksum at `field` by hop4()'s delta; both in memory byte order.
inline void apply_delta(uint8_t* field, uint64_t delta) {
  const auto ck = static_cast<uint16_t>(~pathlab::get16(field));
  pathlab::put16(field, static_cast<uint16_t>(~csum::fold64(csum::add_ec(delta, ck))));
}

// The input port's address for a topology slot, as ingress_word() returns it: the four bytes as
// they lie on the wire, loaded natively, or kNoIngressWord when the port has none.
inline constexpr uint64_t kNoIngressWord = uint64_t{1} << 32;

// accumulate() then stamp() on a checked IPv4 option (opt.check(slots) passed or ip4_slots gave
// slots, !opt.ip6). ingress_word() is called only for a topology stamp. `delta` receives the
// unfolded ones' complement sum, over the option's words as they lie in memory, of what changed
// (~old + new): the IPv4 checksum field, read and written natively, takes it as it is.
template <class IngressWord>
[[gnu::always_inline]] inline Stamped hop4(const Option& opt, unsigned slots, const Hop4Burst& b,
                                           uint8_t arrival_ttl, bool sampled,
                                           IngressWord&& ingress_word, uint64_t& delta) {
  using namespace hop4_detail;
  uint8_t* o = opt.o;
  // Bytes 2..9: flags, target, TTL', acc, evolution; bytes 10..17: min capacity, reserved, queue.
  // The new words are made from the old with masks, in 64-bit registers: no byte is taken out and
  // put back (a byte spilled and reloaded as a word stalls store forwarding).
  const uint64_t r0 = get64(o + 2), r1 = get64(o + 10);
  const uint64_t w0 = __builtin_bswap64(r0), w1 = __builtin_bswap64(r1);
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
      // Bytes 0..7 and 8..15 of the slot, built in registers.
      uint64_t sf = kSlotWritten | (triggered ? kSlotTriggered : 0);
      uint64_t a, c;
      if (perf) {
        sf |= kSlotPerf | b.perf_flags;
        a = b.perf0;
        c = b.perf1;
      } else {
        const uint64_t in = ingress_word();
        const bool has_ingress = in != kNoIngressWord;
        sf |= b.topo_flags | (has_ingress ? 0 : kNoIngress);
        a = b.topo0;
        c = b.topo1 | (has_ingress ? in : uint64_t{kU32Unavailable}) << 32;
      }
      a |= arrival_ttl | sf << 8;
      const uint64_t old0 = get64(s), old1 = get64(s + 8);
      put64(s, a);
      put64(s + 8, c);
      d = add_ec(delta64(old0, a), delta64(old1, c));
      if (!perf) {
        uint32_t old2;
        std::memcpy(&old2, s + 16, 4);
        std::memcpy(s + 16, &b.topo2, 4);
        d = add_ec(d, uint64_t{~old2} + b.topo2);
      }
      n0 += uint64_t{1} << 32;  // the next free slot: next + 1 <= 15, inside the mask
      st = triggered ? Stamped::kTriggered : Stamped::kSampled;
    }
  }
  const uint64_t q0 = __builtin_bswap64(n0), q1 = __builtin_bswap64(n1);
  put64(o + 2, q0);
  put64(o + 10, q1);
  // Bytes 2..17 and the slot start at even offsets from the type byte: the words line up.
  delta = add_ec(add_ec(delta64(r0, q0), delta64(r1, q1)), d);
  return st;
}

}  // namespace pathlab::ipim
