// ICMP errors of the forward step, made in place from the offending packet: rate limit, build
// (net/icmp.hpp), route back to the source (which refreshes the packet view), count. The quote
// is the packet as the ingress stages left it (docs/architecture.md).
#include <rte_cycles.h>

#include "pathlab/net/icmp.hpp"
#include "pathlab/router/router.hpp"
#include "steps.hpp"

namespace pathlab {
namespace {

struct IcmpErrorKind {
  uint8_t type4, code4;  // ICMP (RFC 792)
  uint8_t type6, code6;  // ICMPv6 (RFC 4443)
  Drop refused;          // when the error may not be sent (RFC 1812 4.3.2.7, RFC 4443 2.4 (e))
  Event sent;
};

// By Router::IcmpError.
constexpr IcmpErrorKind kKinds[] = {
    {3, 0, 1, 0, Drop::NoRoute, Event::IcmpNetUnreachable},   // net unreachable / no route
    {11, 0, 3, 0, Drop::TtlExceeded, Event::IcmpTimeExceeded},
    {3, 4, 2, 0, Drop::MtuExceeded, Event::IcmpFragNeeded},   // frag needed / packet too big
};

}  // namespace

bool IcmpLimiter::take(uint64_t now, uint64_t hz) {
  if (rate == 0) return false;
  const uint64_t cap = burst * hz;
  tokens_x += (now - last_tsc) * rate;
  last_tsc = now;
  if (tokens_x > cap) tokens_x = cap;
  if (tokens_x < hz) return false;
  tokens_x -= hz;
  return true;
}

bool Router::icmp_error(RouterWorker& rw, uint8_t in, rte_mbuf* m, IcmpError e, uint16_t mtu) {
  const IcmpErrorKind& k = kKinds[static_cast<size_t>(e)];
  if (!rw.icmp.take(rte_get_tsc_cycles(), tsc_hz_)) {
    drop(rw, Drop::IcmpRateLimited, m);
    return false;
  }
  const bool v4 = m->packet_type == kPtype4;
  const icmp::Refuse refused =
      v4 ? icmp::make_ip4_error(m, steps::kEthLen, k.type4, k.code4, mtu, icmp_source4(in))
         : icmp::make_ip6_error(m, steps::kEthLen, k.type6, k.code6, mtu, icmp_source6(in));
  if (refused != icmp::Refuse::None) {
    drop(rw, k.refused, m);
    return false;
  }
  if (!(v4 ? route_generated4(rw, m) : route_generated6(rw, in, m))) return false;
  event(rw, k.sent);
  return true;
}

}  // namespace pathlab
