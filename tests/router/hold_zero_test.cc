// `process.neighbours.hold_packets: 0` ("0: drop while resolving", docs/config.md): a packet for
// an unresolved next hop is dropped (held_dropped) and resolution still runs.
// Regression test, in its own executable so that a crash cannot take the other tests down: before
// 0d82b88, Control::hold (lib/control/control.cc) freed n.held.front() of an empty queue when
// hold_packets was 0 (undefined behaviour; a segmentation fault).
#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

TEST(HoldQueueZero, PacketIsDroppedAndResolutionStillRuns) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.process_extra = "  neighbours: {hold_packets: 0}\n"});
  lab.rx(P0, frame("unres4"));
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 1, {{"consumed", 1}}));
  EXPECT_EQ(lab.poll(), 1u);
  const auto inj = lab.injected();
  ASSERT_EQ(inj.size(), 1u);
  EXPECT_EQ(inj[0].port, P1);
  EXPECT_TRUE(same_frame(inj[0].frame, frame("unres4_arp_request", "out")));
  EXPECT_EQ(lab.event("held_dropped"), 1u);
  // The answer resolves the neighbour; there is nothing to release.
  lab.rx(P1, frame("unres4_arp_reply"));
  lab.poll();
  EXPECT_TRUE(lab.injected().empty());
  EXPECT_EQ(neigh_state(lab.neigh4(P1, "10.0.1.9")), NeighState::Reachable);
  EXPECT_EQ(lab.event("held_released"), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

}  // namespace
}  // namespace pltest
