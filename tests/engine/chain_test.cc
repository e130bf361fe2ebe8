// Chain::run with the built-in count and drop stages (built through the StageRegistry, as the
// dataplane builds them) and test-only stages: verdict compaction keeps the passing packets in
// their original order, frees what was dropped (and only that), leaves taken packets alone,
// counts each drop under its stage and reason, and stops once a burst is empty.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_eal.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/config/error.hpp"
#include "pathlab/engine/batch.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab {
namespace {

rte_mempool* g_pool = nullptr;
constexpr unsigned kPoolSize = 1023;

class DpdkEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "pltest-engine-chain-" + std::to_string(getpid());
    std::vector<std::string> args = {"t",    "--no-huge",      "-m",
                                     "512",  "--no-pci",       "-l",
                                     "0,1",  "--no-telemetry", "--file-prefix",
                                     prefix, "--log-level",    "*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init";
    pathlab::remove_runtime_dir_at_exit();
    init_packet_view();
    // No per-lcore cache: the free count is exact after every free.
    g_pool = rte_pktmbuf_pool_create("chain_test", kPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     SOCKET_ID_ANY);
    ASSERT_NE(g_pool, nullptr);
  }
  void TearDown() override {
    rte_mempool_free(g_pool);
    rte_eal_cleanup();
  }
};
::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new DpdkEnv);

// ---- test-only stages ---------------------------------------------------------------------------

// Passes even positions; drops odd ones, alternating between two reasons (i % 4 == 1: "odd_a",
// i % 4 == 3: "odd_b"). Counts the packets it saw.
constexpr CounterDesc kAltDrops[] = {{"odd_a", "odd position, first kind"},
                                     {"odd_b", "odd position, second kind"}};
constexpr CounterDesc kAltActions[] = {{"seen", "packets seen"}};

class AlternateDrop final : public Stage {
 public:
  AlternateDrop() : Stage(kAltDrops, kAltActions) {}
  void process(Batch& b) override {
    ++calls;
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = i % 2 == 0 ? kPass : (i % 4 == 1 ? 1 : 2);
    }
    count_action(0, b.n);
  }
  unsigned calls = 0;
};

// Holds (kHeld) every third packet (i % 3 == 2); never releases them.
class TakeThird final : public Stage {
 public:
  TakeThird() : Stage({}, {}) {}
  void process(Batch& b) override {
    for (uint16_t i = 0; i < b.n; ++i) {
      if (i % 3 == 2) {
        b.verdict[i] = kHeld;
        taken.push_back(b.pkts[i]);
      } else {
        b.verdict[i] = kPass;
      }
    }
  }
  std::vector<rte_mbuf*> taken;
};

// ---- helpers ------------------------------------------------------------------------------------

std::unique_ptr<Stage> registered(const std::string& kind) {
  StageYaml spec;
  spec.kind = kind;
  spec.params = YAML::Node(YAML::NodeType::Map);
  spec.path = "t";
  const StageBuilder build = StageRegistry::instance().parse(spec, "t.yaml");
  return build(StageSite{"r1", "p0", false, 1500, 0});
}

// Packet i is 60 + i bytes long and carries i in its first two bytes.
struct Burst {
  Batch b;
  std::vector<rte_mbuf*> all;
  uint64_t bytes = 0;
  explicit Burst(uint16_t n) {
    b.n = n;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
      EXPECT_NE(m, nullptr);
      auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(60 + i)));
      std::memset(p, 0, 60 + i);
      p[0] = static_cast<uint8_t>(i >> 8);
      p[1] = static_cast<uint8_t>(i);
      b.pkts[i] = m;
      b.verdict[i] = 0xaa;  // garbage: every stage must write every verdict
      all.push_back(m);
      bytes += 60 + i;
    }
  }
  // The ids of the packets left in the batch, in order.
  std::vector<int> ids() const {
    std::vector<int> v;
    for (uint16_t i = 0; i < b.n; ++i) {
      const auto* p = rte_pktmbuf_mtod(b.pkts[i], const uint8_t*);
      v.push_back(p[0] << 8 | p[1]);
    }
    return v;
  }
  void free_left() {
    for (uint16_t i = 0; i < b.n; ++i) rte_pktmbuf_free(b.pkts[i]);
    b.n = 0;
  }
};

std::vector<int> range(int from, int to, int step = 1) {
  std::vector<int> v;
  for (int i = from; i < to; i += step) v.push_back(i);
  return v;
}

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override { free_ = rte_mempool_avail_count(g_pool); }
  void TearDown() override { EXPECT_EQ(rte_mempool_avail_count(g_pool), free_) << "mbuf leak"; }
  unsigned in_use() const { return free_ - rte_mempool_avail_count(g_pool); }
  unsigned free_ = 0;
};

// ---- tests --------------------------------------------------------------------------------------

TEST_F(ChainTest, RegistryDescribesTheBuiltInStages) {
  const StageInfo* count = StageRegistry::instance().find("count");
  ASSERT_NE(count, nullptr);
  EXPECT_TRUE(count->drops.empty());
  ASSERT_EQ(count->actions.size(), 2u);
  EXPECT_EQ(count->actions[0].name, "packets");
  EXPECT_EQ(count->actions[1].name, "bytes");
  const StageInfo* drop = StageRegistry::instance().find("drop");
  ASSERT_NE(drop, nullptr);
  ASSERT_EQ(drop->drops.size(), 1u);
  EXPECT_EQ(drop->drops[0].name, "configured");
  EXPECT_TRUE(drop->actions.empty());
  EXPECT_EQ(StageRegistry::instance().find("no_such_stage"), nullptr);

  StageYaml bad;
  bad.kind = "no_such_stage";
  EXPECT_THROW(StageRegistry::instance().parse(bad, "t.yaml"), ConfigError);
  StageYaml extra;
  extra.kind = "count";
  extra.params = YAML::Load("{colour: red}");
  extra.path = "t";
  EXPECT_THROW(StageRegistry::instance().parse(extra, "t.yaml"), ConfigError);
}

TEST_F(ChainTest, EmptyChainChangesNothing) {
  Chain chain;
  EXPECT_TRUE(chain.empty());
  Burst burst(8);
  chain.run(burst.b);
  EXPECT_EQ(burst.ids(), range(0, 8));
  burst.free_left();
}

TEST_F(ChainTest, CountPassesEverythingAndCounts) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(registered("count"));
  Chain chain(std::move(stages));
  const Stage& count = *chain.stages()[0];
  Burst burst(10);
  chain.run(burst.b);
  EXPECT_EQ(burst.ids(), range(0, 10));
  EXPECT_EQ(in_use(), 10u);
  EXPECT_EQ(count.action_count(0), 10u);
  EXPECT_EQ(count.action_count(1), burst.bytes);
  // Counters accumulate over bursts.
  Burst second(3);
  chain.run(second.b);
  EXPECT_EQ(count.action_count(0), 13u);
  EXPECT_EQ(count.action_count(1), burst.bytes + second.bytes);
  burst.free_left();
  second.free_left();
}

TEST_F(ChainTest, DropDropsEverythingAndFreesIt) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(registered("drop"));
  Chain chain(std::move(stages));
  Burst burst(10);
  chain.run(burst.b);
  EXPECT_EQ(burst.b.n, 0);
  EXPECT_EQ(in_use(), 0u);
  EXPECT_EQ(chain.stages()[0]->drop_count(0), 10u);
}

// count -> alternate -> count: the second count sees only the survivors, in order.
TEST_F(ChainTest, CompactionKeepsOrderAndCountsPerReason) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(registered("count"));
  stages.push_back(std::make_unique<AlternateDrop>());
  stages.push_back(registered("count"));
  Chain chain(std::move(stages));
  const auto& s = chain.stages();
  Burst burst(10);
  chain.run(burst.b);
  EXPECT_EQ(burst.ids(), range(0, 10, 2));
  EXPECT_EQ(in_use(), 5u) << "dropped packets are freed, kept ones are not";
  EXPECT_EQ(s[0]->action_count(0), 10u);
  EXPECT_EQ(s[1]->action_count(0), 10u);
  EXPECT_EQ(s[1]->drop_count(0), 3u);  // positions 1, 5, 9
  EXPECT_EQ(s[1]->drop_count(1), 2u);  // positions 3, 7
  EXPECT_EQ(s[2]->action_count(0), 5u);
  uint64_t kept_bytes = 0;
  for (int i : range(0, 10, 2)) kept_bytes += 60 + i;
  EXPECT_EQ(s[2]->action_count(1), kept_bytes);
  burst.free_left();
}

// The second instance sees the compacted burst: positions are counted afresh.
TEST_F(ChainTest, TwoDroppingStagesInARow) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<AlternateDrop>());
  stages.push_back(std::make_unique<AlternateDrop>());
  Chain chain(std::move(stages));
  const auto& s = chain.stages();
  Burst burst(10);
  chain.run(burst.b);
  // First: 0 2 4 6 8 survive. Second: positions 0, 2, 4 of those -> 0 4 8.
  EXPECT_EQ(burst.ids(), (std::vector<int>{0, 4, 8}));
  EXPECT_EQ(s[1]->drop_count(0), 1u);  // position 1: packet 2
  EXPECT_EQ(s[1]->drop_count(1), 1u);  // position 3: packet 6
  EXPECT_EQ(s[1]->action_count(0), 5u);
  EXPECT_EQ(in_use(), 3u);
  burst.free_left();
}

// Taken packets leave the burst but are not freed: the stage owns them.
TEST_F(ChainTest, TakenPacketsAreNotFreed) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<TakeThird>());
  stages.push_back(registered("count"));
  Chain chain(std::move(stages));
  auto& take = static_cast<TakeThird&>(*chain.stages()[0]);
  Burst burst(9);
  chain.run(burst.b);
  EXPECT_EQ(burst.ids(), (std::vector<int>{0, 1, 3, 4, 6, 7}));
  EXPECT_EQ(chain.stages()[1]->action_count(0), 6u);
  ASSERT_EQ(take.taken.size(), 3u);
  EXPECT_EQ(take.taken[0], burst.all[2]);
  EXPECT_EQ(take.taken[1], burst.all[5]);
  EXPECT_EQ(take.taken[2], burst.all[8]);
  EXPECT_EQ(in_use(), 9u);
  for (rte_mbuf* m : take.taken) {
    EXPECT_EQ(rte_mbuf_refcnt_read(m), 1);
    rte_pktmbuf_free(m);
  }
  burst.free_left();
}

// Once a burst is empty, later stages are not called.
TEST_F(ChainTest, StopsWhenTheBurstIsEmpty) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(registered("drop"));
  stages.push_back(std::make_unique<AlternateDrop>());
  stages.push_back(registered("count"));
  Chain chain(std::move(stages));
  const auto& alt = static_cast<const AlternateDrop&>(*chain.stages()[1]);
  Burst burst(4);
  chain.run(burst.b);
  EXPECT_EQ(burst.b.n, 0);
  EXPECT_EQ(alt.calls, 0u);
  EXPECT_EQ(chain.stages()[2]->action_count(0), 0u);
  Batch empty;
  empty.n = 0;
  chain.run(empty);
  EXPECT_EQ(chain.stages()[0]->drop_count(0), 4u);
}

// A full burst of kMaxBurst packets.
TEST_F(ChainTest, FullBurst) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<AlternateDrop>());
  stages.push_back(registered("count"));
  Chain chain(std::move(stages));
  Burst burst(kMaxBurst);
  chain.run(burst.b);
  EXPECT_EQ(burst.ids(), range(0, kMaxBurst, 2));
  EXPECT_EQ(chain.stages()[0]->drop_count(0), kMaxBurst / 4);
  EXPECT_EQ(chain.stages()[0]->drop_count(1), kMaxBurst / 4);
  EXPECT_EQ(chain.stages()[1]->action_count(0), kMaxBurst / 2);
  burst.free_left();
}

}  // namespace
}  // namespace pathlab
