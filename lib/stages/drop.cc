// drop: drops every packet under the reason `configured`. A sink for tests and for cutting a path.
//   egress: [drop]
#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/engine/stage.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"configured", "dropped because the chain says so"},
};

class DropStage final : public Stage {
 public:
  DropStage() : Stage(kDrops, {}) {}
  void process(Batch& b) override {
    for (uint16_t i = 0; i < b.n; ++i) b.verdict[i] = 1;
  }
};

const StageRegistration kReg{{
    .name = "drop",
    .help = "drop every packet (reason: configured)",
    .drops = kDrops,
    .actions = {},
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      if (spec.params && spec.params.IsMap()) {
        YamlMap m(spec.params, file, spec.path);
        if (m.has("stage")) m.node("stage");
        m.done();
      }
      return [](const StageSite&) { return std::make_unique<DropStage>(); };
    },
}};

}  // namespace
}  // namespace pathlab
