#pragma once
#include <stdexcept>
#include <string>

#include "pathlab/config/config.hpp"

namespace pathlab {

// A configuration error: what() reads "file:line:column: key: message".
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
