// The analysis of a run (docs/probe.md, "analyse").
#include "pathlab/ipim/analysis.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "pathlab/ipim/nonce_loss.hpp"
#include "pathlab/ipim/option_fields.hpp"

namespace pathlab::ipim {

Stats stats_of(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  return s;
}

namespace {

template <typename T>
std::optional<T> most_common(const std::vector<T>& v) {
  std::map<T, unsigned> count;
  for (const T& x : v) ++count[x];
  std::optional<T> best;
  unsigned n = 0;
  for (const auto& [x, c] : count)
    if (c > n) best = x, n = c;
  return best;
}

std::optional<double> median_of(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  return stats_of(v).median;
}

// Per-hop samples gathered from the slots of every echo.
struct HopSamples {
  HopReport counts;  // stamps and impossible values
  std::optional<SlotFields> topology;
  std::vector<double> queue, capacity, avail, level;
};

struct Accumulated {
  std::vector<unsigned> hops, not_taking_part;
  std::vector<double> min_cap, queue_sum;
  unsigned slot_queue_above_sum = 0;  // a hop's queue above the path sum it fed
  unsigned slot_avail_below_min = 0;  // a hop's available capacity below the path minimum
};

void take_slot(const SlotFields& s, bool perf, HopSamples& h) {
  ++h.counts.stamps;
  if (!perf) {
    h.topology = s;
    return;
  }
  ++h.counts.perf_stamps;
  if (!(s.unavailable & kNoQueue)) h.queue.push_back(s.queue_us);
  if (!(s.unavailable & kNoCapacity)) {
    h.capacity.push_back(cap_decode(s.capacity));
    h.avail.push_back(cap_decode(s.avail_capacity));
    if (s.avail_capacity > s.capacity) ++h.counts.impossible_avail;
  }
  if (!(s.unavailable & kNoLevel)) {
    if (s.level > kLevelMax) ++h.counts.impossible_level;
    else h.level.push_back(s.level);
  }
}

HopReport hop_report(unsigned hop, const HopSamples& h) {
  HopReport r = h.counts;
  r.hop = hop;
  if (h.topology) {
    const SlotFields& t = *h.topology;
    if (!(t.unavailable & kNoRouterId)) r.router_id = t.router_id;
    if (!(t.unavailable & kNoAs)) r.as = t.as;
    if (!(t.unavailable & kNoIngress)) r.ingress = t.ingress;
    if (!(t.unavailable & kNoEgress)) r.egress = t.egress;
  }
  r.queue_us = median_of(h.queue);
  r.capacity_bps = median_of(h.capacity);
  r.avail_bps = median_of(h.avail);
  r.level = median_of(h.level);
  return r;
}

// The hop with the lowest link capacity; ties go to the larger queue.
std::optional<unsigned> find_bottleneck(const std::vector<HopReport>& hops) {
  const HopReport* best = nullptr;
  for (const HopReport& h : hops) {
    if (!h.capacity_bps) continue;
    const bool lower = !best || *h.capacity_bps < *best->capacity_bps;
    const bool tie_more_queue = best && *h.capacity_bps == *best->capacity_bps &&
                                h.queue_us.value_or(0) > best->queue_us.value_or(0);
    if (lower || tie_more_queue) best = &h;
  }
  return best ? std::optional(best->hop) : std::nullopt;
}

void add_timing(const Run& run, Analysis& a) {
  std::vector<double> rtt, network, host;
  for (const ReceivedEcho& r : run.echoes) {
    const E2eBlock& e = r.echo;
    if (e.seq >= run.probes.size()) continue;
    const SentProbe& p = run.probes[e.seq];
    if (e.t_echo != p.t) ++a.t_echo_mismatch;
    const double total = static_cast<double>(r.arrival_us) - static_cast<double>(p.sent_us);
    rtt.push_back(total);
    host.push_back(e.delta);
    network.push_back(total - e.delta);
  }
  a.rtt_us = stats_of(rtt);
  a.network_us = stats_of(network);
  a.host_us = stats_of(host);
}

void add_loss(const Run& run, Analysis& a) {
  std::vector<uint32_t> nonces;
  for (const SentProbe& p : run.probes) nonces.push_back(p.nonce);
  std::vector<EchoNonces> echoes;
  for (const ReceivedEcho& r : run.echoes)
    echoes.push_back({r.echo.seq, r.echo.nonce, r.echo.nonce_sum});
  a.loss = reconstruct_arrivals(nonces, echoes);
}

void add_integrity(const Run& run, Analysis& a) {
  a.coverage = run.coverage;
  for (const ReceivedEcho& r : run.echoes) {
    if (r.echo.seq >= run.probes.size() || !run.coverage) continue;
    ++a.integrity_checked;
    const uint16_t changed =
        changed_groups(run.coverage, run.probes[r.echo.seq].digests, r.echo.hash_echo);
    for (unsigned g = 0; g < kGroups; ++g)
      if (changed & (1u << g)) ++a.changed[g];
  }
}

// One echo's option: the TTL' count, the accumulated fields, the slots, the evolution value.
void take_option(const Run& run, const ReceivedEcho& r, const OptionFields& f, Accumulated& acc,
                 std::map<unsigned, HopSamples>& hops, Analysis& a) {
  const unsigned hop_count = static_cast<uint8_t>(run.ttl0 - r.echo.rx_ttl);
  const unsigned took_part = static_cast<uint8_t>(run.ttl_prime0 - *f.ttl_prime);
  acc.hops.push_back(hop_count);
  if (took_part > hop_count) ++a.ttl_prime_impossible;
  else acc.not_taking_part.push_back(hop_count - took_part);
  if (*f.cap_unavailable) ++a.cap_unavailable;
  else if (*f.min_capacity != kCapMax) acc.min_cap.push_back(cap_decode(*f.min_capacity));
  if (*f.queue_unavailable) ++a.queue_unavailable;
  else acc.queue_sum.push_back(*f.queue_sum_us);
  if (*f.overflow) ++a.overflow;
  for (const SlotFields& s : f.slots) {
    if (!s.written) continue;
    const unsigned hop = static_cast<uint8_t>(run.ttl0 - s.ttl) + 1u;
    take_slot(s, *f.perf, hops[hop]);
    if (!*f.perf) continue;
    if (!(s.unavailable & kNoQueue) && !*f.queue_unavailable && s.queue_us > *f.queue_sum_us)
      ++acc.slot_queue_above_sum;
    if (!(s.unavailable & kNoCapacity) && !*f.cap_unavailable && *f.min_capacity < kCapMax &&
        s.avail_capacity < *f.min_capacity)
      ++acc.slot_avail_below_min;
  }
}

void set_hop_status(Analysis& a) {
  const auto silent = std::count_if(a.hop_map.begin(), a.hop_map.end(),
                                    [](const HopReport& h) { return h.stamps == 0; });
  for (HopReport& h : a.hop_map) {
    if (h.stamps) h.status = "stamped";
    else if (h.asked || (a.not_taking_part && *a.not_taking_part == unsigned(silent)))
      h.status = "did not take part";
    else if (a.not_taking_part == 0u) h.status = "took part, not stamped";
    else h.status = "no stamp";
  }
}

void add_options(const Run& run, Analysis& a) {
  Accumulated acc;
  std::map<unsigned, HopSamples> hops;
  std::vector<const ReceivedEcho*> by_seq;
  for (const ReceivedEcho& r : run.echoes) {
    if (r.echo.seq >= run.probes.size()) continue;
    const SentProbe& p = run.probes[r.echo.seq];
    if (r.echo.rx_option.empty()) {
      ++a.option_missing;
      continue;
    }
    if (r.echo.rx_option == p.option) ++a.option_intact;
    const OptionFields f = read_option(r.echo.rx_option, run.ip6);
    if (f.malformed != Malformed::kNone) {
      ++a.option_malformed;
      continue;
    }
    take_option(run, r, f, acc, hops, a);
    by_seq.push_back(&r);
  }
  a.hops = most_common(acc.hops);
  a.not_taking_part = most_common(acc.not_taking_part);
  a.hops_vary = std::any_of(acc.hops.begin(), acc.hops.end(), [&](unsigned h) { return h != *a.hops; });
  a.ttl_prime_varies = std::any_of(acc.not_taking_part.begin(), acc.not_taking_part.end(),
                                   [&](unsigned k) { return k != *a.not_taking_part; });
  a.min_capacity_bps = stats_of(acc.min_cap);
  a.queue_sum_us = stats_of(acc.queue_sum);
  if (acc.slot_queue_above_sum)
    a.discrepancies.push_back(fmt::format(
        "{} stamp(s) show a hop's queue above the path's queue sum", acc.slot_queue_above_sum));
  if (acc.slot_avail_below_min)
    a.discrepancies.push_back(fmt::format(
        "{} stamp(s) show a hop's available capacity below the path minimum",
        acc.slot_avail_below_min));

  // The hop map: every hop the TTL says exists, and any hop that stamped beyond it.
  const unsigned last = std::max(a.hops.value_or(0), hops.empty() ? 0u : hops.rbegin()->first);
  for (unsigned h = 1; h <= last; ++h) {
    HopReport rep = hop_report(h, hops[h]);
    const uint8_t arrival_ttl = static_cast<uint8_t>(run.ttl0 - (h - 1));
    rep.asked = run.sample || std::any_of(by_seq.begin(), by_seq.end(), [&](const ReceivedEcho* r) {
                  return run.probes[r->echo.seq].target_ttl == arrival_ttl;
                });
    a.hop_map.push_back(rep);
  }
  a.bottleneck = find_bottleneck(a.hop_map);
  set_hop_status(a);

  // Evolution, in send order.
  std::sort(by_seq.begin(), by_seq.end(),
            [](const ReceivedEcho* x, const ReceivedEcho* y) { return x->echo.seq < y->echo.seq; });
  for (const ReceivedEcho* r : by_seq) {
    const uint32_t v = rd32(&r->echo.rx_option[kOffEvolution]) - run.evolution0;
    if (a.evolution && v != (a.path_changes.empty() ? *a.evolution : a.path_changes.back().to)) {
      const SentProbe& p = run.probes[r->echo.seq];
      a.path_changes.push_back({r->echo.seq, (p.sent_us - run.start_us) / 1e6,
                                a.path_changes.empty() ? *a.evolution : a.path_changes.back().to, v});
    }
    if (!a.evolution) a.evolution = v;
  }
}

// Queue delays that do not add up to the RTT: some hop under- or over-reports.
void add_liar_checks(const Run& run, Analysis& a) {
  if (a.queue_sum_us.n && a.network_us.n >= 3) {
    const double inflation = a.network_us.median - a.network_us.min;
    const double queue = a.queue_sum_us.median;
    if (inflation > 1000 && inflation - queue > 1000 && inflation > 3 * queue)
      a.discrepancies.push_back(fmt::format(
          "the queue delays accumulated (median {:.0f} us) are far below the RTT above its base "
          "(median {:.0f} us over the minimum {:.0f} us): a hop may under-report its queue (or the "
          "queueing is on the reverse path or at hops that did not take part)",
          queue, inflation, a.network_us.min));
  }
  unsigned over = 0;
  for (const ReceivedEcho& r : run.echoes) {
    if (r.echo.seq >= run.probes.size() || r.echo.rx_option.size() < kOffSlots) continue;
    const OptionFields f = read_option(r.echo.rx_option, run.ip6);
    if (f.malformed != Malformed::kNone || *f.queue_unavailable) continue;
    const double network =
        static_cast<double>(r.arrival_us) - run.probes[r.echo.seq].sent_us - r.echo.delta;
    if (*f.queue_sum_us > network) ++over;
  }
  if (over)
    a.discrepancies.push_back(fmt::format(
        "{} echo(es) carry a queue sum larger than the network RTT: a hop over-reports its queue",
        over));
  for (const HopReport& h : a.hop_map) {
    if (h.impossible_avail)
      a.discrepancies.push_back(fmt::format(
          "hop {}: available capacity above its link capacity in {} stamp(s)", h.hop, h.impossible_avail));
    if (h.impossible_level)
      a.discrepancies.push_back(fmt::format(
          "hop {}: congestion level outside 0..254 in {} stamp(s)", h.hop, h.impossible_level));
  }
  if (a.loss.inconsistent)
    a.discrepancies.push_back(fmt::format(
        "{} nonce sum(s) match no set of probes sent: the reflector misreports what it received",
        a.loss.inconsistent));
  if (a.ttl_prime_impossible)
    a.discrepancies.push_back(fmt::format(
        "{} echo(es) show more TTL' decrements than hops: a hop decrements TTL' more than once",
        a.ttl_prime_impossible));
  if (a.t_echo_mismatch)
    a.discrepancies.push_back(
        fmt::format("{} echo(es) carry a t echo that is not their probe's t", a.t_echo_mismatch));
}

}  // namespace

Analysis analyse(const Run& run) {
  Analysis a;
  a.ip6 = run.ip6;
  a.probes = run.probes.size();
  a.echoes = run.echoes.size();
  add_options(run, a);
  add_timing(run, a);
  add_loss(run, a);
  add_integrity(run, a);
  add_liar_checks(run, a);
  return a;
}

}  // namespace pathlab::ipim
