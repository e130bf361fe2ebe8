#include "pathlab/config/error.hpp"

#include <fmt/format.h>

namespace pathlab {
namespace {

// "file:line:column: key: message"; the position is left out when unknown (line 0) and the key
// when empty (a YAML syntax error has no key).
std::string render(const SourcePos& pos, const std::string& key, const std::string& message) {
  std::string out = pos.file.empty() ? std::string("<config>") : pos.file;
  if (pos.line > 0) out += fmt::format(":{}:{}", pos.line, pos.column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

}  // namespace

ConfigError::ConfigError(const SourcePos& pos, std::string key, std::string message)
    : std::runtime_error(render(pos, key, message)),
      pos_(pos),
      key_(std::move(key)),
      message_(std::move(message)) {}

}  // namespace pathlab
