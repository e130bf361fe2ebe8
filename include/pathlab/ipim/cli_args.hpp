#pragma once
// Command-line parsing shared by the host tools (pathlab-probe, pathlab-natprobe): --key value
// and --flag arguments after a subcommand, numbers and durations. Bad input throws UsageError.
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace pathlab::ipim {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  Args(int argc, char** argv, int first, const std::vector<std::string>& flags,
       const std::vector<std::string>& valued);
  bool has(const std::string& k) const { return set_.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = set_.find(k);
    return it == set_.end() ? def : it->second;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> set_;
  std::vector<std::string> positional_;
};

unsigned long parse_uint(const std::string& s, const std::string& what, unsigned long max,
                         unsigned long min = 0);
// "0.1", "0.1s", "100ms", "250us", "2m" -> seconds.
double parse_duration(const std::string& s, const std::string& what);

// A subcommand tool's main: the usage for no arguments (exit 2) or -h/--help (exit 0); else
// `run(subcommand)`'s exit code, with UsageError reported with the usage (exit 2) and any other
// exception as "tool: what" (exit 1).
int tool_main(int argc, char** argv, const char* tool, const char* usage,
              const std::function<int(const std::string&)>& run);

}  // namespace pathlab::ipim
