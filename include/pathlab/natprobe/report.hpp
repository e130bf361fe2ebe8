#pragma once
// pathlab-natprobe client's output: text for a person, JSON for programs (docs/natprobe.md).
#include <string>

#include "pathlab/natprobe/discovery.hpp"

namespace pathlab::natprobe {

std::string report_text(const Report& r);
std::string report_json(const Report& r);

}  // namespace pathlab::natprobe
