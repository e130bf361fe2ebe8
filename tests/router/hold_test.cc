// Held and redirected packets, with stages registered by this test binary:
//   test_hold {delay_ns}   holds every packet and releases it from drain() once
//                          its burst's time + delay_ns has come (a link-emulation queue);
//   test_redirect {port}   sends every packet out of router port `port` (kRedirect).
// A held packet leaves only from drain(), with no traffic arriving, on the port it was routed
// to and with its L2 header written; until then the books count it as held. Replay drains too:
// between bursts at the capture's time, and everything after the last one.
#include <algorithm>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <utility>

#include "harness.hpp"
#include "pathlab/config/loader.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/replay/pcap.hpp"
#include "pathlab/replay/replay.hpp"

namespace pltest {
namespace {

using namespace pathlab;

class HoldStage final : public Stage {
 public:
  explicit HoldStage(Nanos delay) : Stage({}, {}), delay_(delay) {}
  ~HoldStage() override {
    for (const auto& h : queue_) rte_pktmbuf_free(h.first);
  }
  bool holds() const override { return true; }
  void process(Batch& b) override {
    for (uint16_t i = 0; i < b.n; ++i) {
      queue_.emplace_back(b.pkts[i], b.now + delay_);
      b.verdict[i] = kHeld;
    }
  }
  uint16_t drain(Nanos now, rte_mbuf** out, uint16_t room) override {
    uint16_t n = 0;
    while (n < room && !queue_.empty() && queue_.front().second <= now) {
      out[n++] = queue_.front().first;
      queue_.pop_front();
    }
    return n;
  }

 private:
  Nanos delay_;
  std::deque<std::pair<rte_mbuf*, Nanos>> queue_;  // packet, when it is due
};

class RedirectStage final : public Stage {
 public:
  explicit RedirectStage(uint8_t port) : Stage({}, {}), port_(port) {}
  void process(Batch& b) override {
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kRedirect;
      b.redirect_port[i] = port_;
    }
  }

 private:
  uint8_t port_;
};

// A test stage with one parameter `key` of type T; make(value) builds an instance.
template <typename T, typename Make>
StageInfo one_param_stage(const char* name, const char* help, const char* key, Make make) {
  return {.name = name,
          .help = help,
          .drops = {},
          .actions = {},
          .parse = [key, make](const StageYaml& spec, const std::string& file) -> StageBuilder {
            YamlMap m = stage_params(spec, file);
            m.only({"stage", key});
            const T value = m.get<T>(key);
            return [value, make](const StageSite&) { return make(value); };
          }};
}

const StageRegistration kHoldReg{one_param_stage<Nanos>(
    "test_hold", "test: hold every packet for delay_ns", "delay_ns",
    [](Nanos delay) { return std::make_unique<HoldStage>(delay); })};
const StageRegistration kRedirectReg{one_param_stage<uint8_t>(
    "test_redirect", "test: redirect every packet to router port `port`", "port",
    [](uint8_t port) { return std::make_unique<RedirectStage>(port); })};

constexpr Nanos kDelay = 1000;

TEST(Hold, EgressStageHoldsUntilDrainReleasesOnItsPort) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p1_egress = "[{stage: test_hold, delay_ns: " + std::to_string(kDelay) + "}]"});
  ASSERT_TRUE(lab.r().holds_packets());
  const std::vector<Bytes> burst = {frame("fwd4_udp"), frame("fwd6_udp"), frame("fwd4_udp")};
  lab.advance(5000);
  lab.rx(P0, burst);
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_EQ(lab.r().held(), 3u);
  EXPECT_EQ(lab.event("r1.p1.egress.test_hold.held"), 3u);
  EXPECT_TRUE(lab.balanced());

  lab.advance(kDelay - 1);
  EXPECT_EQ(lab.drain(), 0u);
  EXPECT_EQ(lab.tx_pending(), 0u);

  lab.advance(1);
  EXPECT_EQ(lab.drain(), 3u);
  EXPECT_EQ(lab.r().held(), 0u);
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(same_frame(out[0], frame("fwd4_udp", "out")));
  EXPECT_TRUE(same_frame(out[1], frame("fwd6_udp", "out")));
  EXPECT_TRUE(same_frame(out[2], frame("fwd4_udp", "out")));
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 3, {{"tx", 3},
                                             {"tx:p1", 3},
                                             {"event:r1.p1.egress.test_hold.held", 3},
                                             {"event:r1.p1.egress.test_hold.released", 3}}));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// Traffic to other ports is not held; drain(kForever) releases what is not due yet.
TEST(Hold, OtherPortsPassAndForeverReleasesEverything) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p1_egress = "[{stage: test_hold, delay_ns: 1000000}]"});
  lab.rx(P0, {frame("fwd4_udp"), frame("fwd4_tcp_df_tos")});  // to p1 (H1), to p2 (default)
  const auto to_p2 = lab.tx(P2);
  ASSERT_EQ(to_p2.size(), 1u);
  EXPECT_TRUE(same_frame(to_p2[0], frame("fwd4_tcp_df_tos", "out")));
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.r().drain(lab.io(), kForever), 1u);
  const auto to_p1 = lab.tx(P1);
  ASSERT_EQ(to_p1.size(), 1u);
  EXPECT_TRUE(same_frame(to_p1[0], frame("fwd4_udp", "out")));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// The frame as it arrived, with the L2 header of port p1 towards H1: a redirected packet skips
// the route lookup and the TTL decrement.
Bytes redirected_to_h1(Bytes f) {
  const uint8_t head[12] = {0x02, 0x00, 0x00, 0x00, 0xa1, 0x02,   // H1
                            0x02, 0x00, 0x00, 0x00, 0x01, 0x01};  // r1.p1
  std::copy(head, head + 12, f.begin());
  return f;
}

TEST(Redirect, IngressStageSendsOutOfAnotherPortAsConnected) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p0_ingress = "[{stage: test_redirect, port: 1}]"});
  lab.rx(P0, {frame("fwd4_udp"), frame("fwd6_udp")});
  const auto out = lab.tx(P1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(same_frame(out[0], redirected_to_h1(frame("fwd4_udp"))));
  EXPECT_TRUE(same_frame(out[1], redirected_to_h1(frame("fwd6_udp"))));
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

TEST(Redirect, ToAPortTheRouterDoesNotHaveIsDropped) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab(LabOptions{.p0_ingress = "[{stage: test_redirect, port: 7}]"});
  lab.rx(P0, {frame("fwd4_udp"), frame("fwd6_udp")});
  EXPECT_EQ(lab.tx_pending(), 0u);
  EXPECT_EQ(lab.delta({}), expect_rx(P0, 2, {{"drop:stage/bad_redirect", 2}}));
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// r1 of the lab with device ports, so that replay writes what p1 sends to a file.
std::string replay_yaml(const std::string& p1_egress) {
  return "process: {burst: 4}\n"
         "routers:\n"
         "  - id: r1\n"
         "    ports:\n"
         "      - {name: p0, device: net_null0, mac: \"02:00:00:00:01:00\", ipv4: [10.0.0.1/24],"
         " ipv6: [\"2001:db8::1/64\"]}\n"
         "      - {name: p1, device: net_null1, mac: \"02:00:00:00:01:01\", ipv4: [10.0.1.1/24],"
         " ipv6: [\"2001:db8:1::1/64\"], egress: " + p1_egress + "}\n"
         "    neighbours:\n"
         "      - {port: p1, ip: 10.0.1.2, mac: \"02:00:00:00:a1:02\"}\n";
}

// Ten packets 1 us apart in bursts of four, held 2.5 us on r1.p1's egress: each burst is
// released by the drain before the next one, the last by the drain after the capture ends.
TEST(Hold, ReplayReleasesHeldPackets) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  char dir[] = "/tmp/pathlab-hold-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string in = std::string(dir) + "/in.pcap";
  const Bytes f = frame("fwd4_udp");
  constexpr int kPackets = 10;
  {
    PcapWriter w(in, true);
    for (int i = 0; i < kPackets; ++i) w.write(1'000'000'000 + 1000 * uint64_t(i), f);
    w.close();
  }
  ReplayOptions opt;
  opt.in = in;
  opt.out = std::string(dir) + "/out.pcap";
  opt.threads = 2;
  opt.chunk = 4;
  opt.json = true;
  const Config cfg = load_config_string(replay_yaml("[{stage: test_hold, delay_ns: 2500}]"), "t.yaml", {});
  EXPECT_TRUE(run_replay(cfg, opt).balanced) << "accounting does not balance";
  PcapReader r(replay_output_path(opt.out, "r1", "p1"));
  PcapRecord rec;
  int n = 0;
  for (; r.next(rec); ++n) {
    EXPECT_EQ(rec.ts_ns, 1'000'000'000 + 1000 * uint64_t(n));
    EXPECT_TRUE(same_frame(Bytes(rec.frame.begin(), rec.frame.end()), frame("fwd4_udp", "out")));
  }
  EXPECT_EQ(n, kPackets);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pltest
