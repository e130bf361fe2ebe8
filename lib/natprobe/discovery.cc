// RFC 5780 §4.3-4.6 from the client's side.
#include "pathlab/natprobe/discovery.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

namespace pathlab::natprobe {

namespace {

struct Probe {
  std::string test;
  Endpoint to;
  uint32_t change = 0;
  std::optional<uint16_t> response_port;
  std::optional<Endpoint> expected_from;
  Expect expect = Expect::Response;
};

// One Binding transaction from send_fd; the answer is awaited on recv_fd (send_fd if -1).
TestResult run(const Probe& p, int send_fd, const Timing& t, int recv_fd = -1) {
  Message req;
  req.txid = random_txid();
  req.fingerprint = true;
  if (p.change) req.change_request = p.change;
  req.response_port = p.response_port;
  const Exchange x = transact(send_fd, recv_fd < 0 ? send_fd : recv_fd, p.to, req, t, p.expect);
  TestResult r;
  r.test = p.test;
  r.to = p.to;
  r.change = p.change;
  r.expected_from = p.expected_from;
  r.sends = x.sends;
  if (!x.reply) return r;
  const Message& m = *x.reply;
  r.answered = true;
  r.from = x.from;
  r.elapsed_s = x.elapsed_s;
  if (m.type == kBindingError) r.error = m.error.value_or(ErrorCode{});
  r.mapped = m.xor_mapped ? m.xor_mapped : m.mapped;
  r.response_origin = m.response_origin;
  r.other_address = m.other_address;
  return r;
}

Endpoint with_port(Endpoint e, uint16_t port) {
  e.port = port;
  return e;
}

Fd any_socket(const Endpoint& like, uint16_t port = 0) {
  Endpoint any;
  any.ip6 = like.ip6;
  any.port = port;
  return udp_socket(any);
}

// Records a result; a test whose answer is needed notes its absence.
TestResult keep(Report& r, TestResult t, bool needed) {
  if (needed && !t.ok()) {
    r.unanswered = r.unanswered || !t.answered;
    r.notes.push_back(t.answered ? fmt::format("{}: unexpected answer (error {}, from {})", t.test,
                                               t.error ? t.error->code : 0, t.from.text())
                                 : fmt::format("{}: no answer from {}", t.test, t.to.text()));
  }
  r.tests.push_back(t);
  return t;
}

// §4.5: a Binding request from a second socket to the first one's mapped address; hairpinning
// when it arrives there.
bool hairpin(Report& r, int first_fd, const Timing& t) {
  Fd second = any_socket(r.server);
  return keep(r, run({"hairpinning", *r.mapped, 0, {}, {}, Expect::Request}, second.get(), t, first_fd),
              false).answered;
}

// §4.6: a new binding (socket X) idle for `gap_s`; then socket Y asks the server to answer to
// X's mapped port (RESPONSE-PORT). The answer reaches X only while X's binding lives.
bool binding_alive(const ClientOptions& o, int y_fd, double gap_s, Report& r) {
  Fd x = any_socket(o.server);
  const TestResult bind = run({"lifetime_bind", o.server, 0, {}, o.server}, x.get(), o.timing);
  if (!bind.ok() || !bind.mapped) throw std::runtime_error("binding lifetime: no answer to a new binding");
  std::this_thread::sleep_for(std::chrono::duration<double>(gap_s));
  TestResult probe = run({fmt::format("lifetime_{}s", gap_s), o.server, 0, bind.mapped->port, o.server},
                         y_fd, o.timing, x.get());
  const bool alive = probe.ok();
  r.tests.push_back(std::move(probe));
  return alive;
}

Lifetime lifetime(const ClientOptions& o, Report& r) {
  Lifetime l;
  Fd y = any_socket(o.server);
  const auto probe = [&](double gap) {
    const bool alive = binding_alive(o, y.get(), gap, r);
    l.probes.push_back({gap, alive});
    (alive ? l.alive_s : l.expired_s) = gap;
    return alive;
  };
  if (!probe(0)) {
    r.notes.push_back("binding lifetime: no answer through RESPONSE-PORT even at once");
    l.alive_s.reset();
    l.expired_s.reset();
    return l;
  }
  for (double gap = o.lifetime_start_s; probe(gap) && gap < o.max_lifetime_s;)
    gap = std::min(gap * 2, o.max_lifetime_s);
  // Halve the interval a few times, to half a second or a tenth of the lifetime.
  for (int i = 0; i < 4 && l.expired_s && *l.expired_s - *l.alive_s > std::max(0.5, *l.alive_s / 10); ++i)
    probe((*l.alive_s + *l.expired_s) / 2);
  return l;
}

}  // namespace

Report discover(const ClientOptions& o) {
  Report r;
  r.server = o.server;
  Fd m = any_socket(o.server, o.local_port);
  r.local = source_toward(o.server, local_endpoint(m.get()).port);

  // §4.3 mapping.
  const TestResult m1 = keep(r, run({"mapping_1", o.server, 0, {}, o.server}, m.get(), o.timing), true);
  if (!m1.answered) throw NoAnswer(fmt::format("no answer from {}", o.server.text()));
  if (!m1.ok() || !m1.mapped)
    throw std::runtime_error(fmt::format("{} answered test I without a mapped address or from {}",
                                         o.server.text(), m1.from.text()));
  if (!m1.other_address)
    throw std::runtime_error(fmt::format("{} sent no OTHER-ADDRESS: not an RFC 5780 server", o.server.text()));
  r.other = *m1.other_address;
  r.mapped = m1.mapped;
  r.port_preservation = m1.mapped->port == r.local.port;
  TestResult t2, t3;
  if (*m1.mapped != r.local) {
    const Endpoint alt_ip = with_port(r.other, o.server.port);
    t2 = keep(r, run({"mapping_2", alt_ip, 0, {}, alt_ip}, m.get(), o.timing), true);
    if (t2.ok() && t2.mapped != m1.mapped)
      t3 = keep(r, run({"mapping_3", r.other, 0, {}, r.other}, m.get(), o.timing), true);
  }
  r.mapping = classify_mapping(r.local, m1, t2, t3);

  // §4.4 filtering, on a binding that has only met the primary address.
  Fd f = any_socket(o.server);
  if (keep(r, run({"filtering_1", o.server, 0, {}, o.server}, f.get(), o.timing), true).ok()) {
    const TestResult f2 = keep(r, run({"filtering_2", o.server, kChangeIp | kChangePort, {}, r.other},
                                      f.get(), o.timing), false);
    TestResult f3;
    if (!f2.answered)
      f3 = keep(r, run({"filtering_3", o.server, kChangePort, {}, with_port(o.server, r.other.port)},
                       f.get(), o.timing), false);
    r.filtering = classify_filtering(f2, f3);
  }

  // §4.5 hairpinning.
  r.hairpinning = hairpin(r, m.get(), o.timing);

  if (o.lifetime) r.lifetime = lifetime(o, r);
  return r;
}

}  // namespace pathlab::natprobe
