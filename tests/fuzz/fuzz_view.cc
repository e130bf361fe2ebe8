// Fuzz target: the packet view (net/view.hpp) after the router's input checks, and the option
// walks stages build on it (IPv4 options, IPv6 extension headers and their options, TCP options).
// Input: [flags] [frame]. flags: bit 0 Pool buffer (else Exact), bit 1 fix checksums, bit 2 trim
// Ethernet padding, bit 3 verify the IPv4 header checksum.
// Checks the view against the bytes: lengths within the IP packet, the IPv4 fields, an
// independent walk of the IPv6 extension chain, ports and flags, and that a second parse agrees.
#include <cstdint>
#include <cstring>

#include "common.hpp"
#include "pathlab/net/constants.hpp"
#include "pathlab/net/ip4_options.hpp"
#include "pathlab/net/ip6_ext.hpp"
#include "pathlab/net/tcp_options.hpp"
#include "pathlab/stages/packet.hpp"

using namespace pathlab;
using namespace plfuzz;

namespace {

// RFC 8200 4 as ip6_walk documents it, written independently: Hop-by-Hop only first, Routing and
// Destination Options (len + 1) * 8, AH (len + 2) * 4, Fragment 8 and the end for an offset != 0.
struct RefWalk {
  bool ok = false;
  bool fragment = false;
  uint8_t proto = 0;
  uint32_t off = 0;
};
RefWalk ref_walk(const uint8_t* ip, uint32_t len) {
  RefWalk r;
  uint8_t nh = ip[6];
  uint32_t off = 40;
  for (int guard = 0; guard < 100000; ++guard) {
    uint32_t hlen = 0;
    if (nh == 0 && off != 40) return r;
    if (nh == 44) r.fragment = true;
    if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44) {
      if (off + 8 > len) return r;
      hlen = nh == 44 ? 8 : nh == 51 ? (ip[off + 1] + 2u) * 4u : (ip[off + 1] + 1u) * 8u;
      if (off + hlen > len) return r;
      if (nh == 44 && ((ip[off + 2] << 8 | ip[off + 3]) >> 3) != 0) {
        r.ok = true;
        r.proto = 44;
        r.off = off;
        return r;
      }
      nh = ip[off];
      off += hlen;
      continue;
    }
    r.ok = true;
    r.proto = nh;
    r.off = off;
    return r;
  }
  FUZZ_CHECK(false, "reference walk did not end");
}

void check_view(rte_mbuf* m) {
  const StoredView s = stored_view(m);
  const auto* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, m->l2_len);
  const uint32_t avail = m->data_len - m->l2_len;
  FUZZ_CHECK(s.version == (m->packet_type == kPtype4 ? 4 : 6), "version {} for packet_type {:#x}", s.version,
             m->packet_type);
  FUZZ_CHECK(s.ip_len <= avail, "ip_len {} > {} bytes after L2", s.ip_len, avail);
  const bool l4 = s.flags & kViewL4;
  if (s.version == 4) {
    const uint32_t ihl = (l3[0] & 0xfu) * 4u;
    FUZZ_CHECK(s.ip_len == parse::load_be16(l3 + 2) && s.ip_len >= ihl && ihl >= 20, "IPv4 ip_len {} ihl {}",
               s.ip_len, ihl);
    FUZZ_CHECK(((s.flags & kViewIp4Options) != 0) == (ihl > 20), "options flag {:#x} ihl {}", s.flags, ihl);
    const uint16_t frag = parse::load_be16(l3 + 6);
    FUZZ_CHECK(((s.flags & kViewFragment) != 0) == ((frag & 0x3fff) != 0), "fragment flag {:#x} frag {:#x}",
               s.flags, frag);
    FUZZ_CHECK(((s.flags & kViewLaterFrag) != 0) == ((frag & 0x1fff) != 0), "later-fragment flag {:#x}",
               s.flags);
    FUZZ_CHECK(l4 == ((frag & 0x1fff) == 0), "l4 flag {:#x} frag {:#x}", s.flags, frag);
    if (l4) FUZZ_CHECK(s.l4_off == ihl, "l4_off {} ihl {}", s.l4_off, ihl);
    FUZZ_CHECK(s.proto == l3[9], "proto {} byte {}", s.proto, l3[9]);
    if (ihl > 20) {
      ip4opt::for_each(l3, [&](const ip4opt::Option& o) {
        FUZZ_CHECK(o.off >= 20 && o.off + o.len <= ihl && o.len >= 1, "IPv4 option at {} len {} ihl {}", o.off,
                   o.len, ihl);
        return true;
      });
    }
  } else {
    FUZZ_CHECK(s.ip_len == 40u + parse::load_be16(l3 + 4), "IPv6 ip_len {}", s.ip_len);
    const RefWalk r = ref_walk(l3, s.ip_len);
    FUZZ_CHECK(((s.flags & kViewBadChain) != 0) == !r.ok, "bad-chain flag {:#x}, reference ok {}", s.flags, r.ok);
    FUZZ_CHECK(((s.flags & kViewFragment) != 0) == r.fragment, "fragment flag {:#x}, reference {}", s.flags,
               r.fragment);
    FUZZ_CHECK(((s.flags & kViewIp6Ext) != 0) == parse::is_ip6_ext_header(l3[6]), "ext flag {:#x}", s.flags);
    if (r.ok) {
      FUZZ_CHECK(s.proto == r.proto, "proto {}, reference {}", s.proto, r.proto);
      FUZZ_CHECK(((s.flags & kViewLaterFrag) != 0) == (r.proto == 44), "later-fragment flag {:#x}", s.flags);
      FUZZ_CHECK(l4 == (r.proto != 44 && r.proto != 59), "l4 flag {:#x} proto {}", s.flags, r.proto);
      if (l4) FUZZ_CHECK(s.l4_off == r.off, "l4_off {}, reference {}", s.l4_off, r.off);
    } else {
      FUZZ_CHECK(!l4, "l4 on a bad chain");
    }
    bool opts = true;
    const ip6ext::Chain c = ip6ext::walk(l3, s.ip_len, [&](const ip6ext::Header& h) {
      FUZZ_CHECK(h.off >= 40 && h.off + h.len <= s.ip_len, "extension header at {} len {}", h.off, h.len);
      if (ip6ext::has_options(h.type)) {
        ip6ext::for_each_option(l3, h, [&](const ip6ext::Option& o) {
          FUZZ_CHECK(o.off >= h.off + 2 && o.off + o.len <= h.off + h.len, "IPv6 option at {} len {}", o.off,
                     o.len);
          return true;
        });
        opts = opts && ip6ext::options_valid(l3, h);
      }
      return true;
    });
    FUZZ_CHECK(c.ok == r.ok, "ip6ext::walk ok {} reference {}", c.ok, r.ok);
    (void)ip6ext::valid(l3, s.ip_len);
  }
  if (l4) {
    FUZZ_CHECK(s.l4_off <= s.ip_len, "l4_off {} > ip_len {}", s.l4_off, s.ip_len);
    FUZZ_CHECK(!(s.flags & (kViewLaterFrag | kViewBadChain)), "l4 with flags {:#x}", s.flags);
  }
  const uint32_t l4_len = l4 ? s.ip_len - s.l4_off : 0;
  const uint8_t* t = l3 + s.l4_off;
  if (s.flags & kViewTcpOk) {
    FUZZ_CHECK(l4 && s.proto == kProtoTcp && l4_len >= 20, "tcp_ok with l4_len {}", l4_len);
    const uint32_t doff = (t[12] >> 4) * 4u;
    FUZZ_CHECK(doff >= 20 && doff <= l4_len, "tcp_ok with data offset {} in {}", doff, l4_len);
    FUZZ_CHECK(s.tcp_flags == t[13], "tcp flags");
    tcpopt::OptionList ol;
    tcpopt::walk(const_cast<uint8_t*>(t), doff, ol);
    for (unsigned i = 0; i < ol.n; ++i) {
      FUZZ_CHECK(ol.opt[i].off >= 20 && ol.opt[i].off + ol.opt[i].len <= doff, "TCP option at {} len {}",
                 ol.opt[i].off, ol.opt[i].len);
    }
  } else {
    FUZZ_CHECK(!(l4 && s.proto == kProtoTcp && l4_len >= 20 && (t[12] >> 4) * 4u >= 20 &&
                 (t[12] >> 4) * 4u <= l4_len),
               "a whole TCP header without tcp_ok");
  }
  if (s.flags & kViewUdpOk) FUZZ_CHECK(l4 && s.proto == kProtoUdp && l4_len >= 8, "udp_ok with {}", l4_len);
  if (s.flags & (kViewTcpOk | kViewUdpOk)) {
    FUZZ_CHECK(s.sport == parse::load_be16(t) && s.dport == parse::load_be16(t + 2), "ports");
  } else {
    FUZZ_CHECK(s.sport == 0 && s.dport == 0, "ports without a transport header");
  }
  PktView v;
  FUZZ_CHECK(view_packet(m, v), "view_packet");
  FUZZ_CHECK(v.l3 + v.ip_len == v.l4 + v.l4_len || v.l4 == nullptr, "l4 + l4_len != l3 + ip_len");
  touch_view(m);
  (void)l4_cksum_valid(v);
  (void)l4_cover_len(v);
  // Parsing is a function of the bytes.
  parse_view(m);
  FUZZ_CHECK(same_view(s, stored_view(m)), "a second parse differs");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_eal();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t flags = r.u8();
  const auto body = r.rest();
  Bytes frame(body.begin(), body.end());
  if (flags & 2) fix_checksums(frame);
  rte_mbuf* m = make_packet(frame, (flags & 1) ? Buf::Pool : Buf::Exact);
  if (m == nullptr) return 0;
  const Input in = router_input(m, flags & 4, flags & 8);
  if (in.ip) {
    check_view(m);
  } else {
    FUZZ_CHECK(stored_view(m).version == 0, "a view for a frame the input checks refused");
  }
  check_guard(m, "view");
  rte_pktmbuf_free(m);
  end_iteration();
  return 0;
}
