// nat44 across workers: one router's instances on two threads share the session table
// (engine/shared.hpp). Worker 0's egress instance opens the mappings; worker 1's egress instance
// sends from the same inside endpoints to another remote at the same moment (both may create the
// mapping: one wins, the other must find the same one), and worker 1's ingress instance
// translates every reply while worker 0 keeps sending. Every port, address and checksum is checked.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#pragma GCC diagnostic pop

#include "harness.hpp"
#include "pathlab/engine/shared.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {
namespace {

constexpr uint32_t kFlows = 2000;
constexpr int kRounds = 10;
constexpr uint16_t kBurst = 32;
constexpr uint32_t kS = 0xcb007105, kS2 = 0xcb007106;  // 203.0.113.5, .6

uint32_t inside(uint32_t i) { return 0x0a000000u + 2 + i / 8; }  // 8 flows per inside host
uint16_t inside_port(uint32_t i) { return static_cast<uint16_t>(40000 + i % 8); }

struct Seen {
  uint32_t src, dst;
  uint16_t sport, dport;
  bool ok;  // passed, checksums valid
};

// A thread's mbufs, taken once: the shared test pool has no per-lcore cache, and its ring
// stalls a thread whose peer was preempted mid-operation on a loaded host.
class Burst {
 public:
  explicit Burst(const Bytes& shape) {
    for (auto*& m : m_) m = make_mbuf(shape);
  }
  ~Burst() {
    for (auto* m : m_) rte_pktmbuf_free(m);
  }
  // One burst through `stage` (frames of `shape`'s size and kind); what each looks like after.
  std::vector<Seen> run(Stage& stage, const std::vector<Bytes>& frames) {
    Batch b;
    b.now = 1'000'000'000;
    for (const auto& f : frames) {
      rte_mbuf* m = m_[b.n];
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), f.data(), f.size());
      parse_view(m);
      b.pkts[b.n++] = m;
    }
    stage.process(b);
    std::vector<Seen> out;
    for (uint16_t i = 0; i < b.n; ++i) {
      PktView v;
      const bool ok = view_packet(b.pkts[i], v) && l4_cksum_valid(v) &&
                      csum::ip4_header_sum(v.l3, 20) == 0xffff;
      out.push_back({load_be32(v.l3 + 12), load_be32(v.l3 + 16), load_be16(v.l4),
                     load_be16(v.l4 + 2), b.verdict[i] == kPass && ok});
    }
    return out;
  }

 private:
  rte_mbuf* m_[kBurst];
};

// A UDP frame like `shape` with these endpoints, checksums computed without an mbuf.
Bytes udp(const Bytes& shape, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  Bytes f = shape;
  uint8_t* ip = f.data() + 14;
  store_be32(ip + 12, src);
  store_be32(ip + 16, dst);
  csum::set_ip4_header(ip, 20);
  uint8_t* u = ip + 20;
  store_be16(u, sport);
  store_be16(u + 2, dport);
  put16(u + 6, 0);
  put16(u + 6, static_cast<uint16_t>(~csum::transport(ip, 4, kProtoUdp, u, 12)));
  return f;
}

// Registers the thread with EAL and the QSBR variable for its lifetime.
class Worker {
 public:
  Worker(rte_rcu_qsbr* q, unsigned id) : q_(q), id_(id) {
    EXPECT_EQ(rte_thread_register(), 0);
    rte_rcu_qsbr_thread_register(q_, id_);
    rte_rcu_qsbr_thread_online(q_, id_);
  }
  ~Worker() {
    rte_rcu_qsbr_thread_offline(q_, id_);
    rte_rcu_qsbr_thread_unregister(q_, id_);
    rte_thread_unregister();
  }
  void quiescent() { rte_rcu_qsbr_quiescent(q_, id_); }

 private:
  rte_rcu_qsbr* q_;
  unsigned id_;
};

// A first packet is dropped as busy when the other worker was still creating the same mapping
// (it may be preempted on a loaded host): the host sends again, as a real one would.
Seen again(Burst& b, Stage& stage, const Bytes& frame, Seen s, Worker& w) {
  for (int k = 0; !s.ok && k < 1000; ++k) {
    w.quiescent();
    std::this_thread::yield();
    s = b.run(stage, {frame})[0];
  }
  return s;
}

TEST(Nat44Workers, RepliesFoundByTheOtherWorker) {
  pool();
  const size_t sz = rte_rcu_qsbr_get_memsize(2);
  auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("nw_qsbr", sz, RTE_CACHE_LINE_SIZE));
  ASSERT_NE(qsbr, nullptr);
  ASSERT_EQ(rte_rcu_qsbr_init(qsbr, 2), 0);
  {
    SharedState shared("nw", qsbr);
    StageYaml spec;
    spec.kind = "nat44";
    spec.params = YAML::Load(
        "pool: 198.51.100.1-198.51.100.4\nmax_sessions: 8192\nfiltering: address_dependent");
    spec.path = "stage";
    const StageBuilder build = StageRegistry::instance().parse(spec, "test.yaml");
    StageSite site = StageRun::default_site();
    site.workers = 2;
    site.shared = &shared;
    site.egress = true;
    std::unique_ptr<Stage> out0 = build(site);
    site.worker = 1;
    std::unique_ptr<Stage> out1 = build(site);
    site.egress = false;
    std::unique_ptr<Stage> in1 = build(site);

    const Bytes shape = ip4_frame(kProtoUdp, 0, 0, 0, 0);
    std::vector<std::atomic<uint32_t>> ext_addr(kFlows), ext_addr1(kFlows);
    std::vector<std::atomic<uint16_t>> ext_port(kFlows), ext_port1(kFlows);
    std::vector<std::atomic<bool>> done(kFlows);
    std::atomic<uint64_t> wrong{0}, checked{0};
    auto expect = [&](bool ok) {
      checked.fetch_add(1);
      if (!ok) wrong.fetch_add(1);
    };

    std::thread w0([&] {
      Worker w(qsbr, 0);
      Burst bufs(shape);
      for (int r = 0; r <= kRounds; ++r) {
        for (uint32_t i = 0; i < kFlows; i += kBurst) {
          std::vector<Bytes> burst;
          const uint32_t end = std::min(i + kBurst, kFlows);
          for (uint32_t k = i; k < end; ++k)
            burst.push_back(udp(shape, inside(k), inside_port(k), kS, 53));
          const auto seen = bufs.run(*out0, burst);
          for (uint32_t k = 0; k < seen.size(); ++k) {
            const Seen s = r == 0 ? again(bufs, *out0, burst[k], seen[k], w) : seen[k];
            expect(s.ok && s.dst == kS && s.dport == 53);
            if (r == 0) {
              ext_addr[i + k].store(s.src);
              ext_port[i + k].store(s.sport);
              done[i + k].store(true, std::memory_order_release);
            } else {
              expect(seen[k].src == ext_addr[i + k] && seen[k].sport == ext_port[i + k]);
            }
          }
          w.quiescent();
        }
      }
    });

    std::thread w1([&] {
      Worker w(qsbr, 1);
      Burst bufs(shape);
      // The same inside endpoints to another remote, racing worker 0's first packets.
      for (uint32_t i = 0; i < kFlows; i += kBurst) {
        std::vector<Bytes> burst;
        const uint32_t end = std::min(i + kBurst, kFlows);
        for (uint32_t k = i; k < end; ++k)
          burst.push_back(udp(shape, inside(k), inside_port(k), kS2, 53));
        const auto seen = bufs.run(*out1, burst);
        for (uint32_t k = 0; k < seen.size(); ++k) {
          const Seen s = again(bufs, *out1, burst[k], seen[k], w);
          expect(s.ok);
          ext_addr1[i + k].store(s.src);
          ext_port1[i + k].store(s.sport);
        }
        w.quiescent();
      }
      // Replies from both remotes (address-dependent filtering lets both in).
      for (int r = 0; r < kRounds; ++r) {
        for (uint32_t i = 0; i < kFlows; i += kBurst) {
          std::vector<Bytes> burst;
          const uint32_t end = std::min(i + kBurst, kFlows);
          for (uint32_t k = i; k < end; ++k) {
            while (!done[k].load(std::memory_order_acquire)) {
              w.quiescent();
              std::this_thread::yield();  // a loaded 2-core host: let worker 0 run
            }
            burst.push_back(udp(shape, r % 2 ? kS2 : kS, 53, ext_addr[k], ext_port[k]));
          }
          const auto seen = bufs.run(*in1, burst);
          for (uint32_t k = 0; k < seen.size(); ++k) {
            expect(seen[k].ok && seen[k].dst == inside(i + k) &&
                   seen[k].dport == inside_port(i + k));
          }
          w.quiescent();
        }
      }
    });
    w0.join();
    w1.join();

    uint32_t same = 0;
    for (uint32_t k = 0; k < kFlows; ++k) {
      same += ext_addr[k] == ext_addr1[k] && ext_port[k] == ext_port1[k];
    }
    EXPECT_EQ(same, kFlows);  // endpoint-independent mapping, whichever worker made it
    EXPECT_EQ(wrong.load(), 0u) << "of " << checked.load();
    EXPECT_EQ(checked.load(), uint64_t{kFlows} * (1 + 2 * kRounds + 1 + kRounds));
    auto action = [](const Stage& s, std::string_view name) {
      for (size_t i = 0; i < s.action_descs().size(); ++i) {
        if (s.action_descs()[i].name == name) return s.action_count(i);
      }
      return uint64_t{0};
    };
    EXPECT_EQ(action(*out0, "created") + action(*out1, "created"), kFlows);
    EXPECT_EQ(action(*in1, "translated_in"), uint64_t{kFlows} * kRounds);
    for (const Stage* st : {out0.get(), out1.get(), in1.get()}) {
      const auto& drops = st->drop_descs();
      for (size_t d = 0; d < drops.size(); ++d) {
        if (drops[d].name != "busy") {
          EXPECT_EQ(st->drop_count(d), 0u) << drops[d].name;
        }
      }
    }
  }
  rte_free(qsbr);
}

}  // namespace
}  // namespace pathlab::test
