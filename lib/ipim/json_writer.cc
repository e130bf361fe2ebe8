// JSON string quoting for pathlab-probe's output.
#include "pathlab/ipim/json_writer.hpp"

namespace pathlab::ipim {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += {'\\', c};
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", unsigned(c));
    else out += c;
  }
  return out + "\"";
}

}  // namespace pathlab::ipim
