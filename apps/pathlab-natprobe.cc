// pathlab-natprobe: NAT behaviour discovery (RFC 5780) over STUN (RFC 5389), docs/natprobe.md.
// `server` answers Binding requests on two addresses and two ports; `client` classifies the NAT
// between itself and such a server. Plain Linux UDP sockets, no DPDK.
#include <csignal>
#include <string>

#include <fmt/format.h>

#include "pathlab/ipim/cli_args.hpp"
#include "pathlab/natprobe/discovery.hpp"
#include "pathlab/natprobe/report.hpp"
#include "pathlab/natprobe/server.hpp"

namespace {

using namespace pathlab::natprobe;
using pathlab::ipim::Args;
using pathlab::ipim::parse_duration;
using pathlab::ipim::parse_uint;
using pathlab::ipim::UsageError;

constexpr int kExitNoAnswer = 3;  // 1 runtime error, 2 bad arguments: tool_main

const char* kUsage = R"(usage:
  pathlab-natprobe server --primary A1 --alternate A2 [--port 3478] [--alt-port 3479]
                          [--count N] [--duration D] [--verbose]
  pathlab-natprobe client --server A1 [--port 3478] [--local-port N] [--json]
                          [--timeout 1s] [--rto 100ms] [--lifetime] [--lifetime-start 1s]
                          [--max-lifetime 60s]
exit: 0 done, 1 runtime error, 2 bad arguments, 3 a needed answer did not come
)";

Endpoint address(const Args& a, const std::string& key, uint16_t port) {
  const std::string s = a.get(key);
  if (s.empty()) throw UsageError(key + " ADDR is needed");
  const auto e = parse_ip(s, port);
  if (!e) throw UsageError(fmt::format("{}: '{}' is not a numeric IPv4 or IPv6 address", key, s));
  return *e;
}

uint16_t port(const Args& a, const std::string& key, const std::string& def, unsigned long min = 1) {
  return static_cast<uint16_t>(parse_uint(a.get(key, def), key, 65535, min));
}

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) { g_stop = 1; }

int cmd_server(const Args& a) {
  if (!a.positional().empty()) throw UsageError("server: unexpected argument " + a.positional()[0]);
  const uint16_t p1 = port(a, "--port", "3478"), p2 = port(a, "--alt-port", "3479");
  const Endpoint primary = address(a, "--primary", p1), alternate = address(a, "--alternate", p1);
  if (primary.ip6 != alternate.ip6) throw UsageError("--primary and --alternate: one address family");
  if (primary.same_ip(alternate) || p1 == p2) throw UsageError("the two addresses and the two ports must differ");
  ServerOptions o;
  o.addresses = server_addresses(primary, alternate, p1, p2);
  o.count = parse_uint(a.get("--count", "0"), "--count", ~0ul);
  o.duration_s = parse_duration(a.get("--duration", "0"), "--duration");
  o.verbose = a.has("--verbose");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const uint64_t n = serve(o, &g_stop);
  fmt::print(stderr, "pathlab-natprobe server: sent {} answer(s)\n", n);
  return 0;
}

int cmd_client(const Args& a) {
  if (!a.positional().empty()) throw UsageError("client: unexpected argument " + a.positional()[0]);
  ClientOptions o;
  o.server = address(a, "--server", port(a, "--port", "3478"));
  o.local_port = port(a, "--local-port", "0", 0);
  o.timing.timeout_s = parse_duration(a.get("--timeout", "1s"), "--timeout");
  o.timing.rto_s = parse_duration(a.get("--rto", "100ms"), "--rto");
  if (o.timing.timeout_s <= 0 || o.timing.rto_s <= 0) throw UsageError("--timeout and --rto must be positive");
  o.lifetime = a.has("--lifetime");
  o.lifetime_start_s = parse_duration(a.get("--lifetime-start", "1s"), "--lifetime-start");
  o.max_lifetime_s = parse_duration(a.get("--max-lifetime", "60s"), "--max-lifetime");
  if (o.lifetime_start_s <= 0 || o.lifetime_start_s > o.max_lifetime_s)
    throw UsageError("--lifetime-start must be positive and at most --max-lifetime");
  const Report r = discover(o);
  fmt::print("{}", a.has("--json") ? report_json(r) + "\n" : report_text(r));
  return r.unanswered ? kExitNoAnswer : 0;
}

}  // namespace

int main(int argc, char** argv) {
  return pathlab::ipim::tool_main(argc, argv, "pathlab-natprobe", kUsage, [&](const std::string& cmd) {
    if (cmd == "server")
      return cmd_server(Args(argc, argv, 2, {"--verbose"},
                             {"--primary", "--alternate", "--port", "--alt-port", "--count", "--duration"}));
    if (cmd == "client") {
      try {
        return cmd_client(Args(argc, argv, 2, {"--json", "--lifetime"},
                               {"--server", "--port", "--local-port", "--timeout", "--rto",
                                "--lifetime-start", "--max-lifetime"}));
      } catch (const NoAnswer& e) {
        fmt::print(stderr, "pathlab-natprobe: {}\n", e.what());
        return kExitNoAnswer;
      }
    }
    throw UsageError("unknown subcommand " + cmd);
  });
}
