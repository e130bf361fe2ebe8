#pragma once
// A small JSON writer for pathlab-probe's output: objects and lists built as strings, keys in
// the order they are added.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include <fmt/format.h>

namespace pathlab::ipim {

std::string json_quote(const std::string& s);

class JsonObject {
 public:
  JsonObject& raw(const std::string& key, const std::string& json) {
    s_ += fmt::format("{}{}:{}", s_.empty() ? "" : ",", json_quote(key), json);
    return *this;
  }
  JsonObject& add(const std::string& key, bool v) { return raw(key, v ? "true" : "false"); }
  JsonObject& add(const std::string& key, const char* v) { return raw(key, json_quote(v)); }
  JsonObject& add(const std::string& key, const std::string& v) { return raw(key, json_quote(v)); }
  JsonObject& add(const std::string& key, double v) {
    return raw(key, std::isfinite(v) ? fmt::format("{}", v) : "null");
  }
  template <typename T>
    requires std::is_integral_v<T>
  JsonObject& add(const std::string& key, T v) { return raw(key, fmt::format("{}", v)); }
  template <typename T>
  JsonObject& add(const std::string& key, const std::optional<T>& v) {
    return v ? add(key, *v) : raw(key, "null");
  }
  std::string str() const { return "{" + s_ + "}"; }

 private:
  std::string s_;
};

class JsonList {
 public:
  JsonList& raw(const std::string& json) {
    s_ += (s_.empty() ? "" : ",") + json;
    return *this;
  }
  std::string str() const { return "[" + s_ + "]"; }

 private:
  std::string s_;
};

}  // namespace pathlab::ipim
