#pragma once
// The links of a running dataplane, for the control path (docs/links.md, "Control"): every `link`
// stage of a port's egress chain (one instance per worker) as one link direction; down/up and
// parameter changes by name; the config's timed events; what telemetry reports about them.
// Configuration and control time only, never on a worker.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pathlab/config/config.hpp"
#include "pathlab/stages/link.hpp"
#include "pathlab/stats/stats.hpp"

namespace pathlab {

class Router;

// The Link instances of a router port's egress chains: one entry per link stage, in chain order,
// each with its instance of every worker [0, workers) (dynamic_cast on the chains' stages).
std::vector<std::vector<Link*>> egress_links(const Router& r, uint8_t port, unsigned workers);

// The ring link of port "router.port" and its direction there ("a_to_b" at the link's first end,
// "b_to_a" at its second); {"", "egress"} for a port in no link.
std::pair<std::string, std::string> link_direction(const Config& cfg, std::string_view port);

// Fills LinkTotalsRow::link and ::direction of every router's link rows from the config.
void name_link_directions(std::vector<RouterTotals>& totals, const Config& cfg);

class LinkControl {
 public:
  using Change = std::function<LinkParams(const LinkParams& current)>;

  // Reads each instance's parameters: call before the workers start.
  LinkControl(const Config& cfg, const std::vector<Router*>& routers, unsigned workers);

  // ---- The control path's thread (the main lcore) only: it alone changes links.
  //
  // Targets: "router.port" or a link name (`links[].name`).
  // Down or up: "router.port" is that port's egress link and, when the port is a ring link's
  // end, the other end's egress link too; a link name is both directions. Every direction named
  // must have a link stage. Returns "" when done, else why nothing was done.
  std::string set_down(std::string_view target, bool down);
  // The parameters `change(current)` on every link instance of the target ("router.port": that
  // port's egress links; a link name: each direction that has one). All or nothing: "" when
  // done, else the first error (a ConfigError's text) and nothing changed.
  std::string set_params(std::string_view target, const Change& change);
  // A /pathlab/link command: "TARGET down", "TARGET up" or "TARGET set KEY=VALUE ..." (a value
  // may be a flow map: aqm={type: codel, ecn: true}). Returns "ok" or "error: ...".
  std::string command(std::string_view text);
  // Runs the config's events due at `since_start` (time since forwarding started), in order,
  // with a log line each on stdout.
  void run_events(Nanos since_start);
  size_t events_left() const { return events_.size() - next_event_; }

  // ---- Any thread.
  std::vector<LinkReport> report() const;
  size_t size() const { return dirs_.size(); }

  // "set KEY=VALUE ..." arguments as YAML block text ("KEY: VALUE" lines); "" and `err` set when
  // they are not KEY=VALUE words.
  static std::string set_args_yaml(std::string_view args, std::string& err);

 private:
  struct Direction {
    Router* router = nullptr;
    uint8_t port = 0;
    std::string name;       // "r1.east"
    std::string stage;      // the stage's name in the chain ("link" for link:)
    std::string link;       // the ring link, or ""
    std::string direction;  // "a_to_b", "b_to_a" or "egress"
    std::vector<Link*> instances;     // one per worker
    std::vector<LinkParams> params;   // what each instance was last given (under mu_)
  };
  std::vector<size_t> find(std::string_view target, bool whole, std::string& err) const;
  // The route hook: a link direction on (router, port) went down or came up.
  static void port_link_changed(Router& r, uint8_t port, bool up);

  std::vector<Router*> routers_;
  std::vector<Direction> dirs_;
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> rings_;  // name -> ends
  std::map<std::string, std::string, std::less<>> port_ring_;  // "router.port" -> ring link
  std::vector<LinkEvent> events_;
  size_t next_event_ = 0;
  mutable std::mutex mu_;  // params, read by report() on the telemetry thread
};

}  // namespace pathlab
