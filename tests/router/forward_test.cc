// Forwarded bytes: IPv4 and IPv6 packets from H0 (on p0) leave byte for byte as scapy says they
// must: TTL / hop limit decremented, IPv4 header checksum valid and equal to a full
// recomputation (including the corner cases of the incremental update), source MAC = egress
// port MAC, destination MAC = the neighbour's MAC, Ethernet padding not forwarded.
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_ip.h>
#pragma GCC diagnostic pop

#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

std::vector<std::string> fwd_cases() {
  auto names = frame_names("fwd4_");
  const auto v6 = frame_names("fwd6_");
  names.insert(names.end(), v6.begin(), v6.end());
  return names;
}

Bytes mac_bytes(const rte_ether_addr& a) { return Bytes(a.addr_bytes, a.addr_bytes + 6); }

// Checks on the output frame that do not depend on scapy.
void check_rewrite(Lab& lab, const Bytes& in, const Bytes& out, uint8_t port) {
  ASSERT_GE(out.size(), 14u + 20u);
  EXPECT_EQ(Bytes(out.begin() + 6, out.begin() + 12), mac_bytes(lab.r().port(port).mac))
      << "source MAC is not the egress port's";
  const bool v4 = out[12] == 0x08 && out[13] == 0x00;
  if (v4) {
    const uint8_t* ip = out.data() + 14;
    const size_t ihl = (ip[0] & 0xf) * 4u;
    EXPECT_EQ(ip[8], in[14 + 8] - 1) << "TTL";
    EXPECT_EQ(rte_raw_cksum(ip, ihl), 0xffff) << "IPv4 header checksum does not verify";
    uint8_t hdr[60];
    std::memcpy(hdr, ip, ihl);
    hdr[10] = hdr[11] = 0;
    const uint16_t full = static_cast<uint16_t>(~rte_raw_cksum(hdr, ihl));
    uint16_t got;
    std::memcpy(&got, ip + 10, 2);
    EXPECT_EQ(got, full) << "checksum differs from a full recomputation";
    // The neighbour the router used is the one of the next hop.
    uint32_t nh = 0;
    Ip4Addr dst{uint32_t{ip[16]} << 24 | uint32_t{ip[17]} << 16 | uint32_t{ip[18]} << 8 | ip[19]};
    ASSERT_EQ(lab.r().lookup4(dst, nh), 0);
    const NextHop& hop = lab.r().nexthop(nh);
    const uint32_t ni =
        hop.kind == NextHop::Kind::Gateway ? hop.neigh : lab.r().neighbours().find(neigh_key4(port, dst));
    ASSERT_NE(ni, NeighbourTable::kNone);
    EXPECT_EQ(neigh_mac(lab.r().neighbours().at(ni).word.load()),
              to_string(MacAddr{{out[0], out[1], out[2], out[3], out[4], out[5]}}));
  } else {
    EXPECT_EQ(out[14 + 7], in[14 + 7] - 1) << "hop limit";
  }
}

TEST(Forward, BytesMatchScapy) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  const auto names = fwd_cases();
  ASSERT_GE(names.size(), 15u);
  Lab lab;
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const int port = frame_int(name);
    ASSERT_GE(port, 0);
    const Bytes in = frame(name);
    const Counts before = lab.counts();
    lab.rx(P0, in);
    const auto out = lab.tx(static_cast<uint8_t>(port));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(same_frame(out[0], frame(name, "out")));
    check_rewrite(lab, in, out[0], static_cast<uint8_t>(port));
    EXPECT_EQ(lab.tx_pending(), 0u);
    EXPECT_EQ(lab.ctrl_pending(), 0u);
    EXPECT_EQ(lab.delta(before), expect_rx(P0, 1, {{"tx", 1}, {"tx:p" + std::to_string(port), 1}}));
  }
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// The whole set as one burst: per-port order is arrival order.
TEST(Forward, OneBurst) {
  const auto names = fwd_cases();
  Lab lab;
  std::vector<Bytes> in;
  std::vector<std::vector<Bytes>> want(kPorts);
  for (const auto& n : names) {
    in.push_back(frame(n));
    want[frame_int(n)].push_back(frame(n, "out"));
  }
  lab.rx(P0, in);
  for (uint8_t p = 0; p < kPorts; ++p) {
    const auto out = lab.tx(p);
    ASSERT_EQ(out.size(), want[p].size()) << "p" << int{p};
    for (size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(same_frame(out[i], want[p][i])) << i;
  }
  const Counts d = lab.delta({});
  EXPECT_EQ(d.at("rx"), in.size());
  EXPECT_EQ(d.at("tx"), in.size());
  EXPECT_TRUE(lab.balanced());
}

// Byte counters follow what was received (padding included) and what was sent (padding trimmed).
TEST(Forward, ByteCounters) {
  Lab lab;
  const Bytes in = frame("fwd4_padded");
  const Bytes want = frame("fwd4_padded", "out");
  ASSERT_EQ(in.size(), 60u);
  ASSERT_EQ(want.size(), 42u);
  lab.rx(P0, in);
  ASSERT_EQ(lab.tx(P1).size(), 1u);
  const RouterTotals t = lab.dp().totals(lab.r());
  EXPECT_EQ(t.ports[0].rx_bytes, 60u);
  EXPECT_EQ(t.ports[1].tx_bytes, 42u);
}

// A full link ring: what does not fit is dropped as tx/full and the accounting still balances.
TEST(Forward, TxRingFull) {
  Lab lab;
  const Bytes in = frame("fwd4_udp");
  const Bytes want = frame("fwd4_udp", "out");
  rte_ring* ring = lab.r().port(1).tx_ring;
  const unsigned room = rte_ring_free_count(ring);
  ASSERT_GT(room, 0u);
  // Fill the ring with our own frames, leaving space for 2.
  std::vector<rte_mbuf*> filler;
  for (unsigned i = 0; i + 2 < room; ++i) filler.push_back(lab.mbuf(in));
  ASSERT_EQ(rte_ring_enqueue_burst(ring, reinterpret_cast<void**>(filler.data()),
                                   static_cast<unsigned>(filler.size()), nullptr),
            filler.size());
  lab.rx(P0, std::vector<Bytes>(5, in));
  const Counts d = lab.delta({});
  EXPECT_EQ(d, expect_rx(P0, 5, {{"tx", 2}, {"tx:p1", 2}, {"drop:tx/full", 3}}));
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), room);
  EXPECT_TRUE(same_frame(out.back(), want));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// Stage chains on the path: ingress stages of the rx port, egress stages of the tx port. Stage
// drops count under "<port>.<direction>[<i>].<reason>" and keep the accounting balanced.
TEST(Forward, ThroughStageChains) {
  Lab lab(
      LabOptions{.p0_ingress = "[count]", .p1_egress = "[count]", .p2_egress = "[count, drop]"});
  const Bytes to_p1 = frame("fwd4_udp");
  const Bytes to_p2 = frame("fwd4_tcp_df_tos");
  lab.rx(P0, {to_p1, to_p2, to_p1});
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& f : out) EXPECT_TRUE(same_frame(f, frame("fwd4_udp", "out")));
  EXPECT_EQ(lab.tx(P2).size(), 0u);
  const Counts d = lab.delta({});
  EXPECT_EQ(d.at("event:r1.p0.ingress.count.packets"), 3u);
  EXPECT_EQ(d.at("event:r1.p0.ingress.count.bytes"), 2 * to_p1.size() + to_p2.size());
  EXPECT_EQ(d.at("event:r1.p1.egress.count.packets"), 2u);
  EXPECT_EQ(d.at("event:r1.p2.egress.count.packets"), 1u);
  EXPECT_EQ(d.at("drop:r1.p2.egress.drop.configured"), 1u);
  EXPECT_EQ(d.at("tx"), 2u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// Link ends know each other statically: r1.p0 has h.a's link-local address and MAC.
TEST(Forward, LinkPeerIsStaticNeighbour) {
  Lab lab;
  const uint64_t w = lab.neigh6(P0, "fe80::70:6cff:fe01:1");  // h (router 1), port a (0)
  EXPECT_EQ(neigh_state(w), NeighState::Static);
  EXPECT_EQ(neigh_mac(w), "02:70:6c:01:00:01");
}

}  // namespace
}  // namespace pltest
