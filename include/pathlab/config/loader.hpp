#pragma once
// Loads a config file, expands pipeline references, and validates everything (including each
// stage's params, through the StageRegistry). Throws ConfigError on the first problem.
//
// StageSpec.params convention:
//   - `count` (a bare name): params is an empty YAML map (it has no mark of its own).
//   - `{stage: count, every: 2}`: params is that same map node from the file with its "stage" key
//     removed, so a stage's parser sees ONLY its own keys, each with its position; the map keeps
//     its position too. Read it with stage_params(spec, file) (yaml_reader.hpp), which falls back
//     to spec.pos when the map has no mark, then call done() to reject unknown keys.
//   - `{pipeline: NAME}` is replaced by the stages of NAME.yaml. Those specs have pos.file = the
//     pipeline file and path "pipeline NAME.stages[i]"; the loader passes spec.pos.file as the
//     `file` argument of StageRegistry::parse, so errors name the pipeline file.
//
// Files: a config or pipeline file must be a regular file (a directory, device, FIFO or socket
// is refused by its kind before it is opened) of at most kMaxConfigBytes, UTF-8 with no NUL
// byte, and hold one YAML document.
#include <cstddef>
#include <string>
#include <vector>

#include "pathlab/config/config.hpp"

namespace pathlab {

inline constexpr size_t kMaxConfigBytes = size_t{16} << 20;  // 16 MiB, per file

// pipeline_dirs: where `{pipeline: NAME}` looks for NAME.yaml, in order.
Config load_config(const std::string& path, const std::vector<std::string>& pipeline_dirs);
// Same, from text in memory; `file` is the name used in errors.
Config load_config_string(const std::string& text, const std::string& file,
                          const std::vector<std::string>& pipeline_dirs);

// The default pipeline search path for a config file: <dir>/pipelines, <dir>/../pipelines.
std::vector<std::string> default_pipeline_dirs(const std::string& config_path);

}  // namespace pathlab
