// Fuzz target: pathlab-natprobe's STUN decoder (lib/natprobe/stun.cc). A message it accepts must
// encode again to one it accepts with the same contents, and the server's answer to it must
// decode too. No DPDK.
// Input: a STUN message.
#include <cstdint>

#include "common.hpp"
#include "pathlab/natprobe/server.hpp"
#include "pathlab/natprobe/stun.hpp"

using namespace pathlab::natprobe;

namespace {

bool same(const Message& a, const Message& b) {
  return a.type == b.type && a.txid == b.txid && a.mapped == b.mapped && a.xor_mapped == b.xor_mapped &&
         a.response_origin == b.response_origin && a.other_address == b.other_address &&
         a.change_request == b.change_request && a.response_port == b.response_port &&
         a.padding == b.padding && a.error == b.error && a.unknown_attributes == b.unknown_attributes &&
         a.software == b.software && a.fingerprint == b.fingerprint;
}

const ServerAddresses kServer = server_addresses(*parse_ip("192.0.2.1", 0), *parse_ip("192.0.2.2", 0), 3478, 3479);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Decoded d = decode({data, size});
  FUZZ_CHECK(d.msg.has_value() != !d.error.empty(), "a message xor an error: '{}'", d.error);
  if (!d.msg) return 0;
  const auto wire = encode(*d.msg);
  FUZZ_CHECK(wire.size() <= size, "re-encoded {} bytes from {}", wire.size(), size);
  const Decoded again = decode(wire);
  FUZZ_CHECK(again.msg && same(*again.msg, *d.msg), "round trip: {}", again.error);
  const Endpoint from = *parse_ip(size % 2 ? "2001:db8::7" : "203.0.113.7", 40000);
  if (const auto ans = answer(*d.msg, from, data[size - 1] & 1, data[size - 1] >> 1 & 1, kServer)) {
    const auto out = encode(ans->msg);
    const Decoded back = decode(out);
    FUZZ_CHECK(back.msg && back.msg->txid == d.msg->txid, "the answer: {}", back.error);
  }
  return 0;
}
