// pathlab: the dataplane. EAL arguments, then `--`, then the app's own options.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <rte_eal.h>

#include "pathlab/config/error.hpp"
#include "pathlab/config/loader.hpp"
#include "pathlab/engine/dataplane.hpp"
#include "pathlab/replay/replay.hpp"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};  // the first stop signal

void on_signal(int sig) {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  g_stop = true;
}

// Replay: SIGINT, SIGTERM and SIGHUP stop it as they stop a live run; SIGHUP stays ignored if it
// was (nohup).
void catch_stop_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  struct sigaction hup {};
  if (sigaction(SIGHUP, nullptr, &hup) != 0 || hup.sa_handler != SIG_IGN) std::signal(SIGHUP, on_signal);
}

// EAL leaves its runtime directory (empty with --no-shconf) behind: removed if empty.
void remove_runtime_dir(const std::string& dir) {
  if (!dir.empty()) rmdir(dir.c_str());
}

constexpr const char* kUsage =
    "usage: pathlab [EAL options] -- --config FILE [options]\n"
    "  --config FILE            routers, links and workers (YAML)\n"
    "  --validate               check the config and exit\n"
    "  --duration SECONDS       stop after this long (default: until SIGINT/SIGTERM/SIGHUP)\n"
    "  --stats-interval SECONDS print a stats line this often (default 1, 0 = never)\n"
    "  --pipelines DIR          where {pipeline: NAME} looks first (repeatable)\n"
    "   or: pathlab replay --config FILE --in IN.pcap --out OUT.pcap [options]  (docs/replay.md)\n";

constexpr const char* kReplayUsage =
    "usage: pathlab replay --config FILE --in IN.pcap --out OUT.pcap [options]\n"
    "  Pushes a capture through the config's routers without any device and writes what each\n"
    "  device port would send to OUT.<router>.<port>.pcap (OUT without its .pcap suffix).\n"
    "  --router ID              router the capture arrives at (default: the first)\n"
    "  --port NAME              port it arrives on (default: the router's first port)\n"
    "  --threads N              processing threads (default: hardware threads, at most 16)\n"
    "  --chunk PACKETS          packets per chunk (default 1024, a multiple of process.burst)\n"
    "  --pipelines DIR          where {pipeline: NAME} looks first (repeatable)\n"
    "  --set-dst-mac            give unicast input frames the ingress port's MAC as destination\n"
    "                           (a trace captured in front of another device)\n"
    "  --json                   print the summary as one JSON line\n";

struct Options {
  std::string config;
  bool validate = false;
  double duration = 0;
  double stats_interval = 1;
  std::vector<std::string> pipelines;
};

double parse_seconds(const std::string& opt, const char* v) {
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || d < 0) {
    fmt::print(stderr, "pathlab: {} wants a number of seconds, not '{}'\n", opt, v);
    std::exit(2);
  }
  return d;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        fmt::print(stderr, "pathlab: {} needs a value\n{}", a, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config") {
      o.config = value();
    } else if (a == "--validate") {
      o.validate = true;
    } else if (a == "--duration") {
      o.duration = parse_seconds(a, value());
    } else if (a == "--stats-interval") {
      o.stats_interval = parse_seconds(a, value());
    } else if (a == "--pipelines") {
      o.pipelines.emplace_back(value());
    } else if (a == "--help" || a == "-h") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else {
      fmt::print(stderr, "pathlab: unknown option '{}'\n{}", a, kUsage);
      std::exit(2);
    }
  }
  if (o.config.empty()) {
    fmt::print(stderr, "pathlab: --config is required\n{}", kUsage);
    std::exit(2);
  }
  return o;
}

unsigned parse_count(const std::string& opt, const char* v) {
  char* end = nullptr;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (end == v || *end != '\0' || n == 0 || n > (1ul << 20)) {
    fmt::print(stderr, "pathlab replay: {} wants a positive number, not '{}'\n", opt, v);
    std::exit(2);
  }
  return static_cast<unsigned>(n);
}

// `pathlab replay ...`: no EAL options; replay starts EAL itself without devices.
int replay_main(int argc, char** argv) {
  pathlab::ReplayOptions ro;
  std::string config;
  std::vector<std::string> pipelines;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        fmt::print(stderr, "pathlab replay: {} needs a value\n{}", a, kReplayUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config") {
      config = value();
    } else if (a == "--in") {
      ro.in = value();
    } else if (a == "--out") {
      ro.out = value();
    } else if (a == "--router") {
      ro.router = value();
    } else if (a == "--port") {
      ro.port = value();
    } else if (a == "--threads") {
      ro.threads = parse_count(a, value());
    } else if (a == "--chunk") {
      ro.chunk = parse_count(a, value());
    } else if (a == "--pipelines") {
      pipelines.emplace_back(value());
    } else if (a == "--json") {
      ro.json = true;
    } else if (a == "--set-dst-mac") {
      ro.set_dst_mac = true;
    } else if (a == "--help" || a == "-h") {
      fmt::print("{}", kReplayUsage);
      return 0;
    } else {
      fmt::print(stderr, "pathlab replay: unknown option '{}'\n{}", a, kReplayUsage);
      return 2;
    }
  }
  if (config.empty() || ro.in.empty() || ro.out.empty()) {
    fmt::print(stderr, "pathlab replay: --config, --in and --out are required\n{}", kReplayUsage);
    return 2;
  }
  pathlab::Config cfg;
  try {
    for (auto& d : pathlab::default_pipeline_dirs(config)) pipelines.push_back(d);
    cfg = pathlab::load_config(config, pipelines);
  } catch (const pathlab::ConfigError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
  // From here on a stop signal ends the replay cleanly: summary, whole outputs (docs/replay.md).
  ro.stop = &g_signal;
  catch_stop_signals();
  const std::vector<std::string> eal = pathlab::replay_eal_args(cfg, ro);
  std::vector<char*> eal_argv;
  for (const auto& s : eal) eal_argv.push_back(const_cast<char*>(s.c_str()));
  // EAL pins this thread to lcore 0; TBB's threads inherit and count the CPUs from it.
  cpu_set_t cpus;
  const bool have_cpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0;
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    fmt::print(stderr, "pathlab replay: EAL initialisation failed\n");
    remove_runtime_dir(rte_eal_get_runtime_dir());
    return 1;
  }
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  if (have_cpus) pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
  int rc = 0;
  try {
    const pathlab::ReplayResult res = pathlab::run_replay(cfg, ro);
    if (!res.balanced) {
      fmt::print(stderr, "pathlab replay: accounting does not balance\n");
      rc = 1;
    } else if (res.signal != 0) {
      rc = 128 + res.signal;  // as a shell reports a command the signal ended
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "pathlab replay: {}\n", e.what());
    rc = 1;
  }
  std::fflush(stdout);
  rte_eal_cleanup();
  remove_runtime_dir(runtime_dir);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "replay") == 0) return replay_main(argc - 2, argv + 2);
  int sep = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      sep = i;
      break;
    }
  }
  if (sep == argc) {
    fmt::print(stderr, "pathlab: missing `--` between EAL and pathlab options\n{}", kUsage);
    return 2;
  }
  const Options opt = parse_options(argc - sep - 1, argv + sep + 1);

  // Everything is validated before EAL or any port is touched.
  pathlab::Config cfg;
  try {
    auto dirs = opt.pipelines;
    for (auto& d : pathlab::default_pipeline_dirs(opt.config)) dirs.push_back(d);
    cfg = pathlab::load_config(opt.config, dirs);
  } catch (const pathlab::ConfigError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
  if (opt.validate) {
    fmt::print("{}: ok ({} routers, {} links)\n", opt.config, cfg.routers.size(), cfg.links.size());
    return 0;
  }

  if (rte_eal_init(sep, argv) < 0) {
    fmt::print(stderr, "pathlab: EAL initialisation failed\n");
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // SIGHUP stops it the same way (drain, summary, exit 0), unless it is ignored (nohup).
  if (std::signal(SIGHUP, on_signal) == SIG_IGN) std::signal(SIGHUP, SIG_IGN);
  int rc = 0;
  try {
    pathlab::Dataplane dp(cfg);
    dp.start();
    fmt::print("pathlab: running ({} routers)\n", cfg.routers.size());
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    dp.run(opt.duration, opt.stats_interval, g_stop);
    dp.stop();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("{}\n", dp.summary_json(secs));
    std::fflush(stdout);
  } catch (const std::exception& e) {
    fmt::print(stderr, "pathlab: {}\n", e.what());
    rc = 1;
  }
  rte_eal_cleanup();
  return rc;
}
