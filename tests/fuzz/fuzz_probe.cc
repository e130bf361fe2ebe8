// Fuzz target: what pathlab-probe reads from the network and from captures (lib/ipim host
// library, no DPDK): the end-to-end block (e2e.cc), the IPIM option's fields and the options area
// (option_fields.cc), a captured IP packet (capture.cc), and the analysis of a run whose echoes
// carry those bytes (analysis.cc, nonce_loss.cc, json_writer.cc). A block it accepts encodes
// again to the same block; every report renders as text and JSON.
// Input: [mode] [rest]
//   mode 0: an e2e block; 1: an IPv4 options area; 2: an IPv6 Hop-by-Hop header; 3: an IP packet;
//   else: a run: [n probes][per echo: seq:32 nonce:32 sum:32 delay:16 ttl tos optlen option...].
#include <cstdint>

#include "common.hpp"
#include "pathlab/ipim/analysis.hpp"
#include "pathlab/ipim/capture.hpp"
#include "pathlab/ipim/e2e.hpp"
#include "pathlab/ipim/option_fields.hpp"

using namespace pathlab::ipim;
using plfuzz::Reader;

namespace {

void e2e(std::span<const uint8_t> payload) {
  const auto b = decode_e2e(payload);
  if (!b) return;
  const auto wire = encode_e2e(*b);
  const auto again = decode_e2e(wire);
  FUZZ_CHECK(again && again->seq == b->seq && again->nonce == b->nonce &&
                 again->rx_option == b->rx_option && again->hash == b->hash,
             "e2e round trip of {} bytes", wire.size());
  (void)e2e_json(&*b);
  (void)e2e_text(*b, "  ");
}

void area(std::span<const uint8_t> bytes, bool ip6) {
  bool truncated = false;
  const auto opt = find_option(bytes, ip6, &truncated);
  if (!opt) return;
  const OptionFields f = read_option(*opt, ip6);
  (void)option_json(f).str();
  (void)option_text(f, "  ");
}

void run(Reader& r) {
  Run run;
  run.ip6 = r.u8() & 1;
  run.ttl0 = r.u8();
  run.ttl_prime0 = r.u8();
  run.evolution0 = r.u32();
  run.coverage = r.u16();
  const unsigned probes = 1 + r.u8() % 32;
  for (unsigned i = 0; i < probes; ++i) {
    SentProbe p;
    p.seq = i;
    p.sent_us = 1'000'000 + uint64_t{i} * 10'000;
    p.nonce = 1000 * (i + 1);
    p.t = static_cast<uint32_t>(p.sent_us);
    p.option = build_option(OptionSpec{});
    run.probes.push_back(p);
  }
  while (r.left() >= 16 && run.echoes.size() < 64) {
    ReceivedEcho e;
    e.echo.type = kE2eEcho;
    e.echo.seq = r.u32();
    e.echo.nonce = r.u32();
    e.echo.nonce_sum = r.u32();
    const uint32_t delay = r.u16();
    e.echo.rx_ttl = r.u8();
    e.echo.rx_tos = r.u8();
    const auto opt = r.take(r.u8());
    e.echo.rx_option.assign(opt.begin(), opt.end());
    e.echo.t_echo = e.echo.seq < probes ? run.probes[e.echo.seq].t : 0;
    e.echo.delta = delay / 2;
    e.arrival_us = 1'000'000 + uint64_t{e.echo.seq % probes} * 10'000 + delay;
    run.echoes.push_back(e);
  }
  const Analysis a = analyse(run);
  (void)analysis_text(a);
  (void)analysis_json(a, &run);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  switch (r.u8()) {
    case 0:
      e2e(r.rest());
      break;
    case 1:
      area(r.rest(), false);
      break;
    case 2:
      area(r.rest(), true);
      break;
    case 3:
      if (const auto c = dissect_ip(r.rest())) {
        (void)captured_json(*c);
        (void)captured_text(*c);
      }
      break;
    default:
      run(r);
  }
  return 0;
}
