// The RFC 5780 STUN server (RFC 5389 §7.3, RFC 5780 §7).
#include "pathlab/natprobe/server.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "pathlab/natprobe/transport.hpp"

namespace pathlab::natprobe {

namespace {

constexpr const char* kServerName = "pathlab-natprobe";
// PADDING echoed at most this long: the answer stays within a UDP datagram.
constexpr size_t kMaxPadding = 65000;

Message error_response(const Message& req, unsigned code, const char* reason) {
  Message m;
  m.type = kBindingError;
  m.txid = req.txid;
  m.error = ErrorCode{code, reason};
  m.software = kServerName;
  m.fingerprint = req.fingerprint;
  return m;
}

}  // namespace

ServerAddresses server_addresses(const Endpoint& primary, const Endpoint& alternate, uint16_t port,
                                 uint16_t alt_port) {
  ServerAddresses a;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      a[i][j] = i ? alternate : primary;
      a[i][j].port = j ? alt_port : port;
    }
  return a;
}

std::optional<Answer> answer(const Message& req, const Endpoint& from, int ip, int port,
                             const ServerAddresses& a) {
  if (req.type != kBindingRequest) return std::nullopt;
  Answer ans{{}, ip, port, from};
  if (!req.unknown_required.empty()) {
    ans.msg = error_response(req, 420, "Unknown Attribute");
    ans.msg.unknown_attributes = req.unknown_required;
    return ans;
  }
  if (req.response_port && *req.response_port == 0) {
    ans.msg = error_response(req, 400, "Bad Request: RESPONSE-PORT 0");
    return ans;
  }
  const uint32_t change = req.change_request.value_or(0);
  ans.ip = ip ^ ((change & kChangeIp) ? 1 : 0);
  ans.port = port ^ ((change & kChangePort) ? 1 : 0);
  if (req.response_port) ans.to.port = *req.response_port;
  Message& m = ans.msg;
  m.type = kBindingSuccess;
  m.txid = req.txid;
  m.xor_mapped = from;
  m.mapped = from;
  m.response_origin = a[ans.ip][ans.port];
  m.other_address = a[1 - ip][1 - port];
  if (req.padding) m.padding = std::min(*req.padding, kMaxPadding);
  m.software = kServerName;
  m.fingerprint = req.fingerprint;
  return ans;
}

uint64_t serve(const ServerOptions& o, volatile std::sig_atomic_t* stop) {
  std::array<Fd, 4> socks;
  std::array<pollfd, 4> polls{};
  for (int k = 0; k < 4; ++k) {
    socks[k] = udp_socket(o.addresses[k / 2][k % 2]);
    polls[k] = {socks[k].get(), POLLIN, 0};
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t answers = 0;
  while (!*stop && (!o.count || answers < o.count)) {
    const double ran = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.duration_s > 0 && ran >= o.duration_s) break;
    if (poll(polls.data(), polls.size(), 100) < 0 && errno != EINTR) ipim::throw_errno("poll");
    for (int k = 0; k < 4; ++k) {
      if (!(polls[k].revents & POLLIN)) continue;
      while (auto d = ipim::receive(socks[k].get())) {
        const Endpoint from = from_sockaddr(d->from);
        const Decoded dec = decode(d->data);
        if (!dec.msg) {
          if (o.verbose) fmt::print(stderr, "natprobe server: {} from {}: {}\n", d->data.size(), from.text(), dec.error);
          continue;
        }
        const auto ans = answer(*dec.msg, from, k / 2, k % 2, o.addresses);
        if (!ans) continue;
        const auto wire = encode(ans->msg);
        const SockAddr to = to_sockaddr(ans->to);
        if (sendto(socks[ans->ip * 2 + ans->port].get(), wire.data(), wire.size(), 0, to.sa(), to.len) < 0) {
          fmt::print(stderr, "natprobe server: sendto {}: {}\n", ans->to.text(), std::strerror(errno));
          continue;
        }
        ++answers;
        if (o.verbose)
          fmt::print(stderr, "natprobe server: {} to {}: {} from {} to {}\n", from.text(),
                     o.addresses[k / 2][k % 2].text(),
                     ans->msg.type == kBindingSuccess ? "answer" : "error",
                     o.addresses[ans->ip][ans->port].text(), ans->to.text());
      }
    }
  }
  return answers;
}

}  // namespace pathlab::natprobe
