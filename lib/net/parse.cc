// IPv6 extension-header walk and result names; the hot checks are inline in parse.hpp.
#include "pathlab/net/parse.hpp"

namespace pathlab::parse {

Ip6Walk ip6_walk(const uint8_t* ip, uint32_t len, uint8_t& proto, uint32_t& offset) {
  Ip6Walk w;
  if (len < kIp6HdrLen) {
    return w;
  }
  uint8_t next = ip[6];
  uint32_t off = kIp6HdrLen;
  for (;;) {
    switch (next) {
      case kIp6HopByHop:
        // RFC 8200 4.1: only immediately after the IPv6 header.
        if (off != kIp6HdrLen) {
          return w;
        }
        [[fallthrough]];
      case kIp6Routing:
      case kIp6DestOpts: {
        if (len - off < 8) {
          return w;
        }
        const uint32_t hlen = (uint32_t{ip[off + 1]} + 1) * 8;
        if (len - off < hlen) {
          return w;
        }
        next = ip[off];
        off += hlen;
        break;
      }
      case kIp6Ah: {
        // RFC 4302 2.2: payload length in 4-octet units, minus 2.
        if (len - off < 8) {
          return w;
        }
        const uint32_t hlen = (uint32_t{ip[off + 1]} + 2) * 4;
        if (len - off < hlen) {
          return w;
        }
        next = ip[off];
        off += hlen;
        break;
      }
      case kIp6Fragment: {
        w.fragment = true;
        if (len - off < 8) {
          return w;
        }
        const uint16_t frag_off = load_be16(ip + off + 2) & 0xfff8;
        if (frag_off != 0) {
          proto = kIp6Fragment;
          offset = off;
          w.ok = true;
          return w;
        }
        next = ip[off];
        off += 8;
        break;
      }
      default:
        proto = next;
        offset = off;
        w.ok = true;
        return w;
    }
  }
}

const char* name(Ip4Result r) {
  switch (r) {
    case Ip4Result::Ok:
      return "ok";
    case Ip4Result::Truncated:
      return "truncated";
    case Ip4Result::BadVersion:
      return "bad_version";
    case Ip4Result::BadHeaderLength:
      return "bad_header_length";
    case Ip4Result::BadTotalLength:
      return "bad_total_length";
    case Ip4Result::BadChecksum:
      return "bad_checksum";
  }
  return "unknown";
}

const char* name(Ip6Result r) {
  switch (r) {
    case Ip6Result::Ok:
      return "ok";
    case Ip6Result::Truncated:
      return "truncated";
    case Ip6Result::BadVersion:
      return "bad_version";
    case Ip6Result::BadPayloadLength:
      return "bad_payload_length";
  }
  return "unknown";
}

}  // namespace pathlab::parse
