#include "pathlab/stats/stats.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include <fmt/format.h>

#include <rte_telemetry.h>

#include "pathlab/router/router.hpp"
#include "pathlab/stages/link.hpp"

namespace pathlab {

uint64_t RouterTotals::rx() const {
  uint64_t s = 0;
  for (const auto& p : ports) s += p.rx_pkts;
  return s;
}
uint64_t RouterTotals::tx() const {
  uint64_t s = 0;
  for (const auto& p : ports) s += p.tx_pkts;
  return s;
}
uint64_t RouterTotals::dropped() const {
  uint64_t s = 0;
  for (const auto& d : drops) s += d.second;
  return s;
}
uint64_t RouterTotals::drop(std::string_view name) const {
  for (const auto& [k, v] : drops) {
    if (k == name) return v;
  }
  return 0;
}
uint64_t RouterTotals::event(std::string_view name) const {
  for (const auto& [k, v] : events) {
    if (k == name) return v;
  }
  return 0;
}

LinkTotalsRow link_row(std::span<Link* const> instances) {
  LinkTotalsRow row;
  if (instances.empty()) return row;
  const Stage& s0 = *instances[0];
  row.stage = s0.name();
  row.direction = "egress";
  for (size_t k = 0; k < s0.drop_descs().size(); ++k) {
    row.counters.emplace_back(std::string(s0.drop_descs()[k].name), 0);
  }
  for (size_t k = 0; k < s0.action_descs().size(); ++k) {
    row.counters.emplace_back(std::string(s0.action_descs()[k].name), 0);
  }
  const size_t nd = s0.drop_descs().size();
  for (const Link* l : instances) {
    const LinkTotals t = l->totals();
    row.accepted += t.accepted;
    row.sojourn_ns += t.sojourn_ns;
    row.released += t.released;
    row.late_ns += t.late_ns;
    row.in_flight += l->held_now();
    row.queued_packets += t.queued_packets;
    row.queued_bytes += t.queued_bytes;
    row.backlog_ns = std::max(row.backlog_ns, t.backlog_ns);
    row.departure_rate_bps += t.departure_rate_bps;
    row.drop_ppm = std::max(row.drop_ppm, t.drop_ppm);
    row.down = row.down || l->down_requested();
    for (size_t k = 0; k < row.counters.size(); ++k) {
      row.counters[k].second += k < nd ? l->drop_count(k) : l->action_count(k - nd);
    }
  }
  return row;
}

RouterTotals router_totals(const Router& r, unsigned nworkers) {
  RouterTotals t;
  t.id = r.id;
  t.asn = r.asn;
  const RouterCounters c = r.counters();
  for (size_t i = 0; i < r.port_count(); ++i) {
    t.port_names.push_back(r.port(static_cast<uint8_t>(i)).name);
    const PortCounters& p = c.ports[i];
    t.ports.push_back({p.rx_pkts, p.rx_bytes, p.tx_pkts, p.tx_bytes, p.ctrl_tx_pkts});
  }
  for (size_t i = 0; i < c.drops.size(); ++i) t.drops.emplace_back(std::string(kDropDescs[i].name), c.drops[i]);
  for (size_t i = 0; i < c.events.size(); ++i) {
    t.events.emplace_back(std::string(kEventDescs[i].name), c.events[i]);
  }
  t.consumed = c.consumed;
  // Stage counters: the same stage summed over workers, under its path.
  for (size_t pi = 0; pi < r.port_count(); ++pi) {
    const auto port = static_cast<uint8_t>(pi);
    for (const bool egress : {false, true}) {
      const Chain& first = r.chain(0, port, egress);
      for (size_t si = 0; si < first.stages().size(); ++si) {
        const Stage& s0 = *first.stages()[si];
        const std::string prefix = fmt::format("{}.{}.{}.{}.", r.id, r.port(port).name,
                                               egress ? "egress" : "ingress", s0.name());
        auto sum = [&](auto value) {
          uint64_t v = 0;
          for (unsigned w = 0; w < nworkers; ++w) v += value(*r.chain(w, port, egress).stages()[si]);
          return v;
        };
        for (size_t k = 0; k < s0.drop_descs().size(); ++k) {
          t.drops.emplace_back(prefix + std::string(s0.drop_descs()[k].name),
                               sum([k](const Stage& s) { return s.drop_count(k); }));
        }
        for (size_t k = 0; k < s0.action_descs().size(); ++k) {
          t.events.emplace_back(prefix + std::string(s0.action_descs()[k].name),
                                sum([k](const Stage& s) { return s.action_count(k); }));
        }
        if (s0.holds()) {
          t.events.emplace_back(prefix + "held", sum([](const Stage& s) { return s.held_count(); }));
          t.events.emplace_back(prefix + "released",
                                sum([](const Stage& s) { return s.released_count(); }));
          t.events.emplace_back(prefix + "created",
                                sum([](const Stage& s) { return s.created_count(); }));
        }
      }
    }
  }
  // Link stages of the egress chains, one row per stage over the workers.
  for (size_t pi = 0; pi < r.port_count(); ++pi) {
    const auto port = static_cast<uint8_t>(pi);
    const size_t n = r.chain(0, port, true).stages().size();
    for (size_t si = 0; si < n; ++si) {
      std::vector<Link*> inst;
      for (unsigned w = 0; w < nworkers; ++w) {
        if (auto* l = dynamic_cast<Link*>(r.chain(w, port, true).stages()[si].get())) inst.push_back(l);
      }
      if (inst.empty()) continue;
      LinkTotalsRow row = link_row(inst);
      row.port = r.id + "." + r.port(port).name;
      t.links.push_back(std::move(row));
    }
  }
  t.held = r.held();
  t.created = r.created();
  return t;
}

namespace {

std::string counters_json(const std::vector<std::pair<std::string, uint64_t>>& cs) {
  std::string out = "{";
  for (size_t i = 0; i < cs.size(); ++i) {
    out += fmt::format("{}\"{}\":{}", i ? "," : "", cs[i].first, cs[i].second);
  }
  return out + "}";
}

}  // namespace

std::string router_json(const RouterTotals& t, const PortJsonExtra& extra) {
  std::string out = fmt::format("{{\"id\":\"{}\",\"asn\":{},\"ports\":[", t.id, t.asn);
  for (size_t pi = 0; pi < t.ports.size(); ++pi) {
    const PortTotals& p = t.ports[pi];
    const std::string more = extra ? extra(pi) : std::string();
    out += fmt::format(
        "{}{{\"name\":\"{}\",\"rx_packets\":{},\"rx_bytes\":{},\"tx_packets\":{},\"tx_bytes\":{},"
        "\"ctrl_tx_packets\":{}{}{}}}",
        pi ? "," : "", t.port_names[pi], p.rx_pkts, p.rx_bytes, p.tx_pkts, p.tx_bytes,
        p.ctrl_tx_pkts, more.empty() ? "" : ",", more);
  }
  out += fmt::format("],\"drops\":{},\"events\":{},\"consumed\":{},\"held\":{},\"created\":{}",
                     counters_json(t.drops), counters_json(t.events), t.consumed, t.held, t.created);
  if (!t.consumed_by.empty()) out += fmt::format(",\"consumed_by\":{}", counters_json(t.consumed_by));
  if (!t.links.empty()) {
    out += ",\"links\":[";
    for (size_t i = 0; i < t.links.size(); ++i) {
      const LinkTotalsRow& l = t.links[i];
      out += fmt::format(
          "{}{{\"name\":\"{}\",\"stage\":\"{}\",\"link\":\"{}\",\"direction\":\"{}\","
          "\"down\":{},\"accepted\":{},\"mean_sojourn_ns\":{},\"released\":{},"
          "\"mean_lateness_ns\":{},\"in_flight\":{},\"counters\":{}}}",
          i ? "," : "", l.port, l.stage, l.link, l.direction, l.down ? "true" : "false",
          l.accepted, l.mean_sojourn_ns(), l.released, l.mean_lateness_ns(), l.in_flight,
          counters_json(l.counters));
    }
    out += "]";
  }
  out += fmt::format(
      ",\"accounting\":{{\"rx\":{},\"created\":{},\"tx\":{},\"drops\":{},\"consumed\":{},"
      "\"held\":{},\"balanced\":{}}}}}",
      t.rx(), t.created, t.tx(), t.dropped(), t.consumed, t.held, t.balanced() ? "true" : "false");
  return out;
}

std::string summary_json(const std::vector<RouterTotals>& routers, double seconds,
                         const MbufUse& mbufs) {
  std::string out = fmt::format(
      "{{\"pathlab\":\"summary\",\"seconds\":{:.3f},\"mbufs\":{{\"pool\":{},\"in_use\":{}}},"
      "\"routers\":[",
      seconds, mbufs.pool, mbufs.in_use);
  for (size_t i = 0; i < routers.size(); ++i) out += (i ? "," : "") + router_json(routers[i]);
  return out + "]}";
}

std::string stats_line(const std::vector<RouterTotals>& now, const std::vector<RouterTotals>& last,
                       double interval_s) {
  std::string line = "stats";
  for (size_t ri = 0; ri < now.size() && ri < last.size(); ++ri) {
    const RouterTotals& t = now[ri];
    for (size_t pi = 0; pi < t.ports.size(); ++pi) {
      const double rx = static_cast<double>(t.ports[pi].rx_pkts - last[ri].ports[pi].rx_pkts) / interval_s;
      const double tx = static_cast<double>(t.ports[pi].tx_pkts - last[ri].ports[pi].tx_pkts) / interval_s;
      line += fmt::format(" {}.{} rx={:.0f}pps tx={:.0f}pps", t.id, t.port_names[pi], rx, tx);
    }
    line += fmt::format(" {}.drops={}", t.id, t.dropped() - last[ri].dropped());
    if (t.held != 0) line += fmt::format(" {}.held={}", t.id, t.held);
  }
  return line;
}

// ---- telemetry ------------------------------------------------------------------------------

namespace {

std::mutex g_lock;
std::function<std::vector<RouterTotals>()> g_source;

// DPDK 22.11 telemetry takes only [A-Za-z0-9_/] in dict keys.
std::string tel_key(std::string_view name) {
  std::string k(name);
  for (char& c : k) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '/') c = '_';
  }
  return k;
}

bool snapshot(std::vector<RouterTotals>& out) {
  std::lock_guard<std::mutex> g(g_lock);
  if (!g_source) return false;
  out = g_source();
  return true;
}

int tel_ports(const char*, const char*, rte_tel_data* d) {
  std::vector<RouterTotals> all;
  if (!snapshot(all)) return -1;
  rte_tel_data_start_dict(d);
  for (const RouterTotals& t : all) {
    rte_tel_data* rd = rte_tel_data_alloc();
    rte_tel_data_start_dict(rd);
    for (size_t i = 0; i < t.ports.size(); ++i) {
      rte_tel_data* c = rte_tel_data_alloc();
      rte_tel_data_start_dict(c);
      rte_tel_data_add_dict_u64(c, "rx_packets", t.ports[i].rx_pkts);
      rte_tel_data_add_dict_u64(c, "rx_bytes", t.ports[i].rx_bytes);
      rte_tel_data_add_dict_u64(c, "tx_packets", t.ports[i].tx_pkts);
      rte_tel_data_add_dict_u64(c, "tx_bytes", t.ports[i].tx_bytes);
      rte_tel_data_add_dict_u64(c, "ctrl_tx_packets", t.ports[i].ctrl_tx_pkts);
      rte_tel_data_add_dict_container(rd, tel_key(t.port_names[i]).c_str(), c, 0);
    }
    rte_tel_data_add_dict_container(d, tel_key(t.id).c_str(), rd, 0);
  }
  return 0;
}

// One dict per router from a list of counters; `only_stages` keeps the dotted stage paths (without
// the router prefix), else the router's own names.
int tel_counters(rte_tel_data* d, bool drops, bool events, bool with_totals) {
  std::vector<RouterTotals> all;
  if (!snapshot(all)) return -1;
  rte_tel_data_start_dict(d);
  for (const RouterTotals& t : all) {
    rte_tel_data* c = rte_tel_data_alloc();
    rte_tel_data_start_dict(c);
    auto add = [&](const auto& list) {
      for (const auto& [name, v] : list) {
        std::string_view n = name;
        if (n.substr(0, t.id.size() + 1) == t.id + ".") n.remove_prefix(t.id.size() + 1);
        rte_tel_data_add_dict_u64(c, tel_key(n).c_str(), v);
      }
    };
    if (drops) add(t.drops);
    if (events) add(t.events);
    if (with_totals) {
      rte_tel_data_add_dict_u64(c, "consumed", t.consumed);
      rte_tel_data_add_dict_u64(c, "held", t.held);
      rte_tel_data_add_dict_u64(c, "created", t.created);
    }
    rte_tel_data_add_dict_container(d, tel_key(t.id).c_str(), c, 0);
  }
  return 0;
}

int tel_drops(const char*, const char*, rte_tel_data* d) { return tel_counters(d, true, false, true); }
int tel_stages(const char*, const char*, rte_tel_data* d) { return tel_counters(d, false, true, false); }
int tel_all(const char*, const char*, rte_tel_data* d) { return tel_counters(d, true, true, true); }

}  // namespace

namespace {
std::function<MbufUse()> g_mbufs;

int tel_mbufs(const char*, const char*, rte_tel_data* d) {
  MbufUse u;
  {
    std::lock_guard<std::mutex> g(g_lock);
    if (!g_mbufs) return -1;
    u = g_mbufs();
  }
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "pool", u.pool);
  rte_tel_data_add_dict_u64(d, "in_use", u.in_use);
  return 0;
}
}  // namespace

void set_telemetry_mbufs(std::function<MbufUse()> source) {
  {
    std::lock_guard<std::mutex> g(g_lock);
    g_mbufs = std::move(source);
  }
  static bool registered = false;
  if (!registered) {
    registered = true;
    rte_telemetry_register_cmd("/pathlab/mbufs", tel_mbufs,
                               "The mbuf pool's size and mbufs in use. Takes no parameters");
  }
}

namespace {
std::mutex g_links_lock;  // held through a command: detaching waits for it
std::function<std::vector<LinkReport>()> g_links;
std::function<std::string(const std::string&)> g_link_command;

int tel_links(const char*, const char*, rte_tel_data* d) {
  std::vector<LinkReport> all;
  {
    std::lock_guard<std::mutex> g(g_links_lock);
    if (!g_links) return -1;
    all = g_links();
  }
  // A dict by name ("r1_east", or "r1_east_NAME" for a link stage named otherwise): DPDK 22.11
  // takes no dicts in arrays.
  rte_tel_data_start_dict(d);
  for (const LinkReport& x : all) {
    const LinkTotalsRow& l = x.row;
    rte_tel_data* e = rte_tel_data_alloc();
    rte_tel_data_start_dict(e);
    rte_tel_data_add_dict_string(e, "name", l.port.c_str());
    rte_tel_data_add_dict_string(e, "stage", l.stage.c_str());
    rte_tel_data_add_dict_string(e, "link", l.link.c_str());
    rte_tel_data_add_dict_string(e, "direction", l.direction.c_str());
    rte_tel_data_add_dict_u64(e, "rate_bps", x.rate_bps);
    rte_tel_data_add_dict_u64(e, "delay_ns", x.delay_ns);
    rte_tel_data_add_dict_u64(e, "jitter_ns", x.jitter_ns);
    rte_tel_data_add_dict_u64(e, "down", l.down ? 1 : 0);
    rte_tel_data_add_dict_u64(e, "in_flight", l.in_flight);
    rte_tel_data_add_dict_u64(e, "queued_packets", l.queued_packets);
    rte_tel_data_add_dict_u64(e, "queued_bytes", l.queued_bytes);
    rte_tel_data_add_dict_u64(e, "backlog_ns", l.backlog_ns);
    rte_tel_data_add_dict_u64(e, "departure_rate_bps", l.departure_rate_bps);
    rte_tel_data_add_dict_u64(e, "drop_probability_ppm", l.drop_ppm);
    rte_tel_data_add_dict_u64(e, "accepted", l.accepted);
    rte_tel_data_add_dict_u64(e, "sojourn_ns", l.sojourn_ns);
    rte_tel_data_add_dict_u64(e, "mean_sojourn_ns", l.mean_sojourn_ns());
    rte_tel_data_add_dict_u64(e, "released", l.released);
    rte_tel_data_add_dict_u64(e, "late_ns", l.late_ns);
    rte_tel_data_add_dict_u64(e, "mean_lateness_ns", l.mean_lateness_ns());
    rte_tel_data* c = rte_tel_data_alloc();
    rte_tel_data_start_dict(c);
    for (const auto& [name, v] : l.counters) rte_tel_data_add_dict_u64(c, tel_key(name).c_str(), v);
    rte_tel_data_add_dict_container(e, "counters", c, 0);
    std::string key = l.port;
    if (l.stage != "link") key.append(".").append(l.stage);
    rte_tel_data_add_dict_container(d, tel_key(key).c_str(), e, 0);
  }
  return 0;
}

// Telemetry strings are JSON text: no quotes, backslashes or control bytes in what we answer.
std::string tel_text(std::string s) {
  for (char& c : s) {
    if (c == '"') c = '\'';
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (s.size() >= RTE_TEL_MAX_SINGLE_STRING_LEN) s.resize(RTE_TEL_MAX_SINGLE_STRING_LEN - 1);
  return s;
}

int tel_link(const char*, const char* params, rte_tel_data* d) {
  std::string reply;
  {
    std::lock_guard<std::mutex> g(g_links_lock);
    if (!g_link_command) return -1;
    reply = g_link_command(params != nullptr ? params : "");
  }
  rte_tel_data_string(d, tel_text(reply).c_str());
  return 0;
}
}  // namespace

void set_telemetry_links(std::function<std::vector<LinkReport>()> list,
                         std::function<std::string(const std::string&)> command) {
  {
    std::lock_guard<std::mutex> g(g_links_lock);
    g_links = std::move(list);
    g_link_command = std::move(command);
  }
  static bool registered = false;
  if (!registered) {
    registered = true;
    rte_telemetry_register_cmd("/pathlab/links", tel_links,
                               "Every link (link stage of an egress chain): parameters, state and "
                               "totals. Takes no parameters");
    rte_telemetry_register_cmd("/pathlab/link", tel_link,
                               "Changes a link: ROUTER.PORT|LINK down | up | set KEY=VALUE ... "
                               "(docs/links.md). Answers ok or an error");
  }
}

void set_telemetry_source(std::function<std::vector<RouterTotals>()> source) {
  {
    std::lock_guard<std::mutex> g(g_lock);
    g_source = std::move(source);
  }
  static bool registered = false;
  if (!registered) {
    registered = true;
    rte_telemetry_register_cmd("/pathlab/ports", tel_ports,
                               "Per-port packet and byte counters. Takes no parameters");
    rte_telemetry_register_cmd("/pathlab/drops", tel_drops,
                               "Per-router drops by reason, consumed and held. Takes no parameters");
    rte_telemetry_register_cmd("/pathlab/stages", tel_stages,
                               "Per-router events and stage actions. Takes no parameters");
    rte_telemetry_register_cmd("/pathlab/counters", tel_all,
                               "Every counter of every router by path. Takes no parameters");
  }
}

}  // namespace pathlab
