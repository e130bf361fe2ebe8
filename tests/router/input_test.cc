// Input checks: every malformed or unwanted frame (built by scapy, gen_router_frames.py "bad_*")
// increments exactly its own drop counter, nothing is sent, and rx = tx + drops + consumed.
#include <cstring>

#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

TEST(InputChecks, EachReasonCountsOnce) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  const auto names = frame_names("bad_");
  ASSERT_GE(names.size(), 35u);
  Lab lab;
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const std::string reason = frame_str(name, "drop");
    ASSERT_FALSE(reason.empty());
    const Counts before = lab.counts();
    lab.rx(P0, frame(name));
    EXPECT_EQ(lab.delta(before), expect_rx(P0, 1, {{"drop:" + reason, 1}}));
    EXPECT_EQ(lab.tx_pending(), 0u);
    EXPECT_EQ(lab.ctrl_pending(), 0u);
    EXPECT_TRUE(lab.balanced());
  }
  EXPECT_EQ(lab.in_use(), 0u);
}

// All of them in one burst, interleaved with good packets that must still be forwarded.
TEST(InputChecks, OneBurstWithGoodPackets) {
  const auto names = frame_names("bad_");
  Lab lab;
  std::vector<Bytes> in;
  Counts want;
  for (const auto& name : names) {
    in.push_back(frame(name));
    want["drop:" + frame_str(name, "drop")] += 1;
    in.push_back(frame("fwd4_udp"));
  }
  want = expect_rx(P0, in.size(), want);
  want["tx"] = names.size();
  want["tx:p1"] = names.size();
  lab.rx(P0, in);
  EXPECT_EQ(lab.delta({}), want);
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), names.size());
  for (const auto& f : out) EXPECT_TRUE(same_frame(f, frame("fwd4_udp", "out")));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// RFC 4291 2.5.3: a packet from ::1 is never forwarded; drops.hpp counts it as ip6/bad_source.
// (Regression: before 0d82b88 Router::input checked only for a multicast source.)
TEST(InputChecks, Ip6LoopbackSource) {
  Lab lab;
  lab.rx(P0, frame("lo6_src_loopback"));
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 1, {{"drop:ip6/bad_source", 1}}));
  EXPECT_EQ(lab.tx(P1).size(), 0u) << "a packet from ::1 was forwarded";
  EXPECT_TRUE(lab.balanced());
}

// RFC 4291 2.5.6: routers must not forward a packet with a link-local source to another link;
// drops.hpp counts it as ip6/link_local. (Regression: before 0d82b88 Router::forward6 checked
// only the destination's scope.)
TEST(InputChecks, Ip6LinkLocalSourceIsNotForwarded) {
  Lab lab;
  lab.rx(P0, frame("lo6_src_link_local"));
  EXPECT_EQ(lab.tx(P1).size(), 0u) << "a packet from a link-local source left its link";
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 1, {{"drop:ip6/link_local", 1}}));
  EXPECT_TRUE(lab.balanced());
}

// A frame spread over two mbufs is refused (eth/multi_segment).
TEST(InputChecks, MultiSegment) {
  Lab lab;
  const Bytes f = frame("fwd4_udp");
  rte_mbuf* head = lab.mbuf(Bytes(f.begin(), f.begin() + 34));
  rte_mbuf* tail = lab.mbuf(Bytes(f.begin() + 34, f.end()));
  ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
  lab.rx_mbufs(P0, {head});
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 1, {{"drop:eth/multi_segment", 1}}));
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// The drop counters named in drops.hpp are all reported, by their names.
TEST(InputChecks, EveryDropReasonIsReported) {
  Lab lab;
  const RouterTotals t = lab.dp().totals(lab.r());
  ASSERT_GE(t.drops.size(), static_cast<size_t>(Drop::Count));
  for (size_t i = 0; i < static_cast<size_t>(Drop::Count); ++i) {
    EXPECT_EQ(t.drops[i].first, kDropDescs[i].name);
    EXPECT_EQ(t.drops[i].second, 0u);
  }
}

}  // namespace
}  // namespace pltest
