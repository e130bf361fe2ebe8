// tcp_seq across workers: two instances of one stage on two threads share the router's flow table
// (engine/shared.hpp). Worker 0 sees only the clients' segments, worker 1 only the servers', both
// at once; every flow's SEQ, ACK and checksums must come out as if one instance saw both ways.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_tcp.h>

#include "harness.hpp"
#include "pathlab/engine/shared.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {
namespace {

constexpr uint32_t kFlows = 600;
constexpr int kRounds = 20;
constexpr uint16_t kBurst = 32;

struct Seg {
  uint32_t seq, ack;
  uint8_t flags;
};

// 10.0.0.2:(10000+i) <-> 192.0.2.1:80, 10 bytes of payload on data segments.
Bytes segment(uint32_t flow, bool from_client, const Seg& s) {
  const uint16_t payload = (s.flags & 0x02) ? 0 : 10;
  Bytes f(14 + 20 + 20 + payload, 0);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[2] = 0;
  ip[3] = static_cast<uint8_t>(40 + payload);
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t client[4] = {10, 0, 0, 2}, server[4] = {192, 0, 2, 1};
  std::memcpy(ip + 12, from_client ? client : server, 4);
  std::memcpy(ip + 16, from_client ? server : client, 4);
  uint8_t* t = ip + 20;
  const uint16_t cport = static_cast<uint16_t>(10000 + flow);
  const uint16_t sp = from_client ? cport : 80, dp = from_client ? 80 : cport;
  t[0] = static_cast<uint8_t>(sp >> 8);
  t[1] = static_cast<uint8_t>(sp);
  t[2] = static_cast<uint8_t>(dp >> 8);
  t[3] = static_cast<uint8_t>(dp);
  const uint32_t seq = rte_cpu_to_be_32(s.seq), ack = rte_cpu_to_be_32(s.ack);
  std::memcpy(t + 4, &seq, 4);
  std::memcpy(t + 8, &ack, 4);
  t[12] = 0x50;
  t[13] = s.flags;
  t[14] = 0xff;
  auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
  h->hdr_checksum = rte_ipv4_cksum(h);
  reinterpret_cast<rte_tcp_hdr*>(t)->cksum = rte_ipv4_udptcp_cksum(h, t);
  return f;
}

struct Seen {
  uint32_t seq, ack;
  bool cksum_ok;
};

// One burst through `stage`; what each segment looks like after it.
std::vector<Seen> run(Stage& stage, const std::vector<Bytes>& frames) {
  Batch b;
  b.now = 1000;
  for (const auto& f : frames) b.pkts[b.n++] = make_mbuf(f);
  stage.process(b);
  std::vector<Seen> out;
  for (uint16_t i = 0; i < b.n; ++i) {
    auto* h = rte_pktmbuf_mtod_offset(b.pkts[i], rte_ipv4_hdr*, 14);
    auto* t = reinterpret_cast<rte_tcp_hdr*>(h + 1);
    PktView v;
    const bool ok = view_packet(b.pkts[i], v) && l4_cksum_valid(v) && rte_ipv4_cksum(h) == 0;
    out.push_back({rte_be_to_cpu_32(t->sent_seq), rte_be_to_cpu_32(t->recv_ack),
                   b.verdict[i] == kPass && ok});
    rte_pktmbuf_free(b.pkts[i]);
  }
  return out;
}

uint32_t client_isn(uint32_t i) { return 0x10000000u + i * 7919u; }
uint32_t server_isn(uint32_t i) { return 0xa0000000u + i * 104729u; }

TEST(TcpSeqWorkers, BothDirectionsOnDifferentWorkers) {
  pool();
  const size_t sz = rte_rcu_qsbr_get_memsize(2);
  auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("tw_qsbr", sz, RTE_CACHE_LINE_SIZE));
  ASSERT_NE(qsbr, nullptr);
  ASSERT_EQ(rte_rcu_qsbr_init(qsbr, 2), 0);
  {
    SharedState shared("tw", qsbr);
    StageYaml spec;
    spec.kind = "tcp_seq";
    spec.params = YAML::Load("rewrite: both\nseed: 9\ncapacity: 4096");
    spec.path = "stage";
    const StageBuilder build = StageRegistry::instance().parse(spec, "test.yaml");
    StageSite site = StageRun::default_site();
    site.workers = 2;
    site.shared = &shared;
    site.worker = 0;
    std::unique_ptr<Stage> w0 = build(site);
    site.worker = 1;
    site.egress = true;
    std::unique_ptr<Stage> w1 = build(site);

    std::vector<std::atomic<uint32_t>> syn_seq(kFlows), synack_seq(kFlows);
    std::vector<std::atomic<bool>> syn_done(kFlows), synack_done(kFlows);
    std::atomic<uint64_t> wrong{0}, bad_cksum{0}, checked{0};
    auto expect = [&](bool ok) {
      checked.fetch_add(1);
      if (!ok) wrong.fetch_add(1);
    };

    // Worker 0: SYNs, then the clients' data segments acknowledging what they saw.
    std::thread client([&] {
      ASSERT_EQ(rte_thread_register(), 0);
      rte_rcu_qsbr_thread_register(qsbr, 0);
      rte_rcu_qsbr_thread_online(qsbr, 0);
      for (uint32_t i = 0; i < kFlows; i += kBurst) {
        std::vector<Bytes> syns;
        for (uint32_t k = i; k < i + kBurst && k < kFlows; ++k)
          syns.push_back(segment(k, true, {client_isn(k), 0, 0x02}));
        const auto seen = run(*w0, syns);
        for (uint32_t k = 0; k < seen.size(); ++k) {
          if (!seen[k].cksum_ok) bad_cksum.fetch_add(1);
          expect(seen[k].seq != client_isn(i + k));  // the ISN moved
          syn_seq[i + k].store(seen[k].seq);
          syn_done[i + k].store(true, std::memory_order_release);
        }
        rte_rcu_qsbr_quiescent(qsbr, 0);
      }
      for (int r = 0; r < kRounds; ++r) {
        for (uint32_t i = 0; i < kFlows; i += kBurst) {
          std::vector<Bytes> data;
          const uint32_t end = std::min(i + kBurst, kFlows);
          for (uint32_t k = i; k < end; ++k) {
            while (!synack_done[k].load(std::memory_order_acquire)) rte_rcu_qsbr_quiescent(qsbr, 0);
            data.push_back(segment(k, true, {client_isn(k) + 1 + 10u * r, synack_seq[k] + 1, 0x18}));
          }
          const auto seen = run(*w0, data);
          for (uint32_t k = 0; k < seen.size(); ++k) {
            if (!seen[k].cksum_ok) bad_cksum.fetch_add(1);
            expect(seen[k].seq == syn_seq[i + k] + 1 + 10u * r);  // shifted like the SYN
            expect(seen[k].ack == server_isn(i + k) + 1);        // back in the server's space
          }
          rte_rcu_qsbr_quiescent(qsbr, 0);
        }
      }
      rte_rcu_qsbr_thread_offline(qsbr, 0);
      rte_rcu_qsbr_thread_unregister(qsbr, 0);
      rte_thread_unregister();
    });

    // Worker 1, at the same time: SYN-ACKs as soon as each SYN went out, then the servers' data.
    std::thread server([&] {
      ASSERT_EQ(rte_thread_register(), 0);
      rte_rcu_qsbr_thread_register(qsbr, 1);
      rte_rcu_qsbr_thread_online(qsbr, 1);
      for (uint32_t k = 0; k < kFlows; ++k) {
        while (!syn_done[k].load(std::memory_order_acquire)) rte_rcu_qsbr_quiescent(qsbr, 1);
        const auto seen = run(*w1, {segment(k, false, {server_isn(k), syn_seq[k] + 1, 0x12})});
        if (!seen[0].cksum_ok) bad_cksum.fetch_add(1);
        expect(seen[0].ack == client_isn(k) + 1);
        expect(seen[0].seq != server_isn(k));
        synack_seq[k].store(seen[0].seq);
        synack_done[k].store(true, std::memory_order_release);
        rte_rcu_qsbr_quiescent(qsbr, 1);
      }
      for (int r = 0; r < kRounds; ++r) {
        for (uint32_t i = 0; i < kFlows; i += kBurst) {
          std::vector<Bytes> data;
          const uint32_t end = std::min(i + kBurst, kFlows);
          for (uint32_t k = i; k < end; ++k)
            data.push_back(segment(k, false, {server_isn(k) + 1 + 10u * r, syn_seq[k] + 1, 0x18}));
          const auto seen = run(*w1, data);
          for (uint32_t k = 0; k < seen.size(); ++k) {
            if (!seen[k].cksum_ok) bad_cksum.fetch_add(1);
            expect(seen[k].seq == synack_seq[i + k] + 1 + 10u * r);
            expect(seen[k].ack == client_isn(i + k) + 1);
          }
          rte_rcu_qsbr_quiescent(qsbr, 1);
        }
      }
      rte_rcu_qsbr_thread_offline(qsbr, 1);
      rte_rcu_qsbr_thread_unregister(qsbr, 1);
      rte_thread_unregister();
    });
    client.join();
    server.join();

    EXPECT_EQ(wrong.load(), 0u) << "of " << checked.load() << " checks";
    EXPECT_EQ(bad_cksum.load(), 0u);
    EXPECT_EQ(checked.load(), uint64_t{kFlows} * (1 + 2 + 4 * kRounds));
    auto action = [](const Stage& s, std::string_view name) {
      for (size_t i = 0; i < s.action_descs().size(); ++i) {
        if (s.action_descs()[i].name == name) return s.action_count(i);
      }
      return uint64_t{0};
    };
    EXPECT_EQ(action(*w0, "flows"), kFlows);                   // every SYN made a flow ...
    EXPECT_EQ(action(*w1, "flows"), 0u);                       // ... on worker 0 only
    EXPECT_EQ(action(*w0, "untracked") + action(*w1, "untracked"), 0u);  // worker 1 found them all
    EXPECT_EQ(action(*w1, "rewritten"), uint64_t{kFlows} * (1 + kRounds));
  }
  rte_free(qsbr);
}

}  // namespace
}  // namespace pathlab::test
