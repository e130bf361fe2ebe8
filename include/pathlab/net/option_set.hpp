#pragma once
// A set of option types (or TCP option classes), as stages configure which options to strip,
// keep or drop on; and the number form of a type in a config (decimal or 0x hex).
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pathlab {

template <unsigned N>
struct OptionSet {
  uint64_t w[(N + 63) / 64] = {};
  void add(unsigned t) { w[t / 64] |= uint64_t{1} << (t % 64); }
  bool has(unsigned t) const { return (w[t / 64] >> (t % 64)) & 1u; }
  bool empty() const {
    for (uint64_t x : w) {
      if (x != 0) return false;
    }
    return true;
  }
};

// "148" or "0x94": 0..255; nullopt for anything else.
inline std::optional<unsigned> option_type_number(std::string_view s) {
  unsigned v = 0;
  const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (hex) s.remove_prefix(2);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, hex ? 16 : 10);
  if (ec != std::errc() || p != s.data() + s.size() || v > 255) return std::nullopt;
  return v;
}

}  // namespace pathlab
