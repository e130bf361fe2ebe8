// The analysis as text for a person and as JSON (docs/probe.md, "analyse").
#include <fmt/format.h>

#include "pathlab/ipim/analysis.hpp"
#include "pathlab/ipim/json_writer.hpp"
#include "pathlab/ipim/option_fields.hpp"

namespace pathlab::ipim {

namespace {

std::string stats_text(const Stats& s, const char* unit) {
  if (!s.n) return "-";
  return fmt::format("median {:.0f}{u}, mean {:.0f}{u}, min {:.0f}{u}, max {:.0f}{u} ({} samples)",
                     s.median, s.mean, s.min, s.max, s.n, fmt::arg("u", unit));
}

std::string stats_json(const Stats& s) {
  if (!s.n) return "null";
  return JsonObject().add("n", s.n).add("min", s.min).add("median", s.median).add("mean", s.mean)
      .add("max", s.max).str();
}

std::string hop_text(const HopReport& h) {
  if (!h.stamps) return fmt::format("  hop {:>2}: {}\n", h.hop, h.status);
  std::string out = fmt::format("  hop {:>2}:", h.hop);
  auto opt = [](const auto& v) { return v ? fmt::format("{}", *v) : std::string("unavailable"); };
  if (h.stamps > h.perf_stamps)
    out += fmt::format(" router id {}, AS {}, ingress {}, egress {};", opt(h.router_id), opt(h.as),
                       opt(h.ingress), opt(h.egress));
  if (h.perf_stamps)
    out += fmt::format(" queue {}, capacity {}, available {}, congestion {};",
                       h.queue_us ? fmt::format("{:.0f} us", *h.queue_us) : "unavailable",
                       h.capacity_bps ? format_bps(*h.capacity_bps) : "unavailable",
                       h.avail_bps ? format_bps(*h.avail_bps) : "unavailable",
                       h.level ? fmt::format("{:.0f}/254 ({:.1f}%)", *h.level, *h.level / 2.54)
                               : "unavailable");
  return out + fmt::format(" [{} stamp(s)]\n", h.stamps);
}

std::string loss_text(const Analysis& a) {
  return fmt::format(
      "loss: {} of {} probes without an echo (never reached the reflector {}, echo lost {}, after "
      "the last echo {}); reordered {} on the way out, {} on the way back; {} duplicate(s)\n",
      a.loss.lost, a.probes, a.loss.lost_forward, a.loss.lost_reverse, a.loss.lost_unknown,
      a.loss.reordered_forward, a.loss.reordered_reverse, a.loss.duplicates);
}

std::string integrity_text(const Analysis& a) {
  if (!a.coverage || !a.integrity_checked) return "integrity: not checked\n";
  std::string changed;
  for (unsigned g = 0; g < kGroups; ++g)
    if (a.changed[g])
      changed += fmt::format("{}{} changed ({} of {} echoes)", changed.empty() ? "" : ", ",
                             group_name(g, a.ip6), a.changed[g], a.integrity_checked);
  unsigned covered = 0, always = 0;
  for (unsigned g = 0; g < kGroups; ++g)
    if (a.coverage & (1u << g)) ++covered, always += a.changed[g] == a.integrity_checked;
  const char* hint = covered > 2 && always == covered
                         ? " (every covered group differs in every echo: do the salts match?)"
                         : "";
  return fmt::format("integrity: {}{}\n", changed.empty() ? "no covered header field changed" : changed,
                     hint);
}

}  // namespace

std::string ttl_prime_verdict(const Analysis& a) {
  if (!a.hops || !a.not_taking_part) return "unknown (no echo carried the option)";
  if (*a.hops == 0) return "no router between the endpoints";
  if (*a.not_taking_part == 0) return fmt::format("all {} hops took part", *a.hops);
  return fmt::format("{} of {} hops did not take part", *a.not_taking_part, *a.hops);
}

std::string analysis_text(const Analysis& a) {
  std::string out = fmt::format("{} probes ({}), {} echoes\n", a.probes, a.ip6 ? "IPv6" : "IPv4",
                                a.echoes);
  out += fmt::format("TTL': {}{}\n", ttl_prime_verdict(a),
                     a.hops_vary || a.ttl_prime_varies ? " (varies over the run)" : "");
  if (a.option_missing || a.option_malformed)
    out += fmt::format("option: missing in {} echo(es), malformed in {}\n", a.option_missing,
                       a.option_malformed);
  out += fmt::format("option arrived unchanged in {} of {} echo(es)\n", a.option_intact, a.echoes);
  out += "hop map (hop = T0 - arrival TTL + 1):\n";
  for (const HopReport& h : a.hop_map) out += hop_text(h);
  if (a.bottleneck) {
    const HopReport& b = a.hop_map[*a.bottleneck - 1];
    out += fmt::format("bottleneck: hop {} (capacity {}, queue {:.0f} us)\n", b.hop,
                       format_bps(*b.capacity_bps), b.queue_us.value_or(0));
  }
  out += fmt::format("path min available capacity: {}\n",
                     a.min_capacity_bps.n
                         ? fmt::format("median {}, mean {}", format_bps(a.min_capacity_bps.median),
                                       format_bps(a.min_capacity_bps.mean))
                         : "-");
  out += fmt::format("path queue delay sum: {}\n", stats_text(a.queue_sum_us, " us"));
  if (a.cap_unavailable || a.queue_unavailable || a.overflow)
    out += fmt::format("capacity unavailable in {}, queue unavailable in {}, overflow in {} echo(es)\n",
                       a.cap_unavailable, a.queue_unavailable, a.overflow);
  if (a.evolution)
    out += fmt::format("path evolution {:#010x}: {}\n", *a.evolution,
                       a.path_changes.empty() ? "no path change" : fmt::format("{} change(s)", a.path_changes.size()));
  for (const PathChange& c : a.path_changes)
    out += fmt::format("  path change at {:.3f} s (probe {}): {:#010x} -> {:#010x}\n", c.at_s,
                       c.seq, c.from, c.to);
  out += fmt::format("RTT: {}\n", stats_text(a.rtt_us, " us"));
  out += fmt::format("  network: {}\n", stats_text(a.network_us, " us"));
  out += fmt::format("  host: {}\n", stats_text(a.host_us, " us"));
  out += loss_text(a);
  out += integrity_text(a);
  out += a.discrepancies.empty() ? "discrepancies: none\n" : "discrepancies:\n";
  for (const std::string& d : a.discrepancies) out += "  " + d + "\n";
  return out;
}

std::string analysis_json(const Analysis& a, const Run* run) {
  JsonObject o;
  o.add("carrier", a.ip6 ? "ipv6" : "ipv4").add("probes", a.probes).add("echoes", a.echoes);
  o.add("hops", a.hops).add("not_taking_part", a.not_taking_part)
      .add("ttl_prime_verdict", ttl_prime_verdict(a)).add("hops_vary", a.hops_vary)
      .add("ttl_prime_varies", a.ttl_prime_varies).add("ttl_prime_impossible", a.ttl_prime_impossible);
  o.raw("option", JsonObject().add("missing", a.option_missing).add("malformed", a.option_malformed)
                      .add("intact", a.option_intact).str());
  JsonList hops;
  for (const HopReport& h : a.hop_map)
    hops.raw(JsonObject().add("hop", h.hop).add("status", h.status).add("asked", h.asked)
                 .add("stamps", h.stamps).add("router_id", h.router_id).add("as", h.as)
                 .add("ingress", h.ingress).add("egress", h.egress).add("perf_stamps", h.perf_stamps)
                 .add("queue_us", h.queue_us).add("capacity_bps", h.capacity_bps)
                 .add("avail_bps", h.avail_bps).add("level", h.level)
                 .add("impossible_avail", h.impossible_avail)
                 .add("impossible_level", h.impossible_level).str());
  o.raw("hop_map", hops.str()).add("bottleneck", a.bottleneck);
  o.raw("path", JsonObject().raw("min_capacity_bps", stats_json(a.min_capacity_bps))
                    .raw("queue_sum_us", stats_json(a.queue_sum_us))
                    .add("cap_unavailable", a.cap_unavailable)
                    .add("queue_unavailable", a.queue_unavailable).add("overflow", a.overflow).str());
  JsonList changes;
  for (const PathChange& c : a.path_changes)
    changes.raw(JsonObject().add("seq", c.seq).add("at_s", c.at_s).add("from", c.from)
                    .add("to", c.to).str());
  o.add("evolution", a.evolution).raw("path_changes", changes.str());
  o.raw("rtt_us", stats_json(a.rtt_us)).raw("network_us", stats_json(a.network_us))
      .raw("host_us", stats_json(a.host_us)).add("t_echo_mismatch", a.t_echo_mismatch);
  const LossReport& l = a.loss;
  o.raw("loss", JsonObject().add("lost", l.lost).add("lost_forward", l.lost_forward)
                    .add("lost_reverse", l.lost_reverse).add("lost_unknown", l.lost_unknown)
                    .add("duplicates", l.duplicates).add("reordered_forward", l.reordered_forward)
                    .add("reordered_reverse", l.reordered_reverse)
                    .add("nonce_inconsistent", l.inconsistent).str());
  JsonObject changed;
  JsonList covered;
  for (unsigned g = 0; g < kGroups; ++g) {
    if (!(a.coverage & (1u << g))) continue;
    covered.raw(json_quote(group_name(g, a.ip6)));
    changed.add(group_name(g, a.ip6), a.changed[g]);
  }
  o.raw("integrity", JsonObject().add("checked", a.integrity_checked).raw("coverage", covered.str())
                         .raw("changed", changed.str()).str());
  JsonList disc;
  for (const std::string& d : a.discrepancies) disc.raw(json_quote(d));
  o.raw("discrepancies", disc.str());
  if (run) {
    JsonList echoes;
    for (const ReceivedEcho& r : run->echoes) {
      const E2eBlock& e = r.echo;
      const SentProbe* p = e.seq < run->probes.size() ? &run->probes[e.seq] : nullptr;
      echoes.raw(JsonObject().add("seq", e.seq).add("arrival_us", r.arrival_us)
                     .add("rtt_us", p ? double(r.arrival_us) - double(p->sent_us) : 0.0)
                     .add("delta_us", e.delta).add("rx_ttl", e.rx_ttl).add("rx_tos", e.rx_tos)
                     .add("nonce_sum", e.nonce_sum)
                     .add("option_sent", p ? hex(p->option) : "")
                     .add("option_received", hex(e.rx_option)).str());
    }
    o.raw("run", JsonObject().add("ttl0", run->ttl0).add("ttl_prime0", run->ttl_prime0)
                     .add("evolution0", run->evolution0).add("start_us", run->start_us)
                     .raw("echo_list", echoes.str()).str());
  }
  return o.str();
}

}  // namespace pathlab::ipim
