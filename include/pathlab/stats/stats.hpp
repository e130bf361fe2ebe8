#pragma once
// A router's counters summed over its workers, with their paths, and every report built from
// them: telemetry, the periodic stats line, the JSON summary on exit, and replay's report. One
// source, so the four never disagree.
//
// Paths: router drop reasons and events by their own names (`fwd/ttl_exceeded`), stage counters
// as `<router>.<port>.<dir>.<stage name>.<counter>` (e.g. `r1.p0.ingress.ecn.bleached`).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pathlab {

class Link;
class Router;

struct PortTotals {
  uint64_t rx_pkts = 0, rx_bytes = 0, tx_pkts = 0, tx_bytes = 0, ctrl_tx_pkts = 0;
};

// One direction of a link: a `link` stage of a port's egress chain, summed over its instances
// (one per worker). Only what is safe to read from any thread: the stage's counters, the link's
// totals and whether it was asked to go down.
struct LinkTotalsRow {
  std::string port;       // "r1.east"
  std::string stage;      // its name in the chain: "link" for link:
  std::string link;       // the ring link it is a direction of ("" for a device port, or unknown)
  std::string direction;  // "a_to_b" / "b_to_a" on a ring link, else "egress"
  bool down = false;
  uint64_t accepted = 0;    // packets that entered the queue
  uint64_t sojourn_ns = 0;  // their summed queueing time
  uint64_t released = 0;    // packets released at a finite time
  uint64_t late_ns = 0;     // summed (release - departure time)
  uint64_t in_flight = 0;   // held now (held - released - dropped while held)
  // As the workers last published them: backlog summed, sojourn and drop/mark probability the
  // largest, departure rate summed over the instances.
  uint64_t queued_packets = 0, queued_bytes = 0, backlog_ns = 0, departure_rate_bps = 0, drop_ppm = 0;
  std::vector<std::pair<std::string, uint64_t>> counters;  // the stage's drops and actions
  uint64_t mean_sojourn_ns() const { return accepted == 0 ? 0 : sojourn_ns / accepted; }
  uint64_t mean_lateness_ns() const { return released == 0 ? 0 : late_ns / released; }
};

// The row of one link direction from its instances (any thread).
LinkTotalsRow link_row(std::span<Link* const> instances);

struct RouterTotals {
  std::string id;
  uint32_t asn = 0;
  std::vector<std::string> port_names;
  std::vector<PortTotals> ports;
  std::vector<std::pair<std::string, uint64_t>> drops;   // every named reason, router's and stages'
  std::vector<std::pair<std::string, uint64_t>> events;  // router events and stage actions
  uint64_t consumed = 0;  // handed to the control path
  uint64_t held = 0;      // held by stages right now (taken in minus released)
  uint64_t created = 0;   // packets stages made (link duplicates)
  std::vector<std::pair<std::string, uint64_t>> consumed_by;  // optional breakdown (replay)
  std::vector<LinkTotalsRow> links;  // every `link` stage of an egress chain, in port order
  uint64_t rx() const;
  uint64_t tx() const;
  uint64_t dropped() const;
  // rx + created == tx + drops + consumed + held
  bool balanced() const { return rx() + created == tx() + dropped() + consumed + held; }
  uint64_t drop(std::string_view name) const;
  uint64_t event(std::string_view name) const;
};

// Counters summed over every counter slot; stage counters over the first `workers` chains.
RouterTotals router_totals(const Router& r, unsigned workers);

// Per-port fields a report adds to the JSON of port i (e.g. replay's output file), as
// `"key":value` text without braces; empty for none.
using PortJsonExtra = std::function<std::string(size_t port)>;

// {"id":..,"asn":..,"ports":[..],"drops":{..},"events":{..},"consumed":N,"held":N,
//  "links":[..] (only with link stages),
//  "accounting":{"rx":..,"tx":..,"drops":..,"consumed":..,"held":..,"balanced":..}}
std::string router_json(const RouterTotals& t, const PortJsonExtra& extra = {});
// The mbuf pool: its size and how many mbufs are not free (lcore caches count as free).
struct MbufUse {
  uint64_t pool = 0;
  uint64_t in_use = 0;
};

// The exit summary: {"pathlab":"summary","seconds":S,"mbufs":{"pool":N,"in_use":K},
// "routers":[router_json...]}.
std::string summary_json(const std::vector<RouterTotals>& routers, double seconds,
                         const MbufUse& mbufs);
// "stats r1.p0 rx=..pps tx=..pps ... r1.drops=N ..." over `interval_s` since `last`.
std::string stats_line(const std::vector<RouterTotals>& now, const std::vector<RouterTotals>& last,
                       double interval_s);

// Registers /pathlab/ports, /pathlab/drops, /pathlab/stages and /pathlab/counters with
// rte_telemetry, reading `source` (called from the telemetry thread) at every request. Pass an
// empty function to detach (the callbacks then fail).
void set_telemetry_source(std::function<std::vector<RouterTotals>()> source);
// /pathlab/mbufs: the pool's size and mbufs in use.
void set_telemetry_mbufs(std::function<MbufUse()> source);

// A link direction for /pathlab/links: its row and the parameters the control path gave it.
struct LinkReport {
  LinkTotalsRow row;
  uint64_t rate_bps = 0;
  uint64_t delay_ns = 0;
  uint64_t jitter_ns = 0;
};
// /pathlab/links lists `list()`; /pathlab/link,PARAMS runs `command(PARAMS)` and answers its
// text ("ok" or an error message). Both are called from the telemetry thread; empty functions
// detach (the callbacks then fail).
void set_telemetry_links(std::function<std::vector<LinkReport>()> list,
                         std::function<std::string(const std::string&)> command);

}  // namespace pathlab
