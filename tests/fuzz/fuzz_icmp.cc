// Fuzz target: ICMP / ICMPv6 error building and quoting (icmp::make_ip4_error, make_ip6_error)
// and echo replies (make_ip4_echo_reply, make_ip6_echo_reply), on any frame, with any l2_len.
// Input: [flags] [type] [code] [rest:32] [l2] [split] [frame]
//   flags: bit 0 Exact buffer (else Pool: a direct mbuf, which can grow into its headroom),
//          bit 1 fix checksums, bit 2 IPv6, bit 3 two segments (split after `split` bytes),
//          bit 4 echo reply instead of an error, bit 5 l2_len = the `l2` byte % 80 (else what
//          parse::ethernet finds);
// A refusal must leave the mbuf as it was; an error must be [L2][minimal IP][ICMP][quote] with
// every length and checksum right, the quote a prefix of the original IP packet within 576 /
// 1280 bytes; an echo reply keeps its length and its valid checksums.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.hpp"
#include "pathlab/net/icmp.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/stages/packet.hpp"

using namespace pathlab;
using namespace plfuzz;

namespace {

const Ip4Addr kSrc4{0x0a000001};
const Ip6Addr kSrc6 = *parse_ip6("2001:db8::1");

Bytes bytes_of(const rte_mbuf* m) {
  Bytes b(rte_pktmbuf_pkt_len(m));
  if (b.empty()) return b;
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(b.size()), b.data());
  if (p != nullptr && p != b.data()) std::memcpy(b.data(), p, b.size());
  return b;
}

void check_error(rte_mbuf* m, const Bytes& orig, uint16_t l2_len, bool v6, uint8_t type, uint8_t code,
                 uint32_t rest) {
  FUZZ_CHECK(m->nb_segs == 1 && m->pkt_len == m->data_len, "error: {} segments, pkt_len {} data_len {}",
             m->nb_segs, m->pkt_len, m->data_len);
  check_guard(m, "error");
  const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = m->data_len;
  FUZZ_CHECK(std::memcmp(f, orig.data(), l2_len) == 0, "L2 header changed");
  const uint8_t* ip = f + l2_len;
  const uint8_t* oip = orig.data() + l2_len;
  const uint32_t avail = static_cast<uint32_t>(orig.size()) - l2_len;
  if (!v6) {
    const uint32_t total = parse::load_be16(oip + 2);
    const uint32_t quote = std::min({avail, total, uint32_t{icmp::kIp4ErrorMax} - 28});
    FUZZ_CHECK(len == l2_len + 28u + quote, "IPv4 error of {} bytes, quote {}", len, quote);
    FUZZ_CHECK(parse::ip4(ip, len - l2_len, true) == parse::Ip4Result::Ok, "IPv4 error header");
    FUZZ_CHECK(parse::load_be16(ip + 2) == len - l2_len && ip[0] == 0x45 && ip[9] == 1, "IPv4 error fields");
    FUZZ_CHECK(parse::load_be32(ip + 12) == kSrc4.v && std::memcmp(ip + 16, oip + 12, 4) == 0, "addresses");
    FUZZ_CHECK(ip[20] == type && ip[21] == code && parse::load_be32(ip + 24) == rest, "ICMP type/code/rest");
    FUZZ_CHECK(csum::sum(ip + 20, 8 + quote) == 0xffff, "ICMP checksum");
    FUZZ_CHECK(std::memcmp(ip + 28, oip, quote) == 0, "quote differs from the original packet");
  } else {
    const uint32_t total = 40u + parse::load_be16(oip + 4);
    const uint32_t quote = std::min({avail, total, uint32_t{icmp::kIp6ErrorMax} - 48});
    FUZZ_CHECK(len == l2_len + 48u + quote, "IPv6 error of {} bytes, quote {}", len, quote);
    FUZZ_CHECK(parse::ip6(ip, len - l2_len) == parse::Ip6Result::Ok, "IPv6 error header");
    FUZZ_CHECK(40u + parse::load_be16(ip + 4) == len - l2_len && ip[6] == 58, "IPv6 error fields");
    FUZZ_CHECK(std::memcmp(ip + 8, kSrc6.b.data(), 16) == 0 && std::memcmp(ip + 24, oip + 8, 16) == 0,
               "addresses");
    FUZZ_CHECK(ip[40] == type && ip[41] == code && parse::load_be32(ip + 44) == rest, "ICMPv6 type/code/rest");
    PktView v;
    v.l3 = const_cast<uint8_t*>(ip);
    v.version = 6;
    v.proto = 58;
    v.ip_len = len - l2_len;
    v.l4 = v.l3 + 40;
    v.l4_off = 40;
    v.l4_len = v.ip_len - 40;
    FUZZ_CHECK(l4_cksum_valid(v), "ICMPv6 checksum");
    FUZZ_CHECK(std::memcmp(ip + 48, oip, quote) == 0, "quote differs from the original packet");
  }
}

// ICMP (v4: over the message; v6: with the pseudo-header) and IPv4 header checksums, when the
// packet has a view.
struct Sums {
  bool ip4 = false, l4 = false;
};
Sums sums(rte_mbuf* m) {
  Sums s;
  PktView v;
  if (!view_packet(m, v)) return s;
  if (v.version == 4) {
    s.ip4 = csum::sum(v.l3, (v.l3[0] & 0xfu) * 4u) == 0xffff;
    s.l4 = v.l4 != nullptr && csum::sum(v.l4, v.l4_len) == 0xffff;
  } else {
    s.l4 = l4_cksum_valid(v);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_eal();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t flags = r.u8();
  const uint8_t type = r.u8();
  const uint8_t code = r.u8();
  const uint32_t rest = r.u32();
  const uint8_t l2b = r.u8();
  const uint8_t split = r.u8();
  const auto body = r.rest();
  Bytes frame(body.begin(), body.end());
  if (flags & 2) fix_checksums(frame);
  const Buf mode = (flags & 1) ? Buf::Exact : Buf::Pool;
  rte_mbuf* m = (flags & 8) ? make_chain(frame, split, mode) : make_packet(frame, mode);
  if (m == nullptr) return 0;
  const bool v6 = flags & 4;
  if (flags & 16) {
    // As the router does it: after the input checks, on a packet for one of its addresses.
    const Input in = router_input(m, true, true);
    const uint32_t len_before = m->pkt_len;
    const Sums before = sums(m);
    if (v6) {
      icmp::make_ip6_echo_reply(m, in.l2_len);
    } else {
      icmp::make_ip4_echo_reply(m, in.l2_len);
    }
    FUZZ_CHECK(m->pkt_len == len_before, "echo reply changed the length {} -> {}", len_before, m->pkt_len);
    if (in.ip) {
      parse_view(m);
      const Sums after = sums(m);
      FUZZ_CHECK(!before.ip4 || after.ip4, "echo reply broke the IPv4 header checksum");
      FUZZ_CHECK(!before.l4 || after.l4, "echo reply broke the ICMP checksum");
    }
  } else {
    uint16_t l2_len;
    if (flags & 32) {
      l2_len = l2b % 80;
    } else {
      const parse::L2 l2 = parse::ethernet(frame.data(), static_cast<uint32_t>(frame.size()));
      l2_len = l2.ok ? l2.l2_len : 14;
    }
    const Bytes orig = bytes_of(m);
    const uint16_t off_before = m->data_off;
    const uint16_t segs_before = m->nb_segs;
    const icmp::Refuse why = v6 ? icmp::make_ip6_error(m, l2_len, type, code, rest, kSrc6)
                                : icmp::make_ip4_error(m, l2_len, type, code, rest, kSrc4);
    if (why == icmp::Refuse::None) {
      check_error(m, orig, l2_len, v6, type, code, rest);
    } else {
      FUZZ_CHECK(m->data_off == off_before && m->nb_segs == segs_before && bytes_of(m) == orig,
                 "refused ({}) but the mbuf changed", icmp::name(why));
    }
  }
  rte_pktmbuf_free(m);
  end_iteration();
  return 0;
}
