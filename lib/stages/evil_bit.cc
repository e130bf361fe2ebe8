// evil_bit: RFC 3514's reserved IPv4 flag (the top bit of the flags/fragment-offset word).
//   - stage: evil_bit
//     action: clear        # clear | set | drop_if_set
//     match: {proto: udp}  # optional, as every stage (stages/match.hpp)
// IPv6 has no such bit: IPv6 packets pass untouched.
#include <fmt/format.h>

#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {{"evil", "IPv4 packet with the evil bit set (drop_if_set)"}};
constexpr CounterDesc kActions[] = {
    {"cleared", "evil bit cleared"},
    {"set", "evil bit set"},
};

enum class Action : uint8_t { Clear, Set, DropIfSet };

class EvilBit final : public MatchStage {
 public:
  EvilBit(const StageCommon& c, const StageSite& site, Action a)
      : MatchStage(kDrops, kActions, c, site), action_(a) {}

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    switch (action_) {
      case Action::Clear: return run<Action::Clear>(b);
      case Action::Set: return run<Action::Set>(b);
      case Action::DropIfSet: return run<Action::DropIfSet>(b);
    }
  }

 private:
  template <Action kAction>
  void run(Batch& b) {
    uint64_t changed = 0;
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView v;
      if (!view_packet(b.pkts[i], v) || v.version != 4) continue;
      const bool evil = (load_be16(v.l3 + 6) & kIp4Evil) != 0;
      if (kAction == Action::Set ? evil : !evil) continue;
      if (!selected(v)) continue;
      if constexpr (kAction == Action::DropIfSet) {
        b.verdict[i] = 1;
      } else {
        csum::ip4_set16(v.l3, 6, get16(v.l3 + 6) ^ rte_cpu_to_be_16(kIp4Evil));
        ++changed;
      }
    }
    if (changed != 0) count_action(kAction == Action::Clear ? 0 : 1, changed);
  }

  Action action_;
};

const StageRegistration kReg{{
    .name = "evil_bit",
    .help = "clear, set, or drop on RFC 3514's evil bit (IPv4 reserved flag)",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      const auto s = m.get<std::string>("action");
      Action a;
      if (s == "clear") {
        a = Action::Clear;
      } else if (s == "set") {
        a = Action::Set;
      } else if (s == "drop_if_set") {
        a = Action::DropIfSet;
      } else {
        m.fail("action", fmt::format("'{}' is not clear, set or drop_if_set", s));
      }
      m.done();
      return [c, a](const StageSite& site) { return std::make_unique<EvilBit>(c, site, a); };
    },
}};

}  // namespace
}  // namespace pathlab
