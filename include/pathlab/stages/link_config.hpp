#pragma once
// Link parameters from YAML: for the `link` stage, `link:` on ports and links, and link changes.
#include <span>
#include <string_view>

#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/stages/link.hpp"

namespace pathlab {

// The link keys of m (link_param_keys()) over `base`: a change keeps what it does not name.
// Fails through m (file:line:column and the key) on a bad value; does not check for other keys.
LinkParams parse_link_params(YamlMap& m, const LinkParams& base);
std::span<const std::string_view> link_param_keys();

// One rate ("100mbit": bit/s; 0 = none) or duration ("20ms": ns) key of m, as the link keys
// take them; fails through m.
uint64_t parse_rate_key(YamlMap& m, std::string_view key);
Nanos parse_duration_key(YamlMap& m, std::string_view key);

}  // namespace pathlab
