// STUN over UDP sockets (RFC 5389 §7.2.1: retransmissions over UDP).
#include "pathlab/natprobe/transport.hpp"

#include <arpa/inet.h>
#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace pathlab::natprobe {

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool wanted(const Message& m, const TxId& id, Expect expect) {
  if (m.txid != id) return false;
  if (expect == Expect::Request) return m.type == kBindingRequest;
  return m.type == kBindingSuccess || m.type == kBindingError;
}

}  // namespace

SockAddr to_sockaddr(const Endpoint& e) {
  SockAddr a;
  if (e.ip6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s->sin6_family = AF_INET6;
    std::memcpy(&s->sin6_addr, e.addr.data(), 16);
    s->sin6_port = htons(e.port);
    a.len = sizeof *s;
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
    s->sin_family = AF_INET;
    std::memcpy(&s->sin_addr, e.addr.data(), 4);
    s->sin_port = htons(e.port);
    a.len = sizeof *s;
  }
  return a;
}

Endpoint from_sockaddr(const SockAddr& a) {
  Endpoint e;
  e.ip6 = a.ip6();
  e.addr = a.bytes();
  e.port = a.port();
  // An IPv4-mapped IPv6 address reads as IPv4.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (e.ip6 && std::memcmp(e.addr.data(), kMapped, 12) == 0) {
    std::memmove(e.addr.data(), e.addr.data() + 12, 4);
    std::memset(e.addr.data() + 4, 0, 12);
    e.ip6 = false;
  }
  return e;
}

Fd udp_socket(const Endpoint& at) {
  Fd fd(socket(at.ip6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ipim::check_sys(fd.get(), "socket");
  if (at.ip6) ipim::set_int_opt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  const SockAddr a = to_sockaddr(at);
  ipim::check_sys(bind(fd.get(), a.sa(), a.len), "bind " + at.text());
  return fd;
}

Endpoint local_endpoint(int fd) {
  SockAddr a;
  a.len = sizeof a.ss;
  ipim::check_sys(getsockname(fd, a.sa(), &a.len), "getsockname");
  return from_sockaddr(a);
}

Endpoint source_toward(const Endpoint& to, uint16_t port) {
  Endpoint e = from_sockaddr(ipim::source_toward(to_sockaddr(to)));
  e.port = port;
  return e;
}

TxId random_txid() {
  TxId id;
  size_t got = 0;
  while (got < id.size()) {
    const ssize_t n = getrandom(id.data() + got, id.size() - got, 0);
    if (n < 0 && errno != EINTR) ipim::throw_errno("getrandom");
    if (n > 0) got += static_cast<size_t>(n);
  }
  return id;
}

Exchange transact(int send_fd, int recv_fd, const Endpoint& to, const Message& req, const Timing& t,
                  Expect expect) {
  const std::vector<uint8_t> wire = encode(req);
  const SockAddr dst = to_sockaddr(to);
  const double start = now_s(), deadline = start + t.timeout_s;
  double next_send = start, rto = t.rto_s;
  Exchange x;
  for (;;) {
    const double now = now_s();
    if (now >= deadline) return x;
    if (now >= next_send && x.sends < t.max_sends) {
      if (sendto(send_fd, wire.data(), wire.size(), 0, dst.sa(), dst.len) < 0)
        ipim::throw_errno("sendto " + to.text());
      ++x.sends;
      next_send += rto;
      rto *= 2;
    }
    const double until = x.sends < t.max_sends ? std::min(next_send, deadline) : deadline;
    if (!ipim::wait_readable(recv_fd, static_cast<int64_t>((until - now_s()) * 1e6))) continue;
    while (auto d = ipim::receive(recv_fd)) {
      Decoded dec = decode(d->data);
      if (!dec.msg || !wanted(*dec.msg, req.txid, expect)) continue;
      x.reply = std::move(dec.msg);
      x.from = from_sockaddr(d->from);
      x.elapsed_s = now_s() - start;
      return x;
    }
  }
}

}  // namespace pathlab::natprobe
