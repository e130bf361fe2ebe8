// Fuzz target: the IPv4 hop in whole words (ipim/hop4.hpp) against hop.hpp's byte writer, which the
// scapy-checked stage tests pin. Input: [HopValues: 25 bytes] [arrival TTL] [sampled] [ingress: 5
// bytes, the first saying whether there is one] [egress: the same] [the option, 0 to 40 bytes].
// ip4_slots (the fast path's check) must agree with Option::check; options that fail it are not
// hop material and are skipped. Both writers run on copies; the bytes, the verdict and the checksum
// delta (ones' complement, so 0 and 0xffff are one value) must agree.
#include <cstdint>
#include <cstring>

#include <rte_byteorder.h>

#include "common.hpp"
#include "pathlab/ipim/hop4.hpp"
#include "pathlab/net/bytes.hpp"
#include "pathlab/net/checksum.hpp"

using namespace pathlab;
using namespace plfuzz;

namespace {

uint16_t ones(uint16_t v) { return v == 0xffff ? 0 : v; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  ipim::HopValues h;
  h.router_id = r.u32();
  h.as = r.u32();
  h.evolution_offset = r.u32();
  h.avail_code = r.u16();
  h.cap_code = r.u16();
  h.queue_us = r.u32();
  h.level = r.u8();
  h.time_us = r.u32();
  const uint8_t arrival = r.u8();
  const bool sampled = (r.u8() & 1) != 0;
  const bool has_in = (r.u8() & 1) != 0;
  const uint32_t in = r.u32();
  const bool has_eg = (r.u8() & 1) != 0;
  uint8_t eg[4];
  const uint32_t eg_word = r.u32();
  std::memcpy(eg, &eg_word, 4);
  h.egress = has_eg ? eg : nullptr;
  const auto body = r.take(ipim::kIp4MaxLen);

  uint8_t a[ipim::kIp4MaxLen] = {}, b[ipim::kIp4MaxLen] = {};
  std::memcpy(a, body.data(), body.size());
  std::memcpy(b, body.data(), body.size());
  const ipim::Option oa{a, static_cast<unsigned>(body.size()), false};
  const ipim::Option ob{b, static_cast<unsigned>(body.size()), false};
  if (body.size() < 2) return 0;
  // The fast path's check agrees with Option::check on every length IPv4 allows.
  unsigned checked = 0;
  const bool well_formed = oa.check(checked) == ipim::Malformed::kNone;
  const int fast = body.size() > ipim::kOffAcc ? ipim::ip4_slots(a[ipim::kOffFlags], a[ipim::kOffAcc], oa.len) : -1;
  FUZZ_CHECK(fast == (well_formed ? static_cast<int>(checked) : -1), "ip4_slots {} vs check {} ({})", fast,
             well_formed ? static_cast<int>(checked) : -1, oa.len);
  if (!well_formed) return 0;

  uint8_t in_bytes[4];
  store_be32(in_bytes, in);
  ipim::HopPacket p;
  p.arrival_ttl = arrival;
  p.ingress = has_in ? in_bytes : nullptr;
  p.sampled = sampled;
  ipim::WordDelta d;
  ipim::accumulate(oa, h, d);
  const ipim::Stamped want = ipim::stamp(oa, h, p, d);

  unsigned slots = 0;
  FUZZ_CHECK(ob.check(slots) == ipim::Malformed::kNone && slots == oa.slots(), "check(slots) {} vs {}", slots,
             oa.slots());

  const ipim::Hop4Burst burst(h);
  uint64_t delta = 0;
  const uint64_t in_word = has_in ? uint64_t{get32(in_bytes)} : ipim::kNoIngressWord;
  const ipim::Stamped got = ipim::hop4(ob, slots, burst, arrival, sampled, [&] { return in_word; }, delta);

  FUZZ_CHECK(got == want, "stamped {} vs {}", int(got), int(want));
  FUZZ_CHECK(std::memcmp(a, b, sizeof a) == 0, "bytes differ");
  const uint16_t want_sum = csum::fold(d.sum), got_sum = rte_be_to_cpu_16(csum::fold64(delta));
  FUZZ_CHECK(ones(want_sum) == ones(got_sum), "checksum delta {:#x} vs {:#x}", want_sum, got_sum);
  return 0;
}
