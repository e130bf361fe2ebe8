#pragma once
// TCP options (RFC 9293 3.2): the kinds, the rules for their lengths, and the walk over a
// header's option area, bytes 20 to the data offset. Offsets are from the start of the TCP
// header. The caller has checked the data offset against the segment (the packet view's tcp_ok);
// nothing past it is read.
#include <cstdint>

#include "pathlab/net/tlv.hpp"

namespace pathlab::tcpopt {

inline constexpr uint8_t kEol = 0, kNop = 1, kMss = 2, kWscale = 3, kSackPermitted = 4, kSack = 5,
                         kTimestamp = 8, kMd5 = 19, kUserTimeout = 28, kTcpAo = 29, kMptcp = 30,
                         kTfo = 34, kExp1 = 253, kExp2 = 254;
// RFC 7413's experimental form: kind 254, then the 16-bit experiment id 0xF989 (RFC 6994).
inline constexpr uint8_t kTfoMagic0 = 0xf9, kTfoMagic1 = 0x89;
// Option classes: a kind 0..255, or this one for kind 254 carrying the TFO experiment id.
inline constexpr uint16_t kClassTfoExp = 256;
inline constexpr unsigned kClasses = 257;
inline constexpr unsigned kMaxArea = 40;  // data offset 15 words, minus the 20-byte header

using tlv::Walk;

// Known fixed-size kinds must have their size (SACK: 1 to 4 blocks); others any length >= 2.
inline bool length_ok(uint8_t kind, unsigned len) {
  switch (kind) {
    case kMss:
      return len == 4;
    case kWscale:
      return len == 3;
    case kSackPermitted:
      return len == 2;
    case kTimestamp:
      return len == 10;
    case kSack:
      return len >= 10 && len <= 34 && (len - 2) % 8 == 0;
    default:
      return true;
  }
}

struct LengthRule {
  static bool ok(uint8_t kind, unsigned len) { return length_ok(kind, len); }
};

// Calls fn(const tlv::Option&) -> bool (false: stop) for each option before EOL, NOPs included,
// of a TCP header of hlen bytes. Malformed also for a known kind with the wrong length.
template <typename Fn>
inline Walk for_each(const uint8_t* tcp, unsigned hlen, Fn&& fn) {
  return tlv::walk<tlv::kKindLength, LengthRule>(tcp, 20, hlen, static_cast<Fn&&>(fn));
}

inline bool valid(const uint8_t* tcp, unsigned hlen) {
  return for_each(tcp, hlen, [](const tlv::Option&) { return true; }) == Walk::Done;
}

// The first option of `kind`, in a list whole up to it.
inline bool find(const uint8_t* tcp, unsigned hlen, uint8_t kind, tlv::Option& out) {
  return for_each(tcp, hlen, [&](const tlv::Option& o) {
           if (o.type != kind) return true;
           out = o;
           return false;
         }) == Walk::Stopped;
}

// One option of a list, small enough to keep all of a header's.
struct Option {
  uint8_t off;  // from the TCP header
  uint8_t len;
  uint16_t cls;  // the kind, or kClassTfoExp
};

// The options before EOL (or the end of the area); NOPs included, EOL not.
struct OptionList {
  uint8_t* tcp = nullptr;
  uint8_t hlen = 0;  // data offset * 4
  uint8_t n = 0;
  Option opt[kMaxArea];
  uint8_t* area() const { return tcp + 20; }
  unsigned area_len() const { return hlen - 20u; }
};

// Lists the options of a TCP header of hlen bytes; false for a malformed list.
inline bool walk(uint8_t* tcp, unsigned hlen, OptionList& l) {
  l.tcp = tcp;
  l.hlen = static_cast<uint8_t>(hlen);
  l.n = 0;
  return for_each(tcp, hlen, [&](const tlv::Option& o) {
           uint16_t cls = o.type;
           if (o.type == kExp2 && o.len >= 4 && tcp[o.off + 2] == kTfoMagic0 &&
               tcp[o.off + 3] == kTfoMagic1) {
             cls = kClassTfoExp;
           }
           l.opt[l.n++] = {static_cast<uint8_t>(o.off), static_cast<uint8_t>(o.len), cls};
           return true;
         }) == Walk::Done;
}

}  // namespace pathlab::tcpopt
