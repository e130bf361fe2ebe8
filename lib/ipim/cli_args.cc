// Command-line parsing for the host tools.
#include "pathlab/ipim/cli_args.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace pathlab::ipim {

Args::Args(int argc, char** argv, int first, const std::vector<std::string>& flags,
           const std::vector<std::string>& valued) {
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
      set_[a] = "";
    } else if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      set_[a] = argv[++i];
    } else if (a.starts_with("--")) {
      throw UsageError("unknown option " + a);
    } else {
      positional_.push_back(a);
    }
  }
}

unsigned long parse_uint(const std::string& s, const std::string& what, unsigned long max,
                         unsigned long min) {
  size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(s, &used, 0);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || s[0] == '-' || v > max || v < min)
    throw UsageError(fmt::format("{}: '{}' is not a number in {}..{}", what, s, min, max));
  return v;
}

double parse_duration(const std::string& s, const std::string& what) {
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = used ? s.substr(used) : "";
  const std::map<std::string, double> scale{{"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"m", 60}};
  if (!used || !scale.count(unit) || !(v >= 0))
    throw UsageError(fmt::format("{}: '{}' is not a duration (like 0.1s, 100ms)", what, s));
  return v * scale.at(unit);
}

int tool_main(int argc, char** argv, const char* tool, const char* usage,
              const std::function<int(const std::string&)>& run) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    fmt::print(argc < 2 ? stderr : stdout, "{}", usage);
    return argc < 2 ? 2 : 0;
  }
  try {
    return run(argv[1]);
  } catch (const UsageError& e) {
    fmt::print(stderr, "{}: {}\n{}", tool, e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", tool, e.what());
    return 1;
  }
}

}  // namespace pathlab::ipim
