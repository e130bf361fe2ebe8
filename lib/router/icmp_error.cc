// ICMP errors of the forward step, made in place from the offending packet: rate limit, build
// (net/icmp.hpp), route back to the source (which refreshes the packet view), count. The quote
// is the packet as the ingress stages left it (docs/architecture.md).
#include <algorithm>

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

constexpr uint64_t kNsPerSec = 1'000'000'000;

}  // namespace

void IcmpLimiter::reset(uint64_t r, uint64_t b) {
  rate = r;
  burst = b;
  // Saturating: replay asks for an unlimited bucket (about 10^9 tokens).
  tokens_x = b > UINT64_MAX / kNsPerSec ? UINT64_MAX : b * kNsPerSec;
  last_ns = 0;
}

bool IcmpLimiter::take(Nanos now) {
  if (rate == 0) return false;
  const uint64_t cap = burst > UINT64_MAX / kNsPerSec ? UINT64_MAX : burst * kNsPerSec;
  if (now > last_ns) {
    // dt * rate fills the bucket exactly when dt > room / rate; otherwise it fits in room, so
    // it cannot overflow (replay's capture clock and kForever jump far).
    const uint64_t dt = now - last_ns;
    const uint64_t room = cap - std::min(tokens_x, cap);
    tokens_x = dt > room / rate ? cap : tokens_x + dt * rate;
    last_ns = now;
  }
  if (tokens_x < kNsPerSec) return false;
  tokens_x -= kNsPerSec;
  return true;
}

bool Router::icmp_error(RouterWorker& rw, uint8_t in, rte_mbuf* m, IcmpError e, uint16_t mtu) {
  const IcmpErrorKind& k = kKinds[static_cast<size_t>(e)];
  if (!rw.icmp.take(rw.in.now)) {
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
