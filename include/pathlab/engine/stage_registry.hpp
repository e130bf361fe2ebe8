#pragma once
// The stage catalogue: each stage registers its name, help, counters and parameter parser in one
// line at the bottom of its .cc file. Configuration time only (the loader, tests, tools).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pathlab/config/config.hpp"
#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/engine/stage.hpp"

namespace pathlab {

// Parses a stage's params once (throwing ConfigError), giving the per-worker builder.
using StageParser = std::function<StageBuilder(const StageYaml&, const std::string& file)>;

struct StageInfo {
  std::string name;
  std::string help;
  std::span<const CounterDesc> drops;
  std::span<const CounterDesc> actions;
  StageParser parse;
};

class StageRegistry {
 public:
  static StageRegistry& instance();
  void add(StageInfo info);
  const StageInfo* find(std::string_view name) const;
  const std::vector<StageInfo>& all() const { return stages_; }
  // Throws ConfigError naming the entry's position for an unknown stage or bad params.
  StageBuilder parse(const StageYaml& spec, const std::string& file) const;

 private:
  std::vector<StageInfo> stages_;
};

// Registers a stage at static-initialisation time: one line at the bottom of its .cc file.
struct StageRegistration {
  explicit StageRegistration(StageInfo info) { StageRegistry::instance().add(std::move(info)); }
};

}  // namespace pathlab
