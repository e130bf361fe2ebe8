#pragma once
// Loads a config file, expands pipeline references, and validates everything (including each
// stage's params, through the StageRegistry). Throws ConfigError on the first problem.
#include <string>
#include <vector>

#include "pathlab/config/config.hpp"

namespace pathlab {

// pipeline_dirs: where `{pipeline: NAME}` looks for NAME.yaml, in order.
Config load_config(const std::string& path, const std::vector<std::string>& pipeline_dirs);
// Same, from text in memory; `file` is the name used in errors.
Config load_config_string(const std::string& text, const std::string& file,
                          const std::vector<std::string>& pipeline_dirs);

// The default pipeline search path for a config file: <dir>/pipelines, <dir>/../pipelines.
std::vector<std::string> default_pipeline_dirs(const std::string& config_path);

}  // namespace pathlab
