#pragma once
// Typed reading of YAML maps with positions in every error, and rejection of unknown keys.
//   YamlMap m(node, file, "routers[0]");
//   auto id = m.get<std::string>("id");
//   auto mtu = m.get_or<uint16_t>("mtu", 1500);
//   m.done();   // throws ConfigError for any key that was not read
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "pathlab/config/error.hpp"

namespace pathlab {

SourcePos pos_of(const YAML::Node& node, const std::string& file);

// Converts a scalar node to T or throws ConfigError at the node's position naming `path`.
// Supported T: std::string, bool, all integer types (range-checked), double, MacAddr, Ip4Addr,
// Ip6Addr, Ip4Prefix, Ip6Prefix.
template <typename T>
T convert(const YAML::Node& node, const std::string& file, const std::string& path);

class YamlMap {
 public:
  // Throws ConfigError if `node` is not a map. `path` names the node, e.g. "routers[0]".
  YamlMap(const YAML::Node& node, std::string file, std::string path);

  bool has(std::string_view key) const;
  template <typename T>
  T get(std::string_view key);  // required: a missing key is an error
  template <typename T>
  T get_or(std::string_view key, T fallback);
  template <typename T>
  std::optional<T> maybe(std::string_view key);
  // A sequence of scalars (a single scalar is taken as a one-element list).
  template <typename T>
  std::vector<T> list(std::string_view key);
  // The raw child node (marks the key as read); undefined node if absent.
  YAML::Node node(std::string_view key);

  std::string path(std::string_view key) const;  // "routers[0].ports"
  SourcePos pos(std::string_view key) const;     // position of the key's value, or of the map
  const SourcePos& pos() const { return pos_; }
  const std::string& file() const { return file_; }
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  // Throws for the first key (in file order) that no accessor asked about.
  void done() const;

 private:
  YAML::Node node_;
  std::string file_;
  std::string path_;
  SourcePos pos_;
  std::set<std::string, std::less<>> read_;
};

}  // namespace pathlab
