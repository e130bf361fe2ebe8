// Text and JSON forms of a discovery report.
#include "pathlab/natprobe/report.hpp"

#include <cmath>

#include <fmt/format.h>

#include "pathlab/ipim/json_writer.hpp"

namespace pathlab::natprobe {

namespace {

using ipim::JsonList;
using ipim::JsonObject;

std::string change_name(uint32_t c) {
  if ((c & kChangeIp) && (c & kChangePort)) return "ip+port";
  if (c & kChangeIp) return "ip";
  return c & kChangePort ? "port" : "none";
}

std::optional<std::string> text_of(const std::optional<Endpoint>& e) {
  return e ? std::optional(e->text()) : std::nullopt;
}

std::string test_json(const TestResult& t) {
  JsonObject o;
  o.add("test", t.test).add("to", t.to.text()).add("change", change_name(t.change)).add("sends", t.sends);
  o.add("answered", t.answered);
  o.add("from", t.answered ? std::optional(t.from.text()) : std::nullopt);
  o.add("expected_from", text_of(t.expected_from));
  o.add("mapped", text_of(t.mapped)).add("response_origin", text_of(t.response_origin));
  o.add("other_address", text_of(t.other_address));
  o.add("error", t.error ? std::optional(t.error->code) : std::nullopt);
  o.add("elapsed_ms", t.answered ? std::optional(std::round(t.elapsed_s * 1e6) / 1e3) : std::nullopt);
  return o.str();
}

std::string lifetime_json(const Lifetime& l) {
  JsonList probes;
  for (const LifetimeProbe& p : l.probes) probes.raw(JsonObject().add("gap_s", p.gap_s).add("alive", p.alive).str());
  return JsonObject().add("alive_s", l.alive_s).add("expired_s", l.expired_s).raw("probes", probes.str()).str();
}

std::string yes_no(std::optional<bool> b) { return b ? (*b ? "yes" : "no") : "not tested"; }

}  // namespace

std::string report_json(const Report& r) {
  JsonObject o;
  o.add("server", r.server.text()).add("other_address", r.other.text()).add("local_address", r.local.text());
  o.add("mapped_address", text_of(r.mapped));
  o.add("nat", r.mapping != Mapping::NoNat);
  o.add("mapping", name(r.mapping)).add("filtering", name(r.filtering));
  o.add("hairpinning", r.hairpinning).add("port_preservation", r.port_preservation);
  o.add("binding_lifetime_s", r.lifetime ? r.lifetime->alive_s : std::nullopt);
  o.raw("binding_lifetime", r.lifetime ? lifetime_json(*r.lifetime) : "null");
  JsonList tests, notes;
  for (const TestResult& t : r.tests) tests.raw(test_json(t));
  for (const std::string& n : r.notes) notes.raw(ipim::json_quote(n));
  o.raw("tests", tests.str()).raw("notes", notes.str());
  return o.str();
}

std::string report_text(const Report& r) {
  std::string s = fmt::format("server {} (other address {}), local {}\n", r.server.text(), r.other.text(),
                              r.local.text());
  s += fmt::format("mapped address     {}\n", r.mapped ? r.mapped->text() : "none");
  s += fmt::format("NAT                {}\n", r.mapping == Mapping::NoNat ? "no" : "yes");
  s += fmt::format("mapping            {}\n", name(r.mapping));
  s += fmt::format("filtering          {}\n", name(r.filtering));
  s += fmt::format("hairpinning        {}\n", yes_no(r.hairpinning));
  s += fmt::format("port preservation  {}\n", r.port_preservation ? "yes" : "no");
  if (r.lifetime) {
    const Lifetime& l = *r.lifetime;
    if (!l.alive_s) s += "binding lifetime   unknown\n";
    else if (!l.expired_s) s += fmt::format("binding lifetime   at least {} s\n", *l.alive_s);
    else s += fmt::format("binding lifetime   {} s to {} s\n", *l.alive_s, *l.expired_s);
  }
  for (const TestResult& t : r.tests)
    s += fmt::format("  {:<16} to {:<22} change {:<7} {} send(s): {}\n", t.test, t.to.text(),
                     change_name(t.change), t.sends,
                     !t.answered ? "no answer"
                     : t.error   ? fmt::format("error {} from {}", t.error->code, t.from.text())
                                 : fmt::format("from {}{}", t.from.text(),
                                               t.mapped ? ", mapped " + t.mapped->text() : ""));
  for (const std::string& n : r.notes) s += "note: " + n + "\n";
  return s;
}

}  // namespace pathlab::natprobe
