// Typed YAML reading: scalar conversion with range checks, and maps that reject unknown keys.
#include "pathlab/config/yaml_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <utility>

#include "pathlab/net/addr.hpp"

namespace pathlab {
namespace {

const char* kind_of(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return "a scalar";
}

[[noreturn]] void bad(const YAML::Node& node, const std::string& file, const std::string& path,
                      const std::string& message) {
  throw ConfigError(pos_of(node, file), path, message);
}

const std::string& scalar(const YAML::Node& node, const std::string& file, const std::string& path,
                          const char* what) {
  if (!node.IsDefined() || !node.IsScalar()) {
    bad(node, file, path, fmt::format("expected {}, got {}", what, kind_of(node)));
  }
  return node.Scalar();
}

enum class IntText { Ok, NotInt, TooBig };

// Parses a whole string as an integer: optional '-', then decimal or 0x hexadecimal digits.
// TooBig: digits whose magnitude does not fit in 64 bits.
IntText parse_int(std::string_view s, bool& neg, unsigned long long& mag) {
  neg = !s.empty() && s.front() == '-';
  if (neg) s.remove_prefix(1);
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty() || s.front() == '-' || s.front() == '+') return IntText::NotInt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), mag, base);
  if (end != s.data() + s.size()) return IntText::NotInt;
  if (ec == std::errc::result_out_of_range) return IntText::TooBig;
  return ec == std::errc() ? IntText::Ok : IntText::NotInt;
}

template <typename T>
T to_int(const YAML::Node& node, const std::string& file, const std::string& path) {
  const std::string& s = scalar(node, file, path, "an integer");
  bool neg = false;
  unsigned long long mag = 0;
  const IntText r = parse_int(s, neg, mag);
  if (r == IntText::NotInt) bad(node, file, path, fmt::format("expected an integer, got '{}'", s));
  bool fits = false;
  if (r == IntText::TooBig) {
    fits = false;
  } else if (!neg) {
    fits = std::in_range<T>(mag);
  } else if (mag <= static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
    fits = std::in_range<T>(-static_cast<long long>(mag));
  }
  if (!fits) {
    bad(node, file, path,
        fmt::format("expected an integer in {}..{}, got '{}'", +std::numeric_limits<T>::min(),
                    +std::numeric_limits<T>::max(), s));
  }
  return neg ? static_cast<T>(-static_cast<long long>(mag)) : static_cast<T>(mag);
}

}  // namespace

SourcePos pos_of(const YAML::Node& node, const std::string& file) {
  SourcePos pos{file, 0, 0};
  if (!node.IsDefined()) return pos;
  YAML::Mark m = node.Mark();
  if (m.is_null()) return pos;
  pos.line = m.line + 1;
  pos.column = m.column + 1;
  return pos;
}

template <typename T>
T convert(const YAML::Node& node, const std::string& file, const std::string& path) {
  if constexpr (std::is_same_v<T, std::string>) {
    return scalar(node, file, path, "a string");
  } else if constexpr (std::is_same_v<T, bool>) {
    const std::string& s = scalar(node, file, path, "true or false");
    bool v = false;
    if (!YAML::convert<bool>::decode(node, v)) {
      bad(node, file, path, fmt::format("expected true or false, got '{}'", s));
    }
    return v;
  } else if constexpr (std::is_integral_v<T>) {
    return to_int<T>(node, file, path);
  } else if constexpr (std::is_same_v<T, double>) {
    const std::string& s = scalar(node, file, path, "a number");
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE) {
      bad(node, file, path, fmt::format("expected a number, got '{}'", s));
    }
    return v;
  } else if constexpr (std::is_same_v<T, MacAddr>) {
    const std::string& s = scalar(node, file, path, "a MAC address");
    auto v = parse_mac(s);
    if (!v) bad(node, file, path, fmt::format("invalid MAC address '{}'", s));
    return *v;
  } else if constexpr (std::is_same_v<T, Ip4Addr>) {
    const std::string& s = scalar(node, file, path, "an IPv4 address");
    auto v = parse_ip4(s);
    if (!v) bad(node, file, path, fmt::format("invalid IPv4 address '{}'", s));
    return *v;
  } else if constexpr (std::is_same_v<T, Ip6Addr>) {
    const std::string& s = scalar(node, file, path, "an IPv6 address");
    auto v = parse_ip6(s);
    if (!v) bad(node, file, path, fmt::format("invalid IPv6 address '{}'", s));
    return *v;
  } else if constexpr (std::is_same_v<T, Ip4Prefix>) {
    const std::string& s = scalar(node, file, path, "an IPv4 prefix");
    auto v = parse_ip4_prefix(s, false);
    if (!v)
      bad(node, file, path, fmt::format("invalid IPv4 prefix '{}' (expected a.b.c.d/len)", s));
    return *v;
  } else if constexpr (std::is_same_v<T, Ip6Prefix>) {
    const std::string& s = scalar(node, file, path, "an IPv6 prefix");
    auto v = parse_ip6_prefix(s, false);
    if (!v) bad(node, file, path, fmt::format("invalid IPv6 prefix '{}' (expected addr/len)", s));
    return *v;
  } else {
    static_assert(sizeof(T) == 0, "unsupported type");
  }
}

YamlMap::YamlMap(const YAML::Node& node, std::string file, std::string path)
    : YamlMap(node, file, std::move(path), SourcePos{file, 0, 0}) {}

YamlMap::YamlMap(const YAML::Node& node, std::string file, std::string path, SourcePos fallback)
    : node_(node), file_(std::move(file)), path_(std::move(path)) {
  pos_ = pos_of(node, file_);
  if (pos_.line == 0) pos_ = std::move(fallback);
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    throw ConfigError(pos_, path_, fmt::format("expected a map, got {}", kind_of(node)));
  }
  for (const auto& kv : node) {
    YAML::Node k = kv.first;
    if (!k.IsScalar()) {
      throw ConfigError(pos_of(k, file_), path_, "map keys must be plain names");
    }
    if (find(k.Scalar()) != nullptr) {
      throw ConfigError(pos_of(k, file_), this->path(k.Scalar()), "duplicate key");
    }
    entries_.push_back(Entry{k.Scalar(), k, kv.second});
  }
}

const YamlMap::Entry* YamlMap::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

bool YamlMap::has(std::string_view key) const { return find(key) != nullptr; }

const YAML::Node& YamlMap::value(std::string_view key) {
  const Entry* e = find(key);
  if (e == nullptr) fail(key, "missing required key");
  read_.emplace(key);
  // `key:` with nothing after it; pos() points at the key, not at whatever follows.
  if (e->value.IsNull()) fail(key, "missing value");
  return e->value;
}

template <typename T>
T YamlMap::get(std::string_view key) {
  return convert<T>(value(key), file_, path(key));
}

template <typename T>
T YamlMap::get_or(std::string_view key, T fallback) {
  return has(key) ? get<T>(key) : fallback;
}

template <typename T>
std::optional<T> YamlMap::maybe(std::string_view key) {
  if (!has(key)) return std::nullopt;
  return get<T>(key);
}

std::vector<YamlMap::Item> YamlMap::items(std::string_view key, bool scalar_ok) {
  std::vector<Item> out;
  const Entry* e = find(key);
  if (e == nullptr) return out;
  read_.emplace(key);
  const YAML::Node& v = e->value;
  if (v.IsNull()) return out;
  if (v.IsScalar() && scalar_ok) {
    out.push_back(Item{v, path(key), pos_of(v, file_)});
    return out;
  }
  if (!v.IsSequence()) fail(key, fmt::format("expected a list, got {}", kind_of(v)));
  size_t i = 0;
  for (const auto& child : v) {
    out.push_back(Item{child, fmt::format("{}[{}]", path(key), i), pos_of(child, file_)});
    ++i;
  }
  return out;
}

template <typename T>
std::vector<T> YamlMap::list(std::string_view key) {
  std::vector<T> out;
  for (const auto& item : items(key, true)) out.push_back(convert<T>(item.node, file_, item.path));
  return out;
}

YAML::Node YamlMap::node(std::string_view key) {
  const Entry* e = find(key);
  if (e == nullptr) return YAML::Node(YAML::NodeType::Undefined);
  read_.emplace(key);
  return e->value;
}

std::string YamlMap::path(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return fmt::format("{}.{}", path_, key);
}

SourcePos YamlMap::pos(std::string_view key) const {
  const Entry* e = find(key);
  if (e == nullptr) return pos_;
  if (!e->value.IsNull()) {
    SourcePos p = pos_of(e->value, file_);
    if (p.line != 0) return p;
  }
  SourcePos p = pos_of(e->key_node, file_);
  return p.line != 0 ? p : pos_;
}

void YamlMap::fail(std::string_view key, const std::string& message) const {
  throw ConfigError(pos(key), path(key), message);
}

void YamlMap::done() const {
  for (const auto& e : entries_) {
    if (read_.find(e.key) == read_.end()) {
      SourcePos p = pos_of(e.key_node, file_);
      throw ConfigError(p.line != 0 ? p : pos_, path(e.key), "unknown key");
    }
  }
}

void YamlMap::only(std::initializer_list<std::string_view> keys) const {
  only_keys(std::span<const std::string_view>(keys.begin(), keys.size()));
}

void YamlMap::only_keys(std::span<const std::string_view> keys) const {
  for (const auto& e : entries_) {
    if (std::find(keys.begin(), keys.end(), e.key) == keys.end()) {
      SourcePos p = pos_of(e.key_node, file_);
      throw ConfigError(p.line != 0 ? p : pos_, path(e.key), "unknown key");
    }
  }
}

long long YamlMap::get_ranged(std::string_view key, long long lo, long long hi) {
  const YAML::Node& n = value(key);
  const std::string& s = scalar(n, file_, path(key), "an integer");
  bool neg = false;
  unsigned long long mag = 0;
  const IntText r = parse_int(s, neg, mag);
  if (r == IntText::NotInt)
    bad(n, file_, path(key), fmt::format("expected an integer, got '{}'", s));
  constexpr auto kMax = static_cast<unsigned long long>(std::numeric_limits<long long>::max());
  long long v = 0;
  bool fits = r == IntText::Ok && mag <= kMax + (neg ? 1 : 0);
  if (fits) v = neg ? static_cast<long long>(0 - mag) : static_cast<long long>(mag);
  if (!fits || v < lo || v > hi) fail(key, fmt::format("{} is out of range {}..{}", s, lo, hi));
  return v;
}

unsigned long long YamlMap::get_ranged(std::string_view key, unsigned long long lo,
                                       unsigned long long hi) {
  const YAML::Node& n = value(key);
  const std::string& s = scalar(n, file_, path(key), "an integer");
  bool neg = false;
  unsigned long long mag = 0;
  const IntText r = parse_int(s, neg, mag);
  if (r == IntText::NotInt)
    bad(n, file_, path(key), fmt::format("expected an integer, got '{}'", s));
  if (r != IntText::Ok || (neg && mag != 0) || mag < lo || mag > hi) {
    fail(key, fmt::format("{} is out of range {}..{}", s, lo, hi));
  }
  return mag;
}

YamlMap stage_params(const StageYaml& spec, const std::string& file) {
  return YamlMap(spec.params, file, spec.path, spec.pos);
}

#define PATHLAB_YAML_TYPE(T)                                                        \
  template T convert<T>(const YAML::Node&, const std::string&, const std::string&); \
  template T YamlMap::get<T>(std::string_view);                                     \
  template T YamlMap::get_or<T>(std::string_view, T);                               \
  template std::optional<T> YamlMap::maybe<T>(std::string_view);                    \
  template std::vector<T> YamlMap::list<T>(std::string_view);

PATHLAB_YAML_TYPE(std::string)
PATHLAB_YAML_TYPE(bool)
PATHLAB_YAML_TYPE(signed char)
PATHLAB_YAML_TYPE(unsigned char)
PATHLAB_YAML_TYPE(short)
PATHLAB_YAML_TYPE(unsigned short)
PATHLAB_YAML_TYPE(int)
PATHLAB_YAML_TYPE(unsigned int)
PATHLAB_YAML_TYPE(long)
PATHLAB_YAML_TYPE(unsigned long)
PATHLAB_YAML_TYPE(long long)
PATHLAB_YAML_TYPE(unsigned long long)
PATHLAB_YAML_TYPE(double)
PATHLAB_YAML_TYPE(MacAddr)
PATHLAB_YAML_TYPE(Ip4Addr)
PATHLAB_YAML_TYPE(Ip6Addr)
PATHLAB_YAML_TYPE(Ip4Prefix)
PATHLAB_YAML_TYPE(Ip6Prefix)

#undef PATHLAB_YAML_TYPE

}  // namespace pathlab
