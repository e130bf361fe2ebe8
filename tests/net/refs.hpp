#pragma once
// Reference packets that a gen_<name>.py wrote at build time, as tests/net reads them.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace pathlab::test {

using Bytes = std::vector<uint8_t>;

// PATHLAB_BUILD_ROOT/tests/net/<file>.
inline YAML::Node load_refs(const std::string& file) {
  const char* root = std::getenv("PATHLAB_BUILD_ROOT");
  return YAML::LoadFile(std::string(root != nullptr ? root : ".") + "/tests/net/" + file);
}

inline Bytes from_hex(const std::string& h) {
  Bytes b(h.size() / 2);
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
  }
  return b;
}

}  // namespace pathlab::test
