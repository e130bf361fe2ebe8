#pragma once
// What a participating hop writes into an IPIM option (docs/ipim.md, "What a hop does"): the
// accumulated fields on every packet, and one whole slot when triggered or sampled. Pure byte
// work on a checked option; the caller fixes the IPv4 checksum from the WordDelta afterwards.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "pathlab/ipim/wire.hpp"

namespace pathlab::ipim {

// What this hop knows, gathered once per burst. Unavailable values hold their all-ones code.
struct HopValues {
  uint32_t router_id = kU32Unavailable;
  uint32_t as = kU32Unavailable;
  uint32_t evolution_offset = 0;
  uint16_t avail_code = kCapUnavailable;  // available capacity, log scale
  uint16_t cap_code = kCapUnavailable;    // link capacity, log scale
  uint32_t queue_us = kU32Unavailable;
  uint8_t level = kLevelUnavailable;
  uint32_t time_us = kU32Unavailable;
  const uint8_t* egress = nullptr;  // 4 or 16 bytes, network order; null: unavailable
};

// Per packet.
struct HopPacket {
  uint8_t arrival_ttl = 0;
  const uint8_t* ingress = nullptr;  // null: unavailable
  bool sampled = false;              // the hop's draw (and load rule) says stamp if asked
};

enum class Stamped : uint8_t { kNo, kSampled, kTriggered, kOverflow };

inline uint32_t saturating_add(uint32_t a, uint32_t b) {
  const uint64_t s = uint64_t{a} + b;
  return s >= kU32Max ? kU32Max : static_cast<uint32_t>(s);
}

// What the writes below change, for the IPv4 header checksum (RFC 1624, eqn. 3): the ones'
// complement sum of ~old + new over the option's 16-bit words, big-endian, counted from the type
// byte. The caller folds it into the checksum (byte-swapped if the option starts at an odd
// offset). Kept from the values, so nothing just written is read back.
struct WordDelta {
  uint32_t sum = 0;
  void add(uint16_t was, uint16_t now) { sum += static_cast<uint16_t>(~was) + uint32_t{now}; }
};
// For callers with no checksum to keep (IPv6, the probe): the writes alone.
struct NoDelta {
  void add(uint16_t, uint16_t) {}
};

// Writes at an even offset from the type byte, counted in d.
template <class Delta>
inline void put16(uint8_t* p, uint16_t v, Delta& d) {
  d.add(rd16(p), v);
  wr16(p, v);
}
template <class Delta>
inline void put32(uint8_t* p, uint32_t v, Delta& d) {
  put16(p, static_cast<uint16_t>(v >> 16), d);
  put16(p + 2, static_cast<uint16_t>(v), d);
}

// TTL', evolution, minimum capacity and queue sum.
template <class Delta>
inline void accumulate(const Option& opt, const HopValues& h, Delta& d) {
  uint8_t* o = opt.o;
  uint8_t acc = o[kOffAcc];
  if (h.avail_code == kCapUnavailable) {
    acc |= kAccCapUnavailable;
  } else if (h.avail_code < rd16(o + kOffMinCap)) {
    put16(o + kOffMinCap, h.avail_code, d);
  }
  if (h.queue_us == kU32Unavailable) {
    acc |= kAccQueueUnavailable;
  } else {
    put32(o + kOffQueueSum, saturating_add(rd32(o + kOffQueueSum), h.queue_us), d);
  }
  // TTL' and the acc byte share a word.
  const auto ttl_prime = static_cast<uint8_t>(o[kOffTtlPrime] - 1);
  put16(o + kOffTtlPrime, static_cast<uint16_t>(ttl_prime << 8 | acc), d);
  put32(o + kOffEvolution, rd32(o + kOffEvolution) + h.evolution_offset, d);
}

// The address (or all-ones and the unavailable bit) at an even offset in a slot.
template <class Delta>
inline void write_address(uint8_t* at, const uint8_t* addr, unsigned len, uint8_t& flags,
                          uint8_t bit, Delta& d) {
  for (unsigned i = 0; i < len; i += 2) {
    d.add(rd16(at + i), addr != nullptr ? rd16(addr + i) : 0xffff);
  }
  if (addr != nullptr) {
    std::memcpy(at, addr, len);
  } else {
    std::memset(at, 0xff, len);
    flags |= bit;
  }
}

template <class Delta>
inline void write_topology(uint8_t* s, bool ip6, const HopValues& h, const HopPacket& p,
                           uint8_t& flags, Delta& d) {
  const unsigned alen = ip6 ? 16 : 4;
  put16(s + 2, 0, d);
  if (h.router_id == kU32Unavailable) flags |= kNoRouterId;
  if (h.as == kU32Unavailable) flags |= kNoAs;
  put32(s + kTopoRouterId, h.router_id, d);
  put32(s + kTopoAs, h.as, d);
  write_address(s + kTopoIngress, p.ingress, alen, flags, kNoIngress, d);
  write_address(s + kTopoIngress + alen, h.egress, alen, flags, kNoEgress, d);
}

template <class Delta>
inline void write_performance(uint8_t* s, const HopValues& h, uint8_t& flags, Delta& d) {
  put16(s + kPerfLevel, static_cast<uint16_t>(h.level << 8), d);  // level, reserved 0
  put32(s + kPerfTime, h.time_us, d);
  put32(s + kPerfQueue, h.queue_us, d);
  const bool no_cap = h.avail_code == kCapUnavailable || h.cap_code == kCapUnavailable;
  put16(s + kPerfAvail, no_cap ? kCapUnavailable : h.avail_code, d);
  put16(s + kPerfCap, no_cap ? kCapUnavailable : h.cap_code, d);
  if (h.level == kLevelUnavailable) flags |= kNoLevel;
  if (h.time_us == kU32Unavailable) flags |= kNoTime;
  if (h.queue_us == kU32Unavailable) flags |= kNoQueue;
  if (no_cap) flags |= kNoCapacity;
}

// Writes the next free slot if the packet asks for one here (triggered) or was sampled and asks
// for sampling; sets overflow when none is free.
template <class Delta>
inline Stamped stamp(const Option& opt, const HopValues& h, const HopPacket& p, Delta& d) {
  uint8_t* o = opt.o;
  const bool triggered = o[kOffTarget] != 0 && o[kOffTarget] == p.arrival_ttl;
  if (!triggered && !(p.sampled && (o[kOffFlags] & kFlagSample) != 0)) return Stamped::kNo;
  const unsigned next = opt.next_slot();
  if (next >= opt.slots()) {
    put16(o + kOffFlags, static_cast<uint16_t>(rd16(o + kOffFlags) | kFlagOverflow << 8), d);
    return Stamped::kOverflow;
  }
  uint8_t* s = opt.slot(next);
  const bool perf = opt.perf();
  uint8_t flags = static_cast<uint8_t>(kSlotWritten | (perf ? kSlotPerf : 0) |
                                       (triggered ? kSlotTriggered : 0));
  if (perf) {
    write_performance(s, h, flags, d);
  } else {
    write_topology(s, opt.ip6, h, p, flags, d);
  }
  put16(s, static_cast<uint16_t>(p.arrival_ttl << 8 | flags), d);
  // The acc byte keeps its flags; its word holds TTL' too.
  const uint16_t w = rd16(o + kOffTtlPrime);
  put16(o + kOffTtlPrime, static_cast<uint16_t>((w & ~kAccSlotMask) | (next + 1)), d);
  return triggered ? Stamped::kTriggered : Stamped::kSampled;
}

inline void accumulate(const Option& opt, const HopValues& h) {
  NoDelta d;
  accumulate(opt, h, d);
}
inline Stamped stamp(const Option& opt, const HopValues& h, const HopPacket& p) {
  NoDelta d;
  return stamp(opt, h, p, d);
}

}  // namespace pathlab::ipim
