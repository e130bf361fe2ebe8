#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "pathlab/config/config.hpp"

namespace pathlab {

// A configuration error: what() reads "file:line:column: key: message".
// When the position is unknown (line 0) it reads "file: key: message"; a YAML syntax error has
// no key and reads "file:line:column: message". Lines and columns are 1-based.
// File, key and message are shown through escape_bytes(); message() and key() hold that form.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const SourcePos& pos, std::string key, std::string message);
  const SourcePos& pos() const { return pos_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }

 private:
  SourcePos pos_;
  std::string key_;
  std::string message_;
};

// Text safe to print: NUL, control bytes (C0, DEL, and C1 as UTF-8) and bytes that are not
// valid UTF-8 become \xNN; valid UTF-8 passes through.
std::string escape_bytes(std::string_view s);

}  // namespace pathlab
