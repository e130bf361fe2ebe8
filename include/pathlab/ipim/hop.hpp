#pragma once
// What a participating hop writes into an IPIM option (docs/ipim.md, "What a hop does"): the
// accumulated fields on every packet, and one whole slot when triggered or sampled. Pure byte
// work on a checked option; the caller fixes the IPv4 checksum over the option afterwards.
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

// TTL', evolution, minimum capacity and queue sum.
inline void accumulate(const Option& opt, const HopValues& h) {
  uint8_t* o = opt.o;
  o[kOffTtlPrime] = static_cast<uint8_t>(o[kOffTtlPrime] - 1);
  wr32(o + kOffEvolution, rd32(o + kOffEvolution) + h.evolution_offset);
  if (h.avail_code == kCapUnavailable) {
    o[kOffAcc] |= kAccCapUnavailable;
  } else if (h.avail_code < rd16(o + kOffMinCap)) {
    wr16(o + kOffMinCap, h.avail_code);
  }
  if (h.queue_us == kU32Unavailable) {
    o[kOffAcc] |= kAccQueueUnavailable;
  } else {
    wr32(o + kOffQueueSum, saturating_add(rd32(o + kOffQueueSum), h.queue_us));
  }
}

inline void write_address(uint8_t* at, const uint8_t* addr, unsigned len, uint8_t& flags,
                          uint8_t bit) {
  if (addr != nullptr) {
    std::memcpy(at, addr, len);
  } else {
    std::memset(at, 0xff, len);
    flags |= bit;
  }
}

inline void write_topology(uint8_t* s, bool ip6, const HopValues& h, const HopPacket& p,
                           uint8_t& flags) {
  const unsigned alen = ip6 ? 16 : 4;
  s[2] = s[3] = 0;
  if (h.router_id == kU32Unavailable) flags |= kNoRouterId;
  if (h.as == kU32Unavailable) flags |= kNoAs;
  wr32(s + kTopoRouterId, h.router_id);
  wr32(s + kTopoAs, h.as);
  write_address(s + kTopoIngress, p.ingress, alen, flags, kNoIngress);
  write_address(s + kTopoIngress + alen, h.egress, alen, flags, kNoEgress);
}

inline void write_performance(uint8_t* s, const HopValues& h, uint8_t& flags) {
  s[kPerfLevel] = h.level;
  s[3] = 0;
  wr32(s + kPerfTime, h.time_us);
  wr32(s + kPerfQueue, h.queue_us);
  wr16(s + kPerfAvail, h.avail_code);
  wr16(s + kPerfCap, h.cap_code);
  if (h.level == kLevelUnavailable) flags |= kNoLevel;
  if (h.time_us == kU32Unavailable) flags |= kNoTime;
  if (h.queue_us == kU32Unavailable) flags |= kNoQueue;
  if (h.avail_code == kCapUnavailable || h.cap_code == kCapUnavailable) {
    flags |= kNoCapacity;
    wr16(s + kPerfAvail, kCapUnavailable);
    wr16(s + kPerfCap, kCapUnavailable);
  }
}

// Writes the next free slot if the packet asks for one here (triggered) or was sampled and asks
// for sampling; sets overflow when none is free.
inline Stamped stamp(const Option& opt, const HopValues& h, const HopPacket& p) {
  uint8_t* o = opt.o;
  const bool triggered = o[kOffTarget] != 0 && o[kOffTarget] == p.arrival_ttl;
  if (!triggered && !(p.sampled && (o[kOffFlags] & kFlagSample) != 0)) return Stamped::kNo;
  const unsigned next = opt.next_slot();
  if (next >= opt.slots()) {
    o[kOffFlags] |= kFlagOverflow;
    return Stamped::kOverflow;
  }
  uint8_t* s = opt.slot(next);
  const bool perf = opt.perf();
  uint8_t flags = static_cast<uint8_t>(kSlotWritten | (perf ? kSlotPerf : 0) |
                                       (triggered ? kSlotTriggered : 0));
  if (perf) {
    write_performance(s, h, flags);
  } else {
    write_topology(s, opt.ip6, h, p, flags);
  }
  s[0] = p.arrival_ttl;
  s[1] = flags;
  o[kOffAcc] = static_cast<uint8_t>((o[kOffAcc] & ~kAccSlotMask) | (next + 1));
  return triggered ? Stamped::kTriggered : Stamped::kSampled;
}

}  // namespace pathlab::ipim
