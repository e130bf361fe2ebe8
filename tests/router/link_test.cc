// The link stage on a port's egress chain, in the router: accepted packets leave from drain()
// on schedule, on that port, with their L2 header written; tail drops are counted under the
// stage's path; the books balance while packets are held and after.
#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

TEST(Link, EgressLinkPacesDelaysAndTailDrops) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p1_egress = "[{stage: link, rate: 1mbit, queue: {packets: 2}, delay: 1ms}]"});
  ASSERT_TRUE(lab.r().holds_packets());
  const Bytes out = frame("fwd4_udp", "out");
  const Nanos ser = (out.size() + 24) * 8 * 1000;  // 1 Mbit/s: 1 us per bit
  lab.advance(5000);
  lab.rx(P0, {frame("fwd4_udp"), frame("fwd4_udp"), frame("fwd4_udp")});
  EXPECT_EQ(lab.r().held(), 2u);
  EXPECT_TRUE(lab.balanced());

  lab.advance(ser + 1'000'000 - 1);
  EXPECT_EQ(lab.drain(), 0u);
  lab.advance(1);
  EXPECT_EQ(lab.drain(), 1u);
  auto got = lab.tx(P1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same_frame(got[0], out));
  lab.advance(ser - 1);
  EXPECT_EQ(lab.drain(), 0u);
  lab.advance(1);
  EXPECT_EQ(lab.drain(), 1u);
  got = lab.tx(P1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same_frame(got[0], out));
  EXPECT_EQ(lab.r().held(), 0u);
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 3, {{"tx", 2},
                                             {"tx:p1", 2},
                                             {"drop:r1.p1.egress.link.queue_full", 1},
                                             {"event:r1.p1.egress.link.held", 2},
                                             {"event:r1.p1.egress.link.released", 2}}));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

}  // namespace
}  // namespace pltest
