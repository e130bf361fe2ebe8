// Fuzz target: the config loader (load_config_string), with the repository's pipelines/ for
// `{pipeline: NAME}`. Its contract is to throw ConfigError on the first problem: any other
// exception escaping is reported (and aborts), as is any sanitizer report.
// Input: the YAML text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>

#include "pathlab/config/error.hpp"
#include "pathlab/config/loader.hpp"

namespace {
std::vector<std::string> g_dirs;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* root = std::getenv("PATHLAB_SOURCE_ROOT");
  g_dirs.push_back(std::string(root ? root : PLFUZZ_SOURCE_ROOT) + "/pipelines");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const pathlab::Config cfg = pathlab::load_config_string(text, "fuzz.yaml", g_dirs);
    (void)cfg;
  } catch (const pathlab::ConfigError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\n==plfuzz== load_config_string threw %s, not ConfigError: %s\n", typeid(e).name(),
                 e.what());
    std::abort();
  }
  return 0;
}
