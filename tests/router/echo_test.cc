// Echo requests to the router's addresses (any port's, and the ingress port's link-local) are
// answered in place: addresses swapped, type set, TTL / hop limit 64, checksums right; the reply
// goes back to the requester. Compared byte for byte with scapy (gen_router_frames.py "echo*").
#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

void expect_reply(Lab& lab, const std::string& name) {
  SCOPED_TRACE(name);
  const int port = frame_int(name);
  ASSERT_GE(port, 0);
  const uint8_t p = static_cast<uint8_t>(port);
  const Counts before = lab.counts();
  lab.rx(p, frame(name));
  const auto out = lab.tx(p);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_frame(out[0], frame(name, "out")));
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_EQ(lab.ctrl_pending(), 0u);
  EXPECT_EQ(
      lab.delta(before),
      expect_rx(p, 1, {{"tx", 1}, {"tx:p" + std::to_string(port), 1}, {"event:echo_replies", 1}}));
}

TEST(Echo, Ipv4) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab;
  const auto names = frame_names("echo4");
  ASSERT_EQ(names.size(), 4u);
  for (const auto& n : names) expect_reply(lab, n);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

TEST(Echo, Ipv6) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab;
  const auto names = frame_names("echo6");
  ASSERT_EQ(names.size(), 5u);
  for (const auto& n : names) expect_reply(lab, n);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// Many requests in one burst, mixed with forwarded traffic: every one is answered, in order.
TEST(Echo, Burst) {
  Lab lab;
  std::vector<Bytes> in;
  for (int i = 0; i < 20; ++i) {
    in.push_back(frame(i % 2 ? "echo4" : "echo6"));
    in.push_back(frame("fwd4_udp"));
  }
  lab.rx(P0, in);
  const auto back = lab.tx(P0);
  ASSERT_EQ(back.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(same_frame(back[i], frame(i % 2 ? "echo4" : "echo6", "out"))) << i;
  }
  EXPECT_EQ(lab.tx(P1).size(), 20u);
  EXPECT_EQ(lab.event("echo_replies"), 20u);
  EXPECT_TRUE(lab.balanced());
}

}  // namespace
}  // namespace pltest
