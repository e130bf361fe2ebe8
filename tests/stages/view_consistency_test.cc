// The packet view stays true through every two-stage chain of the catalogue: after the chain,
// each passing packet's stored view (net/view.hpp) equals a fresh parse of its bytes. Runs over
// every scapy corpus of the stage tests, with parameters that change packets' shapes (options
// stripped, removed or added) and fields.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>
#include <rte_mbuf.h>

#include "harness.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab::test {
namespace {

struct StageCase {
  const char* kind;
  const char* params;
};

const StageCase kStages[] = {
    {"count", ""},
    {"ecn", "ip: bleach\ntcp: strip_syn_flags"},
    {"ecn", "ip: set_ce\ntcp: reflect"},
    {"dscp", "action: {set: ef}\necn: zero"},
    {"tcp_options", "strip: [sack_permitted, timestamp, wscale]\nhow: remove"},
    {"tcp_options", "strip: [timestamp]\nhow: nop"},
    {"mss", "clamp: 536\nadd_if_missing: true"},
    {"tcp_seq", "rewrite: both\nseed: 3"},
    {"ip_options", "ipv4: strip\nipv6_strip: [0x1e]"},
    {"evil_bit", "action: set"},
    {"udp_checksum", "action: fill\nipv6_zero: fill"},
    {"block", "action: reject\nmatch: {proto: udp}\nrate: 1000000\nburst: 1000000"},
    {"normalize", "ttl: {set: 64}\nip_id: random\nseed: 5"},
    {"nat44", "pool: 198.51.100.1\nstatic: [{proto: udp, inside: 10.0.0.2:5000, outside: 198.51.100.1:53}]"},
    {"nat44", "mode: one_to_one\ninside: 10.0.0.0/24\npool: 198.51.100.0/24"},
};

std::unique_ptr<Stage> build(const StageCase& c) {
  StageYaml spec;
  spec.kind = c.kind;
  spec.params = *c.params ? YAML::Load(c.params) : YAML::Node(YAML::NodeType::Map);
  spec.path = "stage";
  return StageRegistry::instance().parse(spec, "test.yaml")(StageRun::default_site());
}

std::vector<std::pair<std::string, Bytes>> corpus() {
  std::vector<std::pair<std::string, Bytes>> all;
  for (const char* file :
       {"ecn_frames.json", "dscp_frames.json", "tcp_options_frames.json", "mss_frames.json",
        "tcp_seq_frames.json", "ip_options_frames.json", "evil_bit_frames.json",
        "udp_checksum_frames.json", "block_frames.json", "normalize_frames.json",
        "nat44_frames.json"}) {
    for (auto& [name, bytes] : Frames(file).all()) all.emplace_back(fmt::format("{}:{}", file, name), bytes);
  }
  return all;
}

std::string describe(const StoredView& v) {
  return fmt::format("v{} ip_len {} l4_off {} proto {} ports {}/{} tcp_flags {:#x} flags {:#x}",
                     v.version, v.ip_len, v.l4_off, v.proto, v.sport, v.dport, v.tcp_flags, v.flags);
}

TEST(ViewConsistency, EveryTwoStageChainKeepsTheViewTrue) {
  pool();
  const auto frames = corpus();
  ASSERT_GT(frames.size(), 200u);
  size_t checked = 0, reshaped = 0;
  for (const StageCase& a : kStages) {
    for (const StageCase& b : kStages) {
      std::vector<std::unique_ptr<Stage>> stages;
      stages.push_back(build(a));
      stages.push_back(build(b));
      Chain chain(std::move(stages));
      const std::string pair = fmt::format("[{}: {}] -> [{}: {}]", a.kind, a.params, b.kind, b.params);
      for (size_t off = 0; off < frames.size(); off += kMaxBurst) {
        Batch batch;
        batch.now = 1;
        std::vector<std::string> names;
        std::vector<uint32_t> lens;
        for (size_t i = off; i < frames.size() && batch.n < kMaxBurst; ++i) {
          names.push_back(frames[i].first);
          lens.push_back(static_cast<uint32_t>(frames[i].second.size()));
          batch.pkts[batch.n++] = make_mbuf(frames[i].second);
        }
        chain.run(batch);
        for (uint16_t i = 0; i < batch.n; ++i) {
          rte_mbuf* m = batch.pkts[i];
          const StoredView kept = stored_view(m);
          parse_view(m);
          const StoredView fresh = stored_view(m);
          EXPECT_TRUE(same_view(kept, fresh))
              << pair << " packet " << i << ": kept " << describe(kept) << " fresh " << describe(fresh);
          ++checked;
          if (m->pkt_len != lens[i]) ++reshaped;
          rte_pktmbuf_free(m);
        }
        for (uint16_t i = 0; i < batch.ngen; ++i) rte_pktmbuf_free(batch.gen[i]);
      }
    }
  }
  // The corpus reaches the shape-changing paths, so the check means something.
  EXPECT_GT(reshaped, 100u);
  EXPECT_GT(checked, 30000u);
}

}  // namespace
}  // namespace pathlab::test
