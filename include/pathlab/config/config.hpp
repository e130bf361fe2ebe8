#pragma once
// The configuration model: what a config file describes, after parsing and validation.
// One file holds the process settings, one or more routers, and the links between them.
// See docs/config.md for the YAML form and the defaults.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pathlab/engine/stage.hpp"
#include "pathlab/net/addr.hpp"
#include "pathlab/stages/link.hpp"

namespace pathlab {

// Where a value came from, for error messages: file:line:column (1-based).
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
};

// One stage in a port's chain: its parameters parsed once, at load, into a builder.
struct StageSpec {
  std::string kind;     // registered stage name, e.g. "count"
  std::string name;     // unique in its chain: `name:`, else the kind (kind_N when repeated)
  StageBuilder build;   // one instance per worker
  SourcePos pos;
  std::string path;     // YAML path for errors, e.g. "routers[0].ports[1].ingress[0]"
};

struct PortConfig {
  std::string name;
  std::string device;   // EAL device: a PCI address or a vdev string; empty for a link port
  std::string link;     // the link this port is an end of (filled in from `links`)
  MacAddr mac;          // zero: take the device's MAC
  std::vector<Ip4Prefix> ipv4;  // interface addresses with their subnet length
  std::vector<Ip6Prefix> ipv6;
  uint16_t mtu = 1500;
  uint16_t rx_queues = 1;
  std::vector<StageSpec> ingress;
  std::vector<StageSpec> egress;
  // The configured parameters of every `link` stage in `egress`, in chain order: the one from
  // `link:` (on the port or on its link, always last) and any written as `- stage: link`. Seeds
  // are not resolved here. For checking link events at load (docs/links.md, "Events").
  std::vector<LinkParams> egress_links;
  SourcePos pos;
};

struct Route4 {
  Ip4Prefix prefix;
  std::optional<Ip4Addr> via;   // next hop; none means directly connected through `port`
  std::string port;             // required when via is absent; else resolved from the via subnet
  uint32_t metric = 0;          // lowest wins among routes to one prefix whose port is up
  SourcePos pos;
};

struct Route6 {
  Ip6Prefix prefix;
  std::optional<Ip6Addr> via;
  std::string port;
  uint32_t metric = 0;
  SourcePos pos;
};

struct Neighbour4 {
  std::string port;
  Ip4Addr ip;
  MacAddr mac;
};

struct Neighbour6 {
  std::string port;
  Ip6Addr ip;
  MacAddr mac;
};

struct RouterConfig {
  std::string id;
  uint32_t asn = 0;
  std::vector<PortConfig> ports;
  std::vector<Route4> routes4;
  std::vector<Route6> routes6;
  std::vector<Neighbour4> neighbours4;
  std::vector<Neighbour6> neighbours6;
  SourcePos pos;
};

// A link joins two router ports of this process through a pair of rte_rings.
struct LinkConfig {
  std::string name;
  std::string a_router, a_port;
  std::string b_router, b_port;
  uint32_t ring_size = 1024;
  SourcePos pos;
};

// A (router, port, rx queue) polled by a worker.
struct PollSpec {
  std::string router;
  std::string port;
  uint16_t queue = 0;
};

struct WorkerConfig {
  unsigned lcore = 0;
  std::vector<PollSpec> poll;
  SourcePos pos;
};

enum class IdlePolicy : uint8_t { Adaptive, Spin };

struct ProcessConfig {
  std::vector<WorkerConfig> workers;     // empty: one worker on the first worker lcore polls all
  IdlePolicy idle = IdlePolicy::Adaptive;
  uint32_t mbufs = 16383;
  uint32_t mbuf_cache = 256;
  uint16_t burst = 32;                   // 1..256
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint32_t icmp_rate = 1000;             // ICMP errors per second per worker
  uint32_t icmp_burst = 50;
  // Neighbour resolution (ARP / ND)
  uint32_t nd_retries = 3;
  uint32_t nd_retry_ms = 1000;
  uint32_t nd_hold_packets = 16;         // per unresolved neighbour
  uint32_t nd_reachable_s = 300;         // learnt entries expire after this
  uint32_t nd_max_entries = 4096;        // per router; the least useful entry is evicted
  uint32_t nd_probe_rate = 1000;         // ARP requests + solicitations per second per router
  uint32_t nd_probe_burst = 100;
};

// A timed change of a link, run by the main thread (docs/links.md, "Events").
struct LinkEvent {
  Nanos at = 0;          // after the start of forwarding
  std::string target;    // "router.port" (that port's egress link) or a link name (both ways)
  std::optional<bool> down;  // down: true / false; or
  // set: the change's keys over the parameters a link instance has then (throws ConfigError
  // naming the event's file position); empty for down/up.
  std::function<LinkParams(const LinkParams& current)> set;
  std::string what;      // for the log: "down", "up", "set {rate: 10mbit}"
  SourcePos pos;
  std::string path;      // "events[2]"
};

struct Config {
  std::string file;
  ProcessConfig process;
  std::vector<RouterConfig> routers;
  std::vector<LinkConfig> links;
  std::vector<LinkEvent> events;  // sorted by `at`; ties in file order
};

}  // namespace pathlab
