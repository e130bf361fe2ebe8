// pathlab-probe: the IPIM endpoint tool (docs/probe.md). `send` probes and analyses the echoes,
// `reflect` answers probes, `decode` reads IPIM packets from a pcap file. Plain Linux sockets,
// no DPDK; send and reflect need root (IP options, Hop-by-Hop headers, the raw socket).
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pathlab/ipim/analysis.hpp"
#include "pathlab/ipim/capture.hpp"
#include "pathlab/ipim/cli_args.hpp"
#include "pathlab/ipim/option_fields.hpp"
#include "pathlab/ipim/reflector.hpp"
#include "pathlab/ipim/sender.hpp"

namespace {

using namespace pathlab::ipim;

constexpr int kExitNoEcho = 3;

const char* kUsage = R"(usage:
  pathlab-probe send --to ADDR [--port 33434] [--count N] [--interval 0.1s] [--slots N]
                     [--perf|--topology] [--sample] [--target TTL | --sweep A-B] [--ttl T0]
                     [--ipv6] [--carrier option|hbh|none] [--integrity plain|sender-salt|shared-salt]
                     [--salt S] [--coverage all|none|dscp,ecn,df,flowlabel,ipid,src,dst,ports,length]
                     [--tos N] [--timeout 1s] [--json]
  pathlab-probe reflect [--port 33434] [--ipv6] [--count N | --duration D] [--salt S] [--verbose]
  pathlab-probe decode FILE.pcap [--json]
)";

SendOptions send_options(const Args& a) {
  SendOptions o;
  if (!a.positional().empty()) throw UsageError("send: unexpected argument " + a.positional()[0]);
  o.to = a.get("--to");
  if (o.to.empty()) throw UsageError("send needs --to ADDR");
  o.ip6 = a.has("--ipv6");
  o.port = static_cast<uint16_t>(parse_uint(a.get("--port", "33434"), "--port", 65535));
  o.count = static_cast<unsigned>(parse_uint(a.get("--count", "10"), "--count", 1000000, 1));
  o.interval_s = parse_duration(a.get("--interval", "0.1s"), "--interval");
  o.timeout_s = parse_duration(a.get("--timeout", "1s"), "--timeout");
  if (a.has("--perf") && a.has("--topology")) throw UsageError("--perf and --topology exclude each other");
  o.perf = a.has("--perf");
  o.sample = a.has("--sample");
  o.ttl0 = static_cast<uint8_t>(parse_uint(a.get("--ttl", "64"), "--ttl", 255, 1));
  o.tos = static_cast<uint8_t>(parse_uint(a.get("--tos", "0"), "--tos", 255));
  const unsigned most = max_slots(o.perf, o.ip6);
  o.slots = static_cast<unsigned>(parse_uint(a.get("--slots", std::to_string(most)), "--slots", most, 1));
  if (a.has("--target") && a.has("--sweep")) throw UsageError("--target and --sweep exclude each other");
  o.target_ttl = static_cast<uint8_t>(parse_uint(a.get("--target", "0"), "--target", 255));
  if (a.has("--sweep")) {
    const std::string s = a.get("--sweep");
    const size_t dash = s.find('-');
    if (dash == std::string::npos) throw UsageError("--sweep wants A-B (target TTLs)");
    const auto lo = parse_uint(s.substr(0, dash), "--sweep", 255);
    const auto hi = parse_uint(s.substr(dash + 1), "--sweep", 255);
    if (!lo || lo > hi) throw UsageError("--sweep A-B needs 1 <= A <= B <= 255");
    o.sweep = std::pair{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)};
  }
  const std::string carrier = a.get("--carrier", o.ip6 ? "hbh" : "option");
  if (carrier == "none") o.with_option = false;
  else if (carrier == "hbh" ? !o.ip6 : carrier != "option")
    throw UsageError("--carrier: 'option' (IPv4), 'hbh' (IPv6) or 'none'");
  const std::map<std::string, uint8_t> modes{{"plain", kModePlain}, {"0", kModePlain},
      {"sender-salt", kModeSenderSalt}, {"1", kModeSenderSalt},
      {"shared-salt", kModeSharedSalt}, {"2", kModeSharedSalt}};
  const std::string mode = a.get("--integrity", "plain");
  if (!modes.count(mode)) throw UsageError("--integrity: plain, sender-salt or shared-salt");
  o.mode = modes.at(mode);
  o.salt = a.get("--salt");
  if (o.mode == kModeSharedSalt && o.salt.empty()) throw UsageError("--integrity shared-salt needs --salt");
  const auto cov = parse_coverage(a.get("--coverage", "all"));
  if (!cov) throw UsageError("--coverage: a comma list of dscp,ecn,df,flowlabel,ipid,src,dst,ports,length, or all/none");
  o.coverage = *cov;
  return o;
}

int cmd_send(const Args& a) {
  const SendOptions o = send_options(a);
  const Run run = send_probes(o);
  const Analysis an = analyse(run);
  if (a.has("--json")) fmt::print("{}\n", analysis_json(an, &run));
  else fmt::print("pathlab-probe to {} port {}: {}", o.to, o.port, analysis_text(an));
  return run.echoes.empty() ? kExitNoEcho : 0;
}

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) { g_stop = 1; }

int cmd_reflect(const Args& a) {
  if (!a.positional().empty()) throw UsageError("reflect: unexpected argument " + a.positional()[0]);
  ReflectOptions o;
  o.port = static_cast<uint16_t>(parse_uint(a.get("--port", "33434"), "--port", 65535));
  o.ip6 = a.has("--ipv6");
  o.count = parse_uint(a.get("--count", "0"), "--count", ~0ul);
  o.duration_s = parse_duration(a.get("--duration", "0"), "--duration");
  o.salt = a.get("--salt");
  o.verbose = a.has("--verbose");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const uint64_t n = reflect(o, &g_stop);
  fmt::print(stderr, "pathlab-probe reflect: answered {} probe(s)\n", n);
  return 0;
}

int cmd_decode(const Args& a) {
  if (a.positional().size() != 1) throw UsageError("decode needs one FILE.pcap");
  const auto found = scan_pcap(a.positional()[0]);
  if (a.has("--json")) {
    JsonList list;
    for (const CapturedOption& c : found) list.raw(captured_json(c));
    fmt::print("{}\n", list.str());
  } else {
    for (const CapturedOption& c : found) fmt::print("{}", captured_text(c));
    fmt::print("{} IPIM packet(s)\n", found.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main(argc, argv, "pathlab-probe", kUsage, [&](const std::string& cmd) {
    if (cmd == "send")
      return cmd_send(Args(argc, argv, 2, {"--perf", "--topology", "--sample", "--ipv6", "--json"},
                           {"--to", "--port", "--count", "--interval", "--slots", "--target", "--sweep",
                            "--ttl", "--carrier", "--integrity", "--salt", "--coverage", "--tos",
                            "--timeout"}));
    if (cmd == "reflect")
      return cmd_reflect(Args(argc, argv, 2, {"--ipv6", "--verbose"},
                              {"--port", "--count", "--duration", "--salt"}));
    if (cmd == "decode") return cmd_decode(Args(argc, argv, 2, {"--json"}, {}));
    throw UsageError("unknown subcommand " + cmd);
  });
}
