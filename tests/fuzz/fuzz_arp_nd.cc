// Fuzz target: ARP and neighbour discovery (lib/control/control.cc), reached the way the
// dataplane reaches them: a frame arrives on a port of router r1 (Router::process: Ethernet and
// IP input hand ARP and ND to the control ring; anything else is forwarded, answered or dropped),
// then Control::poll() handles it, and what the control path injects is sent (Router::send_ctrl).
// The Dataplane is built, not launched (as tests/router/harness.cc does); neighbour entries
// persist across inputs, held packets are flushed after each.
// Input: [flags] [port] [frame]
//   flags: bit 0 Pool buffer (else Exact), bit 1 fix checksums, bit 2 destination MAC := the
//          port's, bit 3 source MAC := a peer's;
// Every frame sent must be a whole Ethernet frame with a valid IP header (and, when the input's
// checksums were valid, valid checksums throughout); every mbuf comes back to its pool.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common.hpp"
#include "pathlab/config/loader.hpp"
#include "pathlab/engine/dataplane.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/router/meta.hpp"

using namespace pathlab;
using namespace plfuzz;

namespace {

const char* const kConfig = R"(process:
  mbufs: 2047
  mbuf_cache: 0
routers:
  - id: r1
    ports:
      - {name: p0, mac: "02:00:00:00:01:00", ipv4: [10.0.0.1/24], ipv6: ["2001:db8::1/64"]}
      - {name: p1, mac: "02:00:00:00:01:01", ipv4: [10.0.1.1/24], ipv6: ["2001:db8:1::1/64"], mtu: 1280}
      - {name: p2, mac: "02:00:00:00:01:02", ipv4: [10.0.2.1/24, 10.9.0.1/16], ipv6: ["2001:db8:2::1/64"]}
    routes:
      - {prefix: 0.0.0.0/0, via: 10.0.2.254}
      - {prefix: "::/0", via: "2001:db8:2::fe"}
      - {prefix: 192.168.0.0/16, via: 10.0.1.2}
      - {prefix: 192.168.1.128/25, port: p2}
      - {prefix: "2001:db8:100::/48", via: "2001:db8:1::2"}
    neighbours:
      - {port: p0, ip: 10.0.0.2, mac: "02:00:00:00:a0:02"}
      - {port: p0, ip: "2001:db8::2", mac: "02:00:00:00:a0:02"}
      - {port: p2, ip: 10.0.2.254, mac: "02:00:00:00:a2:fe"}
  - id: h
    ports: [{name: a}, {name: b}, {name: c}]
links:
  - {name: l0, ends: [r1.p0, h.a]}
  - {name: l1, ends: [r1.p1, h.b]}
  - {name: l2, ends: [r1.p2, h.c]}
)";

std::unique_ptr<Dataplane> g_dp;
Router* g_r = nullptr;
unsigned g_base_in_use = 0;
Nanos g_now = 1'000'000'000ull;

bool g_fixed = false;  // this input's checksums were made valid

void check_tx(rte_mbuf* m) {
  FUZZ_CHECK(m->nb_segs == 1 && m->pkt_len == m->data_len, "sent: {} segments, pkt_len {} data_len {}",
             m->nb_segs, m->pkt_len, m->data_len);
  check_guard(m, "sent");
  const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const parse::L2 l2 = parse::ethernet(f, m->data_len);
  FUZZ_CHECK(l2.ok && l2.l2_len == 14, "sent a frame without an untagged Ethernet header");
  if (g_fixed) {
    check_generated(m, "sent");
    return;
  }
  const uint8_t* ip = f + 14;
  const uint32_t avail = m->data_len - 14u;
  if (l2.ether_type == parse::kEtherArp) {
    FUZZ_CHECK(avail >= 28, "ARP of {} bytes", avail);
  } else if (l2.ether_type == parse::kEtherIpv4) {
    FUZZ_CHECK(parse::ip4(ip, avail, true) == parse::Ip4Result::Ok && parse::load_be16(ip + 2) == avail,
               "sent a bad IPv4 packet");
  } else if (l2.ether_type == parse::kEtherIpv6) {
    FUZZ_CHECK(parse::ip6(ip, avail) == parse::Ip6Result::Ok && 40u + parse::load_be16(ip + 4) == avail,
               "sent a bad IPv6 packet");
  } else {
    FUZZ_CHECK(false, "sent EtherType {:#06x}", l2.ether_type);
  }
}

unsigned settle() {
  unsigned n = 0;
  const WorkerIo& io = g_dp->worker(0).io;
  for (int round = 0; round < 4; ++round) {
    g_dp->control().poll();
    rte_ring* inject = g_dp->worker(0).inject;
    rte_mbuf* m = nullptr;
    bool any = false;
    while (rte_ring_dequeue(inject, reinterpret_cast<void**>(&m)) == 0) {
      const PktMeta& md = meta(m);
      g_dp->routers()[md.router]->send_ctrl(io, md.out_port, &m, 1);
      any = true;
    }
    for (Router* r : g_dp->routers()) {
      for (uint8_t p = 0; p < r->port_count(); ++p) {
        rte_mbuf* pkts[64];
        unsigned k;
        while ((k = rte_ring_dequeue_burst(r->port(p).tx_ring, reinterpret_cast<void**>(pkts), 64, nullptr)) != 0) {
          for (unsigned i = 0; i < k; ++i) {
            check_tx(pkts[i]);
            rte_pktmbuf_free(pkts[i]);
          }
          n += k;
        }
      }
    }
    if (!any && rte_ring_count(io.ctrl) == 0) break;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_eal(2);
  g_dp = std::make_unique<Dataplane>(load_config_string(kConfig, "fuzz.yaml", {}));
  g_dp->build();
  g_r = g_dp->router("r1");
  g_base_in_use = rte_mempool_in_use_count(g_dp->pool());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t flags = r.u8();
  const uint8_t port = r.u8() % g_r->port_count();
  const auto body = r.rest();
  Bytes frame(body.begin(), body.end());
  if ((flags & 4) && frame.size() >= 6) std::memcpy(frame.data(), g_r->port(port).mac.addr_bytes, 6);
  if ((flags & 8) && frame.size() >= 12) {
    static const uint8_t peer[6] = {0x02, 0, 0, 0, 0xa0, 0x02};
    std::memcpy(frame.data() + 6, peer, 6);
  }
  g_fixed = flags & 2;
  if (g_fixed) fix_checksums(frame);
  rte_mbuf* m = make_packet(frame, (flags & 1) ? Buf::Pool : Buf::Exact);
  if (m == nullptr) return 0;
  g_now += 1'000'000;
  g_r->process(g_dp->worker(0).io, port, &m, 1, g_now);
  settle();
  g_dp->control().flush();
  settle();
  end_iteration();
  const unsigned in_use = rte_mempool_in_use_count(g_dp->pool());
  FUZZ_CHECK(in_use == g_base_in_use, "{} dataplane mbufs in use, {} before", in_use, g_base_in_use);
  return 0;
}
