// Benchmark main: EAL first (no hugepages, no PCI, lcores 0 and 1, a per-process file prefix),
// then Google Benchmark with the command line it was given.
//   PATHLAB_BENCH_EAL="..."  replaces the EAL arguments (space-separated)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rte_eal.h>

#include "common.hpp"
#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab::bench {
namespace {
std::vector<std::function<void()>>& hooks() {
  static std::vector<std::function<void()>> h;
  return h;
}
}  // namespace

void at_teardown(std::function<void()> fn) { hooks().push_back(std::move(fn)); }

}  // namespace pathlab::bench

int main(int argc, char** argv) {
  std::vector<std::string> eal{argv[0]};
  if (const char* env = std::getenv("PATHLAB_BENCH_EAL"); env != nullptr && *env != '\0') {
    std::istringstream in(env);
    for (std::string a; in >> a;) eal.push_back(a);
  } else {
    eal.insert(eal.end(), {"--no-huge", "-m", "1024", "--no-pci", "-l", "0,1", "--no-telemetry",
                           "--log-level", "lib.eal:error", "--file-prefix",
                           fmt::format("plbench{}", getpid())});
  }
  std::vector<char*> eargv;
  for (auto& a : eal) eargv.push_back(a.data());
  eargv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(eal.size()), eargv.data()) < 0) {
    std::fprintf(stderr, "bench: EAL initialisation failed\n");
    return 1;
  }
  pathlab::init_packet_view();
  pathlab::remove_runtime_dir_at_exit();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  auto& h = pathlab::bench::hooks();
  for (auto it = h.rbegin(); it != h.rend(); ++it) (*it)();
  h.clear();
  rte_eal_cleanup();
  return 0;
}
