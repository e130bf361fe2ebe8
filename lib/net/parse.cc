// The IPv6 walk to the upper layer (net/ip6_ext.hpp) and result names; the hot checks are
// inline in parse.hpp.
#include "pathlab/net/parse.hpp"

#include "pathlab/net/ip6_ext.hpp"

namespace pathlab::parse {

Ip6Walk ip6_walk(const uint8_t* ip, uint32_t len, uint8_t& proto, uint32_t& offset) {
  const ip6ext::Chain c = ip6ext::walk(ip, len, [](const ip6ext::Header&) { return true; });
  if (c.ok) {
    proto = c.proto;
    offset = c.off;
  }
  return Ip6Walk{c.ok, c.fragment};
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
