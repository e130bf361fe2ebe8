// FlowTable (include/pathlab/engine/shared.hpp): one creator per key, publication, removal and
// reuse, with and without RCU; and two lcores inserting the same keys at once.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/engine/shared.hpp"

namespace {

using pathlab::FlowTable;

class DpdkEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "pltest-flow-table-" + std::to_string(getpid());
    std::vector<std::string> args = {"t", "--no-huge", "-m", "256", "--no-pci", "-l", "0,1",
                                     "--no-telemetry", "--file-prefix", prefix, "--log-level", "*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init";
    pathlab::remove_runtime_dir_at_exit();
  }
  void TearDown() override { rte_eal_cleanup(); }
};
::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new DpdkEnv);

rte_rcu_qsbr* make_qsbr(unsigned threads) {
  auto* q = static_cast<rte_rcu_qsbr*>(rte_zmalloc("t_qsbr", rte_rcu_qsbr_get_memsize(threads), 64));
  if (q != nullptr) rte_rcu_qsbr_init(q, threads);
  return q;
}

void claims_once(FlowTable& t) {
  const uint64_t key = 42;
  bool created = false;
  const int32_t pos = t.insert(&key, created);
  ASSERT_GE(pos, 0);
  EXPECT_TRUE(created);
  EXPECT_FALSE(t.ready(pos));
  // Inserted again before it is published (another worker at the same moment): not ours.
  bool again = true;
  EXPECT_EQ(t.insert(&key, again), pos);
  EXPECT_FALSE(again);
  t.publish(pos);
  EXPECT_TRUE(t.ready(pos));
  EXPECT_EQ(t.insert(&key, again), pos);
  EXPECT_FALSE(again);
  EXPECT_TRUE(t.remove(&key));
  EXPECT_EQ(t.find(&key), -1);
  const int32_t back = t.insert(&key, again);
  ASSERT_GE(back, 0);
  EXPECT_TRUE(again) << "a removed key is created afresh";
}

TEST(FlowTable, OneCreatorPerKeyPlain) {
  FlowTable t("ft_plain", 64, sizeof(uint64_t), nullptr);
  claims_once(t);
}

TEST(FlowTable, OneCreatorPerKeyWithRcu) {
  rte_rcu_qsbr* q = make_qsbr(2);
  ASSERT_NE(q, nullptr);
  {
    FlowTable t("ft_rcu", 64, sizeof(uint64_t), q);
    claims_once(t);
  }
  rte_free(q);
}

struct Race {
  FlowTable* table;
  std::atomic<uint32_t>* go;
  std::atomic<uint64_t> created{0};
  uint32_t keys;
};

int insert_all(void* arg) {
  auto* r = static_cast<Race*>(arg);
  while (r->go->load(std::memory_order_acquire) == 0) {
  }
  uint64_t mine = 0;
  for (uint64_t k = 1; k <= r->keys; ++k) {
    bool created = false;
    if (r->table->insert(&k, created) >= 0 && created) ++mine;
  }
  r->created += mine;
  return 0;
}

// Both lcores insert the same keys in the same order at the same time: every key has exactly
// one creator.
TEST(FlowTable, TwoLcoresOneCreatorEach) {
  const unsigned worker = rte_get_next_lcore(-1, 1, 0);
  ASSERT_LT(worker, RTE_MAX_LCORE);
  rte_rcu_qsbr* q = make_qsbr(2);
  ASSERT_NE(q, nullptr);
  for (int round = 0; round < 5; ++round) {
    FlowTable t("ft_race" + std::to_string(round), 20'000, sizeof(uint64_t), q);
    std::atomic<uint32_t> go{0};
    Race a{&t, &go, {}, 20'000}, b{&t, &go, {}, 20'000};
    ASSERT_EQ(rte_eal_remote_launch(insert_all, &b, worker), 0);
    go.store(1, std::memory_order_release);
    insert_all(&a);
    rte_eal_wait_lcore(worker);
    EXPECT_EQ(a.created + b.created, 20'000u) << "round " << round;
    EXPECT_EQ(t.count(), 20'000u);
  }
  rte_free(q);
}

}  // namespace
