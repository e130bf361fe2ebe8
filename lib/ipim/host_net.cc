// Linux socket helpers for pathlab-probe.
#include "pathlab/ipim/host_net.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace pathlab::ipim {

uint64_t realtime_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

void check_sys(int rc, const std::string& what) {
  if (rc < 0) throw_errno(what);
}

void set_int_opt(int fd, int level, int name, int value, const char* what) {
  check_sys(setsockopt(fd, level, name, &value, sizeof value), what);
}

uint16_t SockAddr::port() const {
  return ntohs(ip6() ? reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port
                     : reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

std::array<uint8_t, 16> SockAddr::bytes() const {
  std::array<uint8_t, 16> b{};
  if (ip6()) std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
  else std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, 4);
  return b;
}

std::string SockAddr::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  const auto b = bytes();
  inet_ntop(ip6() ? AF_INET6 : AF_INET, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<SockAddr> resolve(const std::string& host, uint16_t port, bool ip6) {
  addrinfo hints{};
  hints.ai_family = ip6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return std::nullopt;
  SockAddr a;
  std::memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  freeaddrinfo(res);
  return a;
}

SockAddr any_address(uint16_t port, bool ip6) {
  SockAddr a;
  if (ip6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s->sin6_family = AF_INET6;
    s->sin6_addr = in6addr_any;
    s->sin6_port = htons(port);
    a.len = sizeof *s;
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
    s->sin_family = AF_INET;
    s->sin_addr.s_addr = htonl(INADDR_ANY);
    s->sin_port = htons(port);
    a.len = sizeof *s;
  }
  return a;
}

SockAddr source_toward(const SockAddr& to) {
  Fd fd(socket(to.ss.ss_family, SOCK_DGRAM, 0));
  check_sys(fd.get(), "socket");
  check_sys(connect(fd.get(), to.sa(), to.len), "no route to " + to.text());
  SockAddr a;
  a.len = sizeof a.ss;
  check_sys(getsockname(fd.get(), a.sa(), &a.len), "getsockname");
  return a;
}

bool wait_readable(int fd, int64_t timeout_us) {
  if (timeout_us < 0) timeout_us = 0;
  pollfd p{fd, POLLIN, 0};
  const int rc = poll(&p, 1, static_cast<int>((timeout_us + 999) / 1000));
  if (rc < 0 && errno != EINTR) throw_errno("poll");
  return rc > 0;
}

namespace {

void take_cmsg(const cmsghdr* c, Datagram& d) {
  const uint8_t* p = CMSG_DATA(c);
  const size_t n = c->cmsg_len - CMSG_LEN(0);
  int v = 0;
  if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
    timespec ts;
    std::memcpy(&ts, p, sizeof ts);
    d.arrival_us = uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
  } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
    std::memcpy(&v, p, sizeof v);
    d.ttl = static_cast<uint8_t>(v);
  } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
    d.tos = p[0];
  } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVOPTS) {  // raw bytes
    d.ip4_options.assign(p, p + n);
  } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
    in_pktinfo pi;
    std::memcpy(&pi, p, sizeof pi);
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), &pi.ipi_addr, 4);
    d.dst = a;
  } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
    std::memcpy(&v, p, sizeof v);
    d.ttl = static_cast<uint8_t>(v);
  } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
    std::memcpy(&v, p, sizeof v);
    d.tos = static_cast<uint8_t>(v);
  } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPOPTS) {
    d.ip6_hbh.assign(p, p + n);
  } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_FLOWINFO) {
    uint32_t f;
    std::memcpy(&f, p, sizeof f);
    d.flowinfo = ntohl(f);
  } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
    in6_pktinfo pi;
    std::memcpy(&pi, p, sizeof pi);
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), &pi.ipi6_addr, 16);
    d.dst = a;
  }
}

}  // namespace

std::optional<Datagram> receive(int fd) {
  Datagram d;
  d.data.resize(65536);
  alignas(cmsghdr) uint8_t control[2048];
  iovec iov{d.data.data(), d.data.size()};
  msghdr msg{};
  msg.msg_name = &d.from.ss;
  msg.msg_namelen = sizeof d.from.ss;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::nullopt;
    throw_errno("recvmsg");
  }
  d.data.resize(static_cast<size_t>(n));
  d.from.len = msg.msg_namelen;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) take_cmsg(c, d);
  if (!d.arrival_us) d.arrival_us = realtime_us();
  return d;
}

void send_from(int fd, std::span<const uint8_t> data, const SockAddr& to,
               const std::optional<std::array<uint8_t, 16>>& src) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to.sa());
  msg.msg_namelen = to.len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  in6_pktinfo pi6{};
  in_pktinfo pi4{};
  if (src) {
    std::memcpy(&pi6.ipi6_addr, src->data(), 16);
    std::memcpy(&pi4.ipi_spec_dst, src->data(), 4);
    const bool v6 = to.ip6();
    const size_t n = v6 ? sizeof pi6 : sizeof pi4;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(n);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    c->cmsg_type = v6 ? IPV6_PKTINFO : IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(n);
    std::memcpy(CMSG_DATA(c), v6 ? static_cast<const void*>(&pi6) : &pi4, n);
  }
  if (sendmsg(fd, &msg, 0) < 0) throw_errno("sendmsg to " + to.text());
}

}  // namespace pathlab::ipim
