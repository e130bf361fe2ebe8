#pragma once
// The behaviour-discovery client (RFC 5780 §4): mapping, filtering, hairpinning, port
// preservation and, when asked, the binding lifetime, against a server with two addresses and
// two ports. Each test that must not see another's NAT state has a socket of its own.
#include <optional>
#include <stdexcept>
#include <vector>

#include "pathlab/natprobe/classify.hpp"
#include "pathlab/natprobe/transport.hpp"

namespace pathlab::natprobe {

struct ClientOptions {
  Endpoint server;          // the primary address and port
  uint16_t local_port = 0;  // the mapping tests' socket; 0: the kernel's choice
  Timing timing;
  bool lifetime = false;
  double lifetime_start_s = 1;  // the first gap; doubled until a binding expires
  double max_lifetime_s = 60;
};

// §4.6: fresh bindings left idle for `gap_s`, then asked whether they still let the server in.
struct LifetimeProbe {
  double gap_s = 0;
  bool alive = false;
};
struct Lifetime {
  std::optional<double> alive_s;    // the longest gap a binding survived
  std::optional<double> expired_s;  // the shortest gap one did not (none up to the maximum)
  std::vector<LifetimeProbe> probes;
};

struct Report {
  Endpoint server, other, local;  // other: the server's OTHER-ADDRESS
  std::optional<Endpoint> mapped;
  Mapping mapping = Mapping::Unknown;
  Filtering filtering = Filtering::Unknown;
  std::optional<bool> hairpinning;
  bool port_preservation = false;
  std::optional<Lifetime> lifetime;
  std::vector<TestResult> tests;  // in the order run
  std::vector<std::string> notes;
  bool unanswered = false;        // a test that needs an answer got none
};

// No answer at all from the server (test I).
struct NoAnswer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Report discover(const ClientOptions& o);

}  // namespace pathlab::natprobe
