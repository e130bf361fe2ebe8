#pragma once
// The one walk over a type-length-value option list: IPv4 options (RFC 791 3.1), TCP options
// (RFC 9293 3.2) and IPv6 Hop-by-Hop / Destination options (RFC 8200 4.2). ip4_options.hpp,
// tcp_options.hpp and ip6_ext.hpp put names and rules on it. Bounded: nothing at or past `end`
// is read.
#include <cstdint>

namespace pathlab::tlv {

// How a family lays its options out.
struct Format {
  bool has_end;  // a type that ends the list (IPv4 and TCP: EOL, 0)
  uint8_t end;
  uint8_t single;     // the one-byte type (IPv4 and TCP: NOP, 1; IPv6: Pad1, 0)
  uint8_t len_extra;  // added to the length byte: 0 when it counts the whole option (IPv4,
                      // TCP: then it must be at least 2), 2 when it counts the data (IPv6)
};
inline constexpr Format kKindLength{true, 0, 1, 0};  // IPv4 and TCP
inline constexpr Format kIp6{false, 0, 0, 2};

// One option: its type, where its type byte is (from the walk's base pointer) and its whole
// length, type (and length) bytes included.
struct Option {
  uint32_t off;
  uint16_t len;
  uint8_t type;
};

enum class Walk : uint8_t {
  Done,       // every option up to the end (or the end-of-list type) is whole
  Stopped,    // fn returned false
  Malformed,  // a length below 2, an option past `end`, no room for the length byte, or a
              // length the family's Rule refuses
};

// A family's rule for the length of a type (TCP: known kinds have fixed sizes).
struct AnyLength {
  static bool ok(uint8_t, unsigned) { return true; }
};

// Calls fn(const Option&) -> bool (false: stop) for each option of base[begin, end), the
// one-byte type included, the end-of-list type not. Options before a malformed one are seen.
template <Format F, typename Rule = AnyLength, typename Fn>
inline Walk walk(const uint8_t* base, uint32_t begin, uint32_t end, Fn&& fn) {
  uint32_t off = begin;
  while (off < end) {
    const uint8_t type = base[off];
    if (F.has_end && type == F.end) break;
    if (type == F.single) {
      if (!fn(Option{off, 1, type})) return Walk::Stopped;
      ++off;
      continue;
    }
    if (end - off < 2) return Walk::Malformed;
    const uint32_t len = base[off + 1] + uint32_t{F.len_extra};
    if (len < 2 || len > end - off || !Rule::ok(type, len)) return Walk::Malformed;
    if (!fn(Option{off, static_cast<uint16_t>(len), type})) {
      return Walk::Stopped;
    }
    off += len;
  }
  return Walk::Done;
}

// True when base[begin, end) holds whole options only.
template <Format F>
inline bool valid(const uint8_t* base, uint32_t begin, uint32_t end) {
  return walk<F>(base, begin, end, [](const Option&) { return true; }) == Walk::Done;
}

// The first option of `type` in a list whole up to it; false when there is none or the list is
// malformed before it.
template <Format F>
inline bool find(const uint8_t* base, uint32_t begin, uint32_t end, uint8_t type, Option& out) {
  return walk<F>(base, begin, end, [&](const Option& o) {
           if (o.type != type) return true;
           out = o;
           return false;
         }) == Walk::Stopped;
}

}  // namespace pathlab::tlv
