#pragma once
// Shared by the benchmark executables: main.cc starts EAL before any benchmark runs and tears it
// down after the last; anything holding EAL objects (mempools, rings, tables) registers a release
// hook so it is gone before rte_eal_cleanup().
#include <functional>

namespace pathlab::bench {

// Runs `fn` after the benchmarks finish and before EAL is cleaned up (last registered, first run).
void at_teardown(std::function<void()> fn);

}  // namespace pathlab::bench
