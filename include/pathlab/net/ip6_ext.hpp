#pragma once
// IPv6 extension headers (RFC 8200 4) and the options inside Hop-by-Hop and Destination Options
// headers (RFC 8200 4.2). Offsets are from the start of the IPv6 header. Nothing at or past the
// `len` bytes given is read.
#include <cstdint>
#include <cstring>

#include "pathlab/net/bytes.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/tlv.hpp"

namespace pathlab::ip6ext {

// One extension header: its next-header value (parse::kIp6*), offset and whole length.
struct Header {
  uint32_t off;
  uint32_t len;
  uint8_t type;
};

// Where a walk ended.
struct Chain {
  bool ok = false;        // false: a header is truncated or Hop-by-Hop is not first
  bool fragment = false;  // a Fragment header was crossed or reached (even a truncated one)
  bool stopped = false;   // fn returned false at the header at `off` (of type `proto`)
  uint8_t proto = 0;      // the upper-layer protocol, parse::kIp6NoNext, or parse::kIp6Fragment
                          // for a non-first fragment (no upper-layer header follows)
  uint32_t off = 0;       // where that header starts
};

// Walks Hop-by-Hop (first only), Routing, Fragment, Destination Options and AH headers up to
// the upper layer, calling fn(const Header&) -> bool (false: stop) for each one that fits. A
// non-first fragment's Fragment header is the last one. `len`: bytes from the IPv6 header on.
template <typename Fn>
inline Chain walk(const uint8_t* ip, uint32_t len, Fn&& fn) {
  Chain c;
  if (len < parse::kIp6HdrLen) return c;
  uint8_t next = ip[6];
  uint32_t off = parse::kIp6HdrLen;
  for (;;) {
    uint32_t hlen;
    switch (next) {
      case parse::kIp6HopByHop:
        if (off != parse::kIp6HdrLen) return c;  // RFC 8200 4.1: only right after the header
        [[fallthrough]];
      case parse::kIp6Routing:
      case parse::kIp6DestOpts:
        if (len - off < 8) return c;
        hlen = (ip[off + 1] + 1u) * 8u;
        break;
      case parse::kIp6Ah:  // RFC 4302 2.2: payload length in 4-octet units, minus 2
        if (len - off < 8) return c;
        hlen = (ip[off + 1] + 2u) * 4u;
        break;
      case parse::kIp6Fragment:
        c.fragment = true;
        if (len - off < 8) return c;
        hlen = 8;
        break;
      default:
        c.ok = true;
        c.proto = next;
        c.off = off;
        return c;
    }
    if (len - off < hlen) return c;
    if (!fn(Header{off, hlen, next})) {
      c.ok = c.stopped = true;
      c.proto = next;
      c.off = off;
      return c;
    }
    if (next == parse::kIp6Fragment && (load_be16(ip + off + 2) & 0xfff8) != 0) {
      c.ok = true;
      c.proto = next;
      c.off = off;
      return c;
    }
    next = ip[off];
    off += hlen;
  }
}

// ---- options ----------------------------------------------------------------------------------

// Option types (IANA "Destination Options and Hop-by-Hop Options").
inline constexpr uint8_t kPad1 = 0x00, kPadN = 0x01, kTunnelLimit = 0x04, kRouterAlert = 0x05,
                         kCalipso = 0x07, kSmfDpd = 0x08, kPdm = 0x0f, kIoam = 0x11,
                         kQuickStart = 0x26, kRpl = 0x63, kJumbo = 0xc2, kHomeAddress = 0xc9;
// RFC 4727's experimental type 0x3e (skip if unrecognised, may change en route): the IPIM option.
inline constexpr uint8_t kExperiment3e = 0x3e;

// RFC 8200 4.2: what a node that does not know the type does (0 skip, 1 discard, 2 and 3
// discard and send ICMP), and whether the data may change en route.
inline uint8_t unrecognized_action(uint8_t type) { return type >> 6; }
inline bool may_change_en_route(uint8_t type) { return (type & 0x20) != 0; }

inline bool has_options(uint8_t type) {
  return type == parse::kIp6HopByHop || type == parse::kIp6DestOpts;
}

using tlv::Option;
using tlv::Walk;

// Calls fn(const Option&) -> bool (false: stop) for each option of the Hop-by-Hop or
// Destination Options header h (from walk()), Pad1 and PadN included.
template <typename Fn>
inline Walk for_each_option(const uint8_t* ip, const Header& h, Fn&& fn) {
  return tlv::walk<tlv::kIp6>(ip, h.off + 2, h.off + h.len, static_cast<Fn&&>(fn));
}

// h's option area holds whole options: Pad1, or type, length and that many data bytes.
inline bool options_valid(const uint8_t* ip, const Header& h) {
  return tlv::valid<tlv::kIp6>(ip, h.off + 2, h.off + h.len);
}

inline bool find_option(const uint8_t* ip, const Header& h, uint8_t type, Option& out) {
  return tlv::find<tlv::kIp6>(ip, h.off + 2, h.off + h.len, type, out);
}

// Overwrites an option (not Pad1) with PadN of the same length: type 1, zero data.
inline void pad_out(uint8_t* ip, const Option& o) {
  ip[o.off] = kPadN;
  std::memset(ip + o.off + 2, 0, o.len - 2u);
}

// The chain can be walked and every Hop-by-Hop and Destination Options header in it holds whole
// options: the check before any option is rewritten.
inline bool valid(const uint8_t* ip, uint32_t len) {
  bool options_ok = true;
  const Chain c = walk(ip, len, [&](const Header& h) {
    if (has_options(h.type)) options_ok = options_valid(ip, h);
    return options_ok;
  });
  return c.ok && options_ok;
}

}  // namespace pathlab::ip6ext
