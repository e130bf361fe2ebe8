// ARP and neighbour discovery through the control path: answers for the router's addresses,
// learning the requester, resolving an unknown next hop while its packets wait (bounded hold
// queue, retries, then ICMP host / address unreachable), and releasing the held packets with the
// resolved MAC. Frames and expected frames come from scapy (gen_router_frames.py).
#include <chrono>
#include <thread>

#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;
using Clock = std::chrono::steady_clock;

// Sends one frame that the router must hand to the control path, then polls once.
std::vector<Injected> to_control(Lab& lab, uint8_t port, const Bytes& f) {
  const Counts before = lab.counts();
  lab.rx(port, f);
  EXPECT_EQ(lab.delta(before), expect_rx(port, 1, {{"consumed", 1}}));
  EXPECT_EQ(lab.ctrl_pending(), 1u);
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_EQ(lab.poll(), 1u);
  EXPECT_EQ(lab.ctrl_pending(), 0u);
  return lab.injected();
}

void expect_one(const std::vector<Injected>& inj, const std::string& name, Lab& lab) {
  ASSERT_EQ(inj.size(), 1u);
  EXPECT_EQ(inj[0].router, lab.r().index);
  EXPECT_EQ(inj[0].port, frame_int(name));
  EXPECT_TRUE(same_frame(inj[0].frame, frame(name, "out")));
}

// ---- ARP ----------------------------------------------------------------------------------------

TEST(Arp, RequestForUsIsAnsweredAndRequesterLearnt) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab;
  expect_one(to_control(lab, P0, frame("arp_request_for_us")), "arp_request_for_us", lab);
  EXPECT_EQ(lab.event("arp_replies_sent"), 1u);
  const uint64_t w = lab.neigh4(P0, "10.0.0.7");
  EXPECT_EQ(neigh_state(w), NeighState::Reachable);
  EXPECT_EQ(neigh_mac(w), "02:00:00:00:a0:07");
  // Traffic to the requester now goes straight out, without the control path.
  lab.rx(P1, frame("learnt4_to_r7"));
  const auto out = lab.tx(P0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_frame(out[0], frame("learnt4_to_r7", "out")));
  EXPECT_EQ(lab.ctrl_pending(), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// The reply goes out through the worker's send_ctrl: on the port's ring, counted as ctrl_tx.
TEST(Arp, ReplyIsTransmittedByTheWorker) {
  Lab lab;
  lab.rx(P0, frame("arp_request_for_us"));
  lab.poll();
  EXPECT_EQ(lab.deliver_injected(), 1u);
  const auto out = lab.tx(P0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_frame(out[0], frame("arp_request_for_us", "out")));
  EXPECT_EQ(lab.delta({}),
            expect_rx(P0, 1, {{"consumed", 1}, {"ctrl_tx:p0", 1}, {"event:arp_replies_sent", 1}}));
  EXPECT_TRUE(lab.balanced());
}

// A request for an address that is not ours: no reply, and the sender is not learnt
// (RFC 826: only an existing entry is updated).
TEST(Arp, RequestForAnotherAddressIsIgnored) {
  Lab lab;
  EXPECT_TRUE(to_control(lab, P0, frame("arp_request_other")).empty());
  EXPECT_EQ(lab.neigh4(P0, "10.0.0.8"), 0u);
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 1, {{"consumed", 1}}));
  EXPECT_EQ(lab.in_use(), 0u);
}

// A static neighbour keeps its MAC whatever ARP says (here: a request from its address with
// another MAC, which is still answered).
TEST(Arp, StaticEntryIsNotOverwritten) {
  Lab lab;
  expect_one(to_control(lab, P0, frame("arp_request_spoof_h0")), "arp_request_spoof_h0", lab);
  const uint64_t w = lab.neigh4(P0, "10.0.0.2");
  EXPECT_EQ(neigh_state(w), NeighState::Static);
  EXPECT_EQ(neigh_mac(w), "02:00:00:00:a0:02");
}

// `neighbours.reachable_s` (docs/config.md): a learnt entry expires, and the next packet for it
// is resolved again. (Regression: before 0d82b88 nothing read nd_reachable_s.)
TEST(Arp, LearntEntryExpires) {
  Lab lab(LabOptions{.process_extra = "  neighbours: {reachable_s: 1}\n"});
  lab.rx(P0, frame("arp_request_for_us"));
  lab.poll();
  lab.injected();
  ASSERT_EQ(neigh_state(lab.neigh4(P0, "10.0.0.7")), NeighState::Reachable);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  lab.poll();
  EXPECT_NE(neigh_state(lab.neigh4(P0, "10.0.0.7")), NeighState::Reachable)
      << "learnt entry still reachable after reachable_s";
  // The next packet for R7 waits for a new ARP exchange, and goes out once R7 answers again.
  expect_one(to_control(lab, P1, frame("learnt4_to_r7")), "r7_arp_request", lab);
  expect_one(to_control(lab, P0, frame("r7_arp_reply")), "learnt4_to_r7", lab);
  EXPECT_EQ(neigh_state(lab.neigh4(P0, "10.0.0.7")), NeighState::Reachable);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// ---- resolution, per family ---------------------------------------------------------------------

struct Family {
  const char* tag;
  const char* pkt;          // a packet from H0 (p0) to the unresolved host U (p1); also _b, _c
  const char* solicit;      // the ARP request / NS the router sends
  const char* answer;       // U's ARP reply / NA (into p1)
  const char* unreachable;  // the ICMP error for H0 when U never answers
  const char* solicit_event;
  const char* u_ip;
  uint64_t (Lab::*neigh)(uint8_t, const std::string&);
};

const Family kV4{"v4",
                 "unres4",
                 "unres4_arp_request",
                 "unres4_arp_reply",
                 "unres4_host_unreachable",
                 "arp_requests_sent",
                 "10.0.1.9",
                 &Lab::neigh4};
const Family kV6{"v6",
                 "unres6",
                 "unres6_ns",
                 "unres6_na",
                 "unres6_addr_unreachable",
                 "nd_solicits_sent",
                 "2001:db8:1::9",
                 &Lab::neigh6};

class Resolve : public ::testing::TestWithParam<Family> {};

TEST_P(Resolve, HeldPacketIsReleasedWithTheResolvedMac) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  const Family& f = GetParam();
  Lab lab;
  const std::string pkt = f.pkt;
  // Forwarded towards an unresolved host: handed to the control path, which solicits.
  expect_one(to_control(lab, P0, frame(pkt)), f.solicit, lab);
  EXPECT_EQ(lab.event(f.solicit_event), 1u);
  EXPECT_EQ(neigh_state((lab.*f.neigh)(P1, f.u_ip)), NeighState::Incomplete);
  // No retry before retry_ms (1 s by default).
  lab.poll();
  EXPECT_TRUE(lab.injected().empty());
  // The answer releases the held packet with U's MAC.
  const Counts before = lab.counts();
  expect_one(to_control(lab, P1, frame(f.answer)), pkt, lab);
  EXPECT_EQ(lab.delta(before), expect_rx(P1, 1, {{"consumed", 1}, {"event:held_released", 1}}));
  const uint64_t w = (lab.*f.neigh)(P1, f.u_ip);
  EXPECT_EQ(neigh_state(w), NeighState::Reachable);
  EXPECT_EQ(neigh_mac(w), "02:00:00:00:a1:09");
  // Resolved: the next packet goes straight out.
  lab.rx(P0, frame(pkt + "_b"));
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_frame(out[0], frame(pkt + "_b", "out")));
  EXPECT_EQ(lab.ctrl_pending(), 0u);
  EXPECT_EQ(lab.event(f.solicit_event), 1u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// With retries: 2 and retry_ms: 50, two solicitations 50 ms apart, then (>= 100 ms after the
// first) the held packet comes back to its source as ICMP host / address unreachable, from the
// address of the port it arrived on; the error itself is sent through resolution (H0 is static).
TEST_P(Resolve, NoAnswerGivesHostUnreachable) {
  const Family& f = GetParam();
  Lab lab(LabOptions{.process_extra = "  neighbours: {retries: 2, retry_ms: 50}\n"});
  lab.rx(P0, frame(f.pkt));
  const auto t0 = Clock::now();
  std::vector<Injected> solicits;
  std::vector<Injected> errors;
  while (errors.empty() && Clock::now() - t0 < std::chrono::seconds(3)) {
    lab.poll();
    for (auto& i : lab.injected()) (i.port == P1 ? solicits : errors).push_back(std::move(i));
    if (errors.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto elapsed = Clock::now() - t0;
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_GE(elapsed, std::chrono::milliseconds(95));
  EXPECT_EQ(errors[0].port, P0);
  EXPECT_TRUE(same_frame(errors[0].frame, frame(f.unreachable, "out")));
  ASSERT_EQ(solicits.size(), 2u);
  for (const auto& s : solicits) EXPECT_TRUE(same_frame(s.frame, frame(f.solicit, "out")));
  EXPECT_EQ(lab.event(f.solicit_event), 2u);
  EXPECT_EQ(lab.event("icmp_host_unreachable"), 1u);
  EXPECT_EQ(lab.event("held_released"), 1u);  // the error, released to H0
  EXPECT_EQ(lab.event("held_dropped"), 0u);
  EXPECT_EQ(neigh_state((lab.*f.neigh)(P1, f.u_ip)), NeighState::Failed);
  // Nothing more happens afterwards.
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  lab.poll();
  EXPECT_TRUE(lab.injected().empty());
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// hold_packets: 2 and three packets waiting: the oldest is dropped (held_dropped), the other two
// are released in order.
TEST_P(Resolve, HoldQueueOverflowDropsTheOldest) {
  const Family& f = GetParam();
  Lab lab(LabOptions{.process_extra = "  neighbours: {hold_packets: 2}\n"});
  const std::string pkt = f.pkt;
  lab.rx(P0, {frame(pkt), frame(pkt + "_b"), frame(pkt + "_c")});
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 3, {{"consumed", 3}}));
  EXPECT_EQ(lab.poll(), 3u);
  expect_one(lab.injected(), f.solicit, lab);
  EXPECT_EQ(lab.event("held_dropped"), 1u);
  lab.rx(P1, frame(f.answer));
  lab.poll();
  const auto inj = lab.injected();
  ASSERT_EQ(inj.size(), 2u);
  EXPECT_EQ(inj[0].port, P1);
  EXPECT_EQ(inj[1].port, P1);
  EXPECT_TRUE(same_frame(inj[0].frame, frame(pkt + "_b", "out")));
  EXPECT_TRUE(same_frame(inj[1].frame, frame(pkt + "_c", "out")));
  EXPECT_EQ(lab.event("held_released"), 2u);
  EXPECT_EQ(lab.event("held_dropped"), 1u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Families, Resolve, ::testing::Values(kV4, kV6),
                         [](const auto& info) { return std::string(info.param.tag); });

// A route via a gateway that is not resolved: the router asks for the gateway, not for the
// destination, and releases the packet with the gateway's MAC.
TEST(Arp, UnresolvedGateway) {
  Lab lab(LabOptions{.static_h1 = false});
  expect_one(to_control(lab, P0, frame("unres_gw4")), "unres_gw4_arp_request", lab);
  expect_one(to_control(lab, P1, frame("unres_gw4_arp_reply")), "unres_gw4", lab);
  EXPECT_EQ(neigh_mac(lab.neigh4(P1, "10.0.1.2")), "02:00:00:00:a1:02");
  // Later packets through the gateway use the learnt MAC directly.
  lab.rx(P0, frame("unres_gw4"));
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_frame(out[0], frame("unres_gw4", "out")));
  EXPECT_TRUE(lab.balanced());
}

// ---- ND -----------------------------------------------------------------------------------------

// NS for the router's address: NA with Router, Solicited and Override set and the target
// link-layer address option; the soliciting host is learnt from its source link-layer option.
TEST(Nd, SolicitationForUsIsAnswered) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab;
  expect_one(to_control(lab, P0, frame("ns_for_us")), "ns_for_us", lab);
  EXPECT_EQ(lab.event("nd_adverts_sent"), 1u);
  const uint64_t w = lab.neigh6(P0, "2001:db8::7");
  EXPECT_EQ(neigh_state(w), NeighState::Reachable);
  EXPECT_EQ(neigh_mac(w), "02:00:00:00:a0:07");
  lab.rx(P1, frame("learnt6_to_r7"));
  const auto out = lab.tx(P0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_frame(out[0], frame("learnt6_to_r7", "out")));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

TEST(Nd, SolicitationForTheLinkLocalAddress) {
  Lab lab;
  expect_one(to_control(lab, P0, frame("ns_for_link_local")), "ns_for_link_local", lab);
  EXPECT_EQ(neigh_mac(lab.neigh6(P0, "fe80::7")), "02:00:00:00:a0:07");
}

// A unicast NS without a source link-layer option is answered to the frame's source MAC; with
// no option there is nothing to learn.
TEST(Nd, UnicastSolicitationWithoutSourceOption) {
  Lab lab;
  expect_one(to_control(lab, P0, frame("ns_unicast_no_slla")), "ns_unicast_no_slla", lab);
  EXPECT_EQ(lab.neigh6(P0, "2001:db8::7"), 0u);
}

// DAD probes (source ::), a bad checksum, and an NS for another address get no answer and
// create no entry.
TEST(Nd, IgnoredSolicitations) {
  Lab lab;
  for (const char* name : {"ns_dad", "ns_bad_checksum", "ns_other"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(to_control(lab, P0, frame(name)).empty());
  }
  EXPECT_EQ(lab.neigh6(P0, "2001:db8::7"), 0u);
  EXPECT_EQ(lab.neigh6(P0, "2001:db8::8"), 0u);
  EXPECT_EQ(lab.event("nd_adverts_sent"), 0u);
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 3, {{"consumed", 3}}));
  EXPECT_EQ(lab.in_use(), 0u);
}

// An echo request to the link-local address from an unknown link-local host: the reply goes
// back out of the same port and waits for ND (an NS from the link-local address).
TEST(Nd, LinkLocalEchoReplyWaitsForResolution) {
  Lab lab;
  lab.rx(P0, frame("llecho_request"));
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 1, {{"consumed", 1}, {"event:echo_replies", 1}}));
  EXPECT_EQ(lab.tx_pending(), 0u);
  lab.poll();
  expect_one(lab.injected(), "llecho_ns", lab);
  expect_one(to_control(lab, P0, frame("llecho_na")), "llecho_request", lab);
  EXPECT_EQ(neigh_mac(lab.neigh6(P0, "fe80::7")), "02:00:00:00:a0:07");
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

}  // namespace
}  // namespace pltest
