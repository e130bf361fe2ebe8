// count: counts packets and bytes that pass; changes nothing. A probe point for any chain.
//   ingress: [count]
#include <rte_mbuf.h>

#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kActions[] = {
    {"packets", "packets seen"},
    {"bytes", "bytes seen, from the Ethernet header on"},
};

class CountStage final : public Stage {
 public:
  CountStage() : Stage({}, kActions) {}
  void process(Batch& b) override {
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      bytes += rte_pktmbuf_pkt_len(b.pkts[i]);
      b.verdict[i] = kPass;
    }
    count_action(0, b.n);
    count_action(1, bytes);
  }
};

const StageRegistration kReg{{
    .name = "count",
    .help = "count packets and bytes; change nothing",
    .drops = {},
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      if (spec.params && spec.params.IsMap()) {
        YamlMap m(spec.params, file, spec.path);
        if (m.has("stage")) m.node("stage");
        m.done();
      }
      return [](const StageSite&) { return std::make_unique<CountStage>(); };
    },
}};

}  // namespace
}  // namespace pathlab
