#include "pathlab/config/error.hpp"

#include <fmt/format.h>

namespace pathlab {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = at(i);
  if (b < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b == 0xe0) lo = 0xa0;  // overlong
    if (b == 0xed) hi = 0x9f;  // surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b == 0xf0) lo = 0x90;  // overlong
    if (b == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((at(i + k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// "file:line:column: key: message"; the position is left out when unknown (line 0) and the key
// when empty (a YAML syntax error has no key).
std::string render(const SourcePos& pos, const std::string& key, const std::string& message) {
  std::string out = pos.file.empty() ? std::string("<config>") : escape_bytes(pos.file);
  if (pos.line > 0) out += fmt::format(":{}:{}", pos.line, pos.column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

}  // namespace

std::string escape_bytes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = utf8_length(s, i);
    // C0 controls, DEL, and C1 controls (U+0080..U+009F, C2 80..C2 9F) are escaped too.
    const bool control = (n == 1 && (b < 0x20 || b == 0x7f)) ||
                         (n == 2 && b == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0);
    if (n == 0 || control) {
      if (n == 0) n = 1;
      for (size_t k = 0; k < n; ++k) {
        out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i + k]));
      }
    } else {
      out.append(s, i, n);
    }
    i += n;
  }
  return out;
}

ConfigError::ConfigError(const SourcePos& pos, std::string key, std::string message)
    : std::runtime_error(render(pos, escape_bytes(key), escape_bytes(message))),
      pos_(pos),
      key_(escape_bytes(key)),
      message_(escape_bytes(message)) {}

}  // namespace pathlab
