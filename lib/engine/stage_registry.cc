#include <fmt/format.h>

#include "pathlab/config/error.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {

StageRegistry& StageRegistry::instance() {
  static StageRegistry registry;
  return registry;
}

void StageRegistry::add(StageInfo info) { stages_.push_back(std::move(info)); }

const StageInfo* StageRegistry::find(std::string_view name) const {
  for (const auto& s : stages_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

StageBuilder StageRegistry::parse(const StageYaml& spec, const std::string& file) const {
  const StageInfo* info = find(spec.kind);
  if (info == nullptr) {
    std::string known;
    for (const auto& s : stages_) known += (known.empty() ? "" : ", ") + s.name;
    throw ConfigError(spec.pos, spec.path,
                      fmt::format("unknown stage '{}' (known: {})", spec.kind, known));
  }
  return info->parse(spec, file);
}

}  // namespace pathlab
