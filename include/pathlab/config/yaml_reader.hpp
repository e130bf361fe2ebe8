#pragma once
// Typed reading of YAML maps with positions in every error, and rejection of unknown keys.
//   YamlMap m(node, file, "routers[0]");
//   auto id = m.get<std::string>("id");
//   auto mtu = m.get_or<uint16_t>("mtu", 1500);
//   auto q = m.get_or_in<uint16_t>("queues", 1, 1, 64);   // with a range check
//   m.done();   // throws ConfigError for any key that was not read
// A null node (`key:` with no value) is read as an empty map by YamlMap and as an empty list by
// list()/items(). Duplicate keys in one map are errors.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pathlab/config/error.hpp"

namespace pathlab {

// file:line:column of a node (1-based); line and column are 0 for a node without a mark.
SourcePos pos_of(const YAML::Node& node, const std::string& file);

// Converts a scalar node to T or throws ConfigError at the node's position naming `path`.
// Supported T: std::string, bool, all integer types (range-checked), double, MacAddr, Ip4Addr,
// Ip6Addr, Ip4Prefix, Ip6Prefix. Integers are decimal or 0x-prefixed hexadecimal. Prefixes need
// an explicit length.
template <typename T>
T convert(const YAML::Node& node, const std::string& file, const std::string& path);

class YamlMap {
 public:
  // Throws ConfigError if `node` is not a map (null counts as empty). `path` names the node, e.g.
  // "routers[0]".
  YamlMap(const YAML::Node& node, std::string file, std::string path);
  // Same; `fallback` is the map's position when the node has no mark (a map built in memory,
  // such as the empty params of a stage written as a bare name).
  YamlMap(const YAML::Node& node, std::string file, std::string path, SourcePos fallback);

  bool has(std::string_view key) const;
  template <typename T>
  T get(std::string_view key);  // required: a missing key is an error
  template <typename T>
  T get_or(std::string_view key, T fallback);
  template <typename T>
  std::optional<T> maybe(std::string_view key);
  // Integers with an inclusive range check: "mtu: 50 is out of range 68..9216", for any integer
  // outside the range (70000 in a uint16_t too).
  template <typename T>
  T get_in(std::string_view key, T lo, T hi);
  template <typename T>
  T get_or_in(std::string_view key, T fallback, T lo, T hi);
  // A sequence of scalars (a single scalar is taken as a one-element list).
  template <typename T>
  std::vector<T> list(std::string_view key);
  // The elements of a list, each with its path "key[i]" (a single scalar counts as a
  // one-element list when scalar_ok). Empty when the key is absent or null. Marks the key read.
  struct Item {
    YAML::Node node;
    std::string path;
    SourcePos pos;
  };
  std::vector<Item> items(std::string_view key, bool scalar_ok = false);
  // The raw child node (marks the key as read); undefined node if absent.
  YAML::Node node(std::string_view key);

  std::string path(std::string_view key) const;  // "routers[0].ports"
  SourcePos pos(std::string_view key) const;     // position of the key's value, or of the map
  const SourcePos& pos() const { return pos_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  // Throws for the first key (in file order) that no accessor asked about.
  void done() const;
  // Throws now for the first key (in file order) not in `keys`. Call it before reading required
  // keys, so that a misspelt key is reported as unknown rather than as a missing required one.
  void only(std::initializer_list<std::string_view> keys) const;
  // The same for a key list built at run time (e.g. link_param_keys() plus "seed").
  void only_keys(std::span<const std::string_view> keys) const;

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };
  const Entry* find(std::string_view key) const;
  const YAML::Node& value(std::string_view key);  // required and non-null; marks the key read
  // Reads an integer and checks it against lo..hi, whatever its size, so that the message gives
  // that range rather than the type's.
  long long get_ranged(std::string_view key, long long lo, long long hi);
  unsigned long long get_ranged(std::string_view key, unsigned long long lo, unsigned long long hi);

  YAML::Node node_;
  std::string file_;
  std::string path_;
  SourcePos pos_;
  std::vector<Entry> entries_;
  std::set<std::string, std::less<>> read_;
};

// A stage entry as the YAML gives it, after pipeline names have been expanded.
struct StageYaml {
  std::string kind;     // registered stage name, e.g. "count"
  std::string name;     // `name:` if given
  YAML::Node params;    // the stage's own keys (everything but "stage" and "name")
  SourcePos pos;
  std::string path;     // YAML path for errors, e.g. "routers[0].ports[1].ingress[0]"
};

// A stage's params as a YamlMap named by the spec's path, positioned at the spec when the params
// have no mark of their own (a stage written as a bare name has an empty params map).
YamlMap stage_params(const StageYaml& spec, const std::string& file);

template <typename T>
T YamlMap::get_in(std::string_view key, T lo, T hi) {
  if constexpr (std::is_signed_v<T>) {
    return static_cast<T>(get_ranged(key, static_cast<long long>(lo), static_cast<long long>(hi)));
  } else {
    return static_cast<T>(
        get_ranged(key, static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi)));
  }
}

template <typename T>
T YamlMap::get_or_in(std::string_view key, T fallback, T lo, T hi) {
  return has(key) ? get_in<T>(key, lo, hi) : fallback;
}

}  // namespace pathlab
