#pragma once
// EAL leaves its runtime directory (/var/run/dpdk/<prefix>) behind, rte_eal_cleanup or not. Test,
// fuzz and benchmark processes, which each take a fresh prefix, remove theirs at exit.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <rte_eal.h>

namespace pathlab {

// Call after rte_eal_init.
inline void remove_runtime_dir_at_exit() {
  static std::string dir;
  if (!dir.empty()) return;
  dir = rte_eal_get_runtime_dir();
  std::atexit([] {
    std::error_code ec;  // the non-throwing overload: an exit handler must not throw
    std::filesystem::remove_all(dir, ec);
  });
}

}  // namespace pathlab
