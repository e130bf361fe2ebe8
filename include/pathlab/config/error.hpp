#pragma once
#include <stdexcept>
#include <string>

#include "pathlab/config/config.hpp"

namespace pathlab {

// A configuration error: what() reads "file:line:column: key: message".
// When the position is unknown (line 0) it reads "file: key: message"; a YAML syntax error has
// no key and reads "file:line:column: message". Lines and columns are 1-based.
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

}  // namespace pathlab
