#pragma once
// A router's counters summed over its workers, with their paths, and every report built from
// them: telemetry, the periodic stats line, the JSON summary on exit, and replay's report. One
// source, so the four never disagree.
//
// Paths: router drop reasons and events by their own names (`fwd/ttl_exceeded`), stage counters
// as `<router>.<port>.<dir>.<stage name>.<counter>` (e.g. `r1.p0.ingress.ecn.bleached`).
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace pathlab {

class Router;

struct PortTotals {
  uint64_t rx_pkts = 0, rx_bytes = 0, tx_pkts = 0, tx_bytes = 0, ctrl_tx_pkts = 0;
};

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

}  // namespace pathlab
