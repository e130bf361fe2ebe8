#pragma once
// The IPIM option's wire format (docs/ipim.md): offsets, flags, encodings, and a checked view of
// one option. Shared by the router stage, pathlab-probe and the fuzz targets; no DPDK here.
// All multi-byte fields are big-endian. Offsets are from the option's type byte.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace pathlab::ipim {

inline constexpr uint8_t kIp4Type = 0x5e;  // RFC 4727 experimental: copy 0, class 2, number 30
inline constexpr uint8_t kIp6Type = 0x3e;  // RFC 4727 experimental: skip if unknown, may change
inline constexpr uint8_t kVersion = 1;

// Header and accumulated fields: 16 bytes after type and length.
inline constexpr unsigned kOffFlags = 2;    // version (high nibble) | flags (low nibble)
inline constexpr unsigned kOffTarget = 3;   // target TTL for triggered stamping; 0: none
inline constexpr unsigned kOffTtlPrime = 4; // TTL': decremented by every participating hop
inline constexpr unsigned kOffAcc = 5;      // accumulated-unavailable flags | next free slot
inline constexpr unsigned kOffEvolution = 6;   // 32 bits, each hop adds its offset mod 2^32
inline constexpr unsigned kOffMinCap = 10;     // 16 bits, log-scale capacity (see cap_encode)
inline constexpr unsigned kOffReserved = 12;   // 16 bits, zero
inline constexpr unsigned kOffQueueSum = 14;   // 32 bits, microseconds, saturating
inline constexpr unsigned kOffSlots = 18;      // first slot

// Flags in byte kOffFlags.
inline constexpr uint8_t kFlagOverflow = 0x08;  // a hop wanted to stamp and found no free slot
inline constexpr uint8_t kFlagSample = 0x04;    // the sender asks for probabilistic stamping
inline constexpr uint8_t kFlagPerf = 0x02;      // slots hold performance tuples (else topology)
// Byte kOffAcc: high nibble flags, low nibble the index of the next free slot.
inline constexpr uint8_t kAccCapUnavailable = 0x80;    // a hop had no capacity to give
inline constexpr uint8_t kAccQueueUnavailable = 0x40;  // a hop had no queue delay to give
inline constexpr uint8_t kAccSlotMask = 0x0f;

// Slots. Byte 0: the IP TTL the packet arrived at the hop with. Byte 1: slot flags.
inline constexpr uint8_t kSlotWritten = 0x80;
inline constexpr uint8_t kSlotPerf = 0x40;
inline constexpr uint8_t kSlotTriggered = 0x20;  // stamped because TTL == target
// Unavailable bits, topology slots.
inline constexpr uint8_t kNoRouterId = 0x08, kNoAs = 0x04, kNoIngress = 0x02, kNoEgress = 0x01;
// Unavailable bits, performance slots.
inline constexpr uint8_t kNoTime = 0x08, kNoQueue = 0x04, kNoCapacity = 0x02, kNoLevel = 0x01;

// Topology slot: ttl, flags, 2 reserved, router id (4), AS (4), ingress, egress address.
inline constexpr unsigned kTopoRouterId = 4, kTopoAs = 8, kTopoIngress = 12;
inline constexpr unsigned topo_slot_len(bool ip6) { return ip6 ? 44 : 20; }
// Performance slot (16): ttl, flags, congestion level, reserved, time (4, us mod 2^32),
// queue (4, us), available capacity (2, log), link capacity (2, log).
inline constexpr unsigned kPerfLevel = 2, kPerfTime = 4, kPerfQueue = 8, kPerfAvail = 12,
                          kPerfCap = 14;
inline constexpr unsigned kPerfSlotLen = 16;
inline constexpr unsigned slot_len(bool perf, bool ip6) { return perf ? kPerfSlotLen : topo_slot_len(ip6); }

inline constexpr unsigned kIp4MaxLen = 40;  // the whole IPv4 option area
inline constexpr unsigned kMaxSlots = 15;   // the slot index is 4 bits

// Capacity in bit/s on a log scale: round(1024 * log2(bps)), 0 for below 2 bit/s, at most
// 0xfffe; 0xffff is unavailable. Monotonic, so the minimum of codes is the code of the minimum.
inline constexpr uint16_t kCapUnavailable = 0xffff, kCapMax = 0xfffe;
inline uint16_t cap_encode(double bps) {
  if (!(bps >= 2.0)) return 0;
  const double c = std::round(1024.0 * std::log2(bps));
  return c >= kCapMax ? kCapMax : static_cast<uint16_t>(c);
}
inline double cap_decode(uint16_t c) { return c == 0 ? 0.0 : std::exp2(c / 1024.0); }

inline constexpr uint32_t kU32Unavailable = 0xffffffff, kU32Max = 0xfffffffe;
inline constexpr uint8_t kLevelUnavailable = 0xff, kLevelMax = 254;  // level/254 = probability

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void wr32(uint8_t* p, uint32_t v) {
  wr16(p, static_cast<uint16_t>(v >> 16));
  wr16(p + 2, static_cast<uint16_t>(v));
}

// Why an option is not a well-formed IPIM option.
enum class Malformed : uint8_t { kNone, kShort, kVersion, kSlotSize, kPointer };

// A checked view of one option: `o` points at its type byte, `len` is its whole length (IPv4:
// the length byte; IPv6: the length byte + 2). Well-formed: version 1, the header whole, the slot
// area a whole number of slots of the kind the flags name, and at most 15 slots.
struct Option {
  uint8_t* o = nullptr;
  unsigned len = 0;
  bool ip6 = false;

  uint8_t flags() const { return o[kOffFlags] & 0x0f; }
  uint8_t version() const { return o[kOffFlags] >> 4; }
  bool perf() const { return (o[kOffFlags] & kFlagPerf) != 0; }
  unsigned slot_size() const { return slot_len(perf(), ip6); }
  // By constant slot sizes: no division by a variable per packet.
  unsigned slots() const {
    const unsigned n = len - kOffSlots;
    return perf() ? n / kPerfSlotLen : ip6 ? n / topo_slot_len(true) : n / topo_slot_len(false);
  }
  unsigned next_slot() const { return o[kOffAcc] & kAccSlotMask; }
  uint8_t* slot(unsigned i) const { return o + kOffSlots + i * slot_size(); }

  Malformed check() const {
    unsigned n;
    return check(n);
  }
  // The same, giving the number of slots of a well-formed option.
  Malformed check(unsigned& n) const {
    if (len < kOffSlots) return Malformed::kShort;
    if (version() != kVersion) return Malformed::kVersion;
    n = slots();
    if (n * slot_size() != len - kOffSlots || n > kMaxSlots) return Malformed::kSlotSize;
    if (next_slot() > n) return Malformed::kPointer;
    return Malformed::kNone;
  }
};

}  // namespace pathlab::ipim
