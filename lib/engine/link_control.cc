// Link control: finding a router port's link instances, down/up, parameter changes, events and
// telemetry reports (docs/links.md, "Control").
#include "pathlab/engine/link_control.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <set>

#include "pathlab/config/error.hpp"
#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/router/router.hpp"
#include "pathlab/stages/link_config.hpp"

namespace pathlab {

std::vector<std::vector<Link*>> egress_links(const Router& r, uint8_t port, unsigned workers) {
  std::vector<std::vector<Link*>> out;
  if (workers == 0) return out;
  const size_t n = r.chain(0, port, true).stages().size();
  for (size_t si = 0; si < n; ++si) {
    std::vector<Link*> inst;
    for (unsigned w = 0; w < workers; ++w) {
      const auto& stages = r.chain(w, port, true).stages();
      if (si >= stages.size()) break;
      if (auto* l = dynamic_cast<Link*>(stages[si].get())) inst.push_back(l);
    }
    if (!inst.empty()) out.push_back(std::move(inst));
  }
  return out;
}

std::pair<std::string, std::string> link_direction(const Config& cfg, std::string_view port) {
  for (const LinkConfig& l : cfg.links) {
    if (l.a_router + "." + l.a_port == port) return {l.name, "a_to_b"};
    if (l.b_router + "." + l.b_port == port) return {l.name, "b_to_a"};
  }
  return {"", "egress"};
}

void name_link_directions(std::vector<RouterTotals>& totals, const Config& cfg) {
  for (RouterTotals& t : totals) {
    for (LinkTotalsRow& row : t.links) std::tie(row.link, row.direction) = link_direction(cfg, row.port);
  }
}

LinkControl::LinkControl(const Config& cfg, const std::vector<Router*>& routers, unsigned workers)
    : routers_(routers), events_(cfg.events) {
  for (const LinkConfig& l : cfg.links) {
    const std::string a = l.a_router + "." + l.a_port, b = l.b_router + "." + l.b_port;
    rings_.emplace(l.name, std::pair{a, b});
    port_ring_.emplace(a, l.name);
    port_ring_.emplace(b, l.name);
  }
  for (Router* r : routers) {
    for (size_t pi = 0; pi < r->port_count(); ++pi) {
      const auto port = static_cast<uint8_t>(pi);
      for (auto& inst : egress_links(*r, port, workers)) {
        Direction d;
        d.router = r;
        d.port = port;
        d.name = r->id + "." + r->port(port).name;
        d.stage = inst[0]->name();
        std::tie(d.link, d.direction) = link_direction(cfg, d.name);
        for (const Link* l : inst) d.params.push_back(l->params());  // no worker runs yet
        d.instances = std::move(inst);
        dirs_.push_back(std::move(d));
      }
    }
  }
}

std::vector<size_t> LinkControl::find(std::string_view target, bool whole, std::string& err) const {
  std::vector<std::string> ends;
  if (const auto dot = target.find('.'); dot != std::string_view::npos) {
    const std::string_view rid = target.substr(0, dot), pname = target.substr(dot + 1);
    auto r = std::find_if(routers_.begin(), routers_.end(), [&](const Router* x) { return x->id == rid; });
    if (r == routers_.end()) {
      err = fmt::format("no router {} (expected router.port or a link name)", rid);
      return {};
    }
    if ((*r)->port_index(pname) < 0) {
      err = fmt::format("no port {} in router {}", pname, rid);
      return {};
    }
    ends.emplace_back(target);
    if (auto it = port_ring_.find(target); whole && it != port_ring_.end()) {
      const auto& [a, b] = rings_.find(it->second)->second;
      ends = {a, b};
    }
  } else {
    auto it = rings_.find(target);
    if (it == rings_.end()) {
      err = fmt::format("no link named {} (expected router.port or a link name)", target);
      return {};
    }
    ends = {it->second.first, it->second.second};
  }
  std::vector<size_t> out;
  for (const std::string& end : ends) {
    const size_t before = out.size();
    for (size_t i = 0; i < dirs_.size(); ++i) {
      if (dirs_[i].name == end) out.push_back(i);
    }
    if (whole && out.size() == before) {
      err = fmt::format("{} has no link stage: give it link: (link: {{}} holds nothing back)", end);
      return {};
    }
  }
  if (out.empty()) err = fmt::format("{} has no link stage: give it link:", target);
  return out;
}

// A link going down or up reaches routing here: the router withdraws or restores its routes
// over the port, and backups (routes with a higher metric) take over.
void LinkControl::port_link_changed(Router& r, uint8_t port, bool up) {
  const size_t changed = r.set_port_up(port, up);
  fmt::print(stderr, "pathlab: {}.{}: link {}, {} route(s) changed\n", r.id, r.port(port).name,
             up ? "up" : "down", changed);
}

std::string LinkControl::set_down(std::string_view target, bool down) {
  std::string err;
  const std::vector<size_t> ds = find(target, true, err);
  if (ds.empty()) return err;
  std::set<std::pair<Router*, uint8_t>> ports;
  for (size_t i : ds) {
    for (Link* l : dirs_[i].instances) l->set_down(down);
    ports.emplace(dirs_[i].router, dirs_[i].port);
  }
  for (const auto& [r, port] : ports) port_link_changed(*r, port, !down);
  return "";
}

std::string LinkControl::set_params(std::string_view target, const Change& change) {
  std::string err;
  const std::vector<size_t> ds = find(target, false, err);
  if (ds.empty()) return err;
  std::vector<std::vector<LinkParams>> next;
  try {
    for (size_t i : ds) {
      std::vector<LinkParams> ps;
      for (const LinkParams& p : dirs_[i].params) ps.push_back(change(p));
      next.push_back(std::move(ps));
    }
  } catch (const ConfigError& e) {
    return e.what();
  }
  std::lock_guard<std::mutex> g(mu_);
  for (size_t k = 0; k < ds.size(); ++k) {
    Direction& d = dirs_[ds[k]];
    for (size_t w = 0; w < d.instances.size(); ++w) {
      d.instances[w]->set_params(next[k][w]);
      d.params[w] = next[k][w];
    }
  }
  return "";
}

std::string LinkControl::set_args_yaml(std::string_view args, std::string& err) {
  std::vector<std::string> words;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (const char c : args) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    } else if ((c == ' ' || c == '\t') && depth == 0) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (c == '\n' || c == '\r') {
      err = "a command is one line";
      return "";
    }
    cur += c;
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  if (words.empty()) {
    err = "set needs KEY=VALUE words (rate=10mbit delay=5ms ...)";
    return "";
  }
  std::string yaml;
  for (const std::string& w : words) {
    const size_t eq = w.find('=');
    const bool key_ok = eq != 0 && eq != std::string::npos &&
                        std::all_of(w.begin(), w.begin() + static_cast<long>(eq), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                        });
    if (!key_ok || eq + 1 == w.size()) {
      err = fmt::format("'{}' is not KEY=VALUE", w);
      return "";
    }
    yaml += w.substr(0, eq) + ": " + w.substr(eq + 1) + "\n";
  }
  return yaml;
}

std::string LinkControl::command(std::string_view text) {
  auto words_end = [](std::string_view s, size_t from) {
    while (from < s.size() && s[from] == ' ') ++from;
    return from;
  };
  size_t i = words_end(text, 0);
  size_t j = text.find(' ', i);
  const std::string_view target = text.substr(i, j == std::string_view::npos ? text.npos : j - i);
  i = j == std::string_view::npos ? text.size() : words_end(text, j);
  j = text.find(' ', i);
  const std::string_view verb = text.substr(i, j == std::string_view::npos ? text.npos : j - i);
  const std::string_view rest = j == std::string_view::npos ? std::string_view() : text.substr(j + 1);
  std::string err;
  if (target.empty() || verb.empty()) {
    err = "expected ROUTER.PORT|LINK down | up | set KEY=VALUE ...";
  } else if (verb == "down" || verb == "up") {
    if (rest.find_first_not_of(' ') != std::string_view::npos) {
      err = fmt::format("{} takes no arguments", verb);
    } else {
      err = set_down(target, verb == "down");
    }
  } else if (verb == "set") {
    const std::string yaml = set_args_yaml(rest, err);
    if (err.empty()) {
      YAML::Node node;
      try {
        node = YAML::Load(yaml);
      } catch (const YAML::Exception& e) {
        err = "YAML syntax error: " + e.msg;
      }
      if (err.empty()) {
        err = set_params(target, [&node](const LinkParams& current) {
          YamlMap m(node, "command", "set", SourcePos{"command", 1, 1});
          m.only_keys(link_param_keys());
          const LinkParams p = parse_link_params(m, current);
          m.done();
          return p;
        });
      }
    }
  } else {
    err = fmt::format("unknown action '{}': expected down, up or set", verb);
  }
  const std::string reply = err.empty() ? "ok" : "error: " + err;
  fmt::print("pathlab: /pathlab/link,{}: {}\n", text, reply);
  std::fflush(stdout);
  return reply;
}

void LinkControl::run_events(Nanos since_start) {
  while (next_event_ < events_.size() && events_[next_event_].at <= since_start) {
    const LinkEvent& e = events_[next_event_++];
    const std::string err = e.down ? set_down(e.target, *e.down) : set_params(e.target, e.set);
    fmt::print("pathlab: event {} at {:.3f}s (+{:.3f}s): link {} {}: {}\n", e.path,
               static_cast<double>(e.at) / 1e9, static_cast<double>(since_start) / 1e9, e.target,
               e.what, err.empty() ? "ok" : "error: " + err);
    std::fflush(stdout);
  }
}

std::vector<LinkReport> LinkControl::report() const {
  std::vector<LinkReport> out;
  std::lock_guard<std::mutex> g(mu_);
  for (const Direction& d : dirs_) {
    LinkReport x;
    x.row = link_row(d.instances);
    x.row.port = d.name;
    x.row.link = d.link;
    x.row.direction = d.direction;
    x.rate_bps = d.params[0].rate_bps;
    x.delay_ns = d.params[0].delay;
    x.jitter_ns = d.params[0].jitter;
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace pathlab
