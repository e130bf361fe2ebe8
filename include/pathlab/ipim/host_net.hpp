#pragma once
// Linux socket helpers for pathlab-probe: addresses, the clock, a file descriptor, and the
// ancillary data of a received datagram. Host code only: no DPDK.
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

// From <linux/in6.h>, which clashes with <netinet/in.h>.
#ifndef IPV6_FLOWINFO
#define IPV6_FLOWINFO 11  // as a socket option: deliver the flow info as ancillary data
#endif
#ifndef IPV6_AUTOFLOWLABEL
#define IPV6_AUTOFLOWLABEL 70
#endif

namespace pathlab::ipim {

// CLOCK_REALTIME in microseconds: the time base of every t, t echo and arrival.
uint64_t realtime_us();

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() { int f = fd_; fd_ = -1; return f; }

 private:
  int fd_;
};

// Throws std::runtime_error "what: strerror(errno)".
[[noreturn]] void throw_errno(const std::string& what);
void check_sys(int rc, const std::string& what);
void set_int_opt(int fd, int level, int name, int value, const char* what);

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool ip6() const { return ss.ss_family == AF_INET6; }
  uint16_t port() const;
  std::array<uint8_t, 16> bytes() const;  // IPv4 in the first 4
  std::string text() const;               // the address without the port
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss); }
};
// A numeric address or a host name of the given family; nullopt when it does not resolve.
std::optional<SockAddr> resolve(const std::string& host, uint16_t port, bool ip6);
SockAddr any_address(uint16_t port, bool ip6);
// The source address the kernel picks toward `to` (a connected UDP socket's name).
SockAddr source_toward(const SockAddr& to);

// One received datagram and what the kernel said about it.
struct Datagram {
  std::vector<uint8_t> data;
  SockAddr from;
  uint64_t arrival_us = 0;  // SO_TIMESTAMPNS, or the clock when read
  std::optional<uint8_t> ttl, tos;
  std::optional<uint32_t> flowinfo;           // IPv6: traffic class and flow label, host order
  std::vector<uint8_t> ip4_options;           // IP_RECVOPTS: the options area as received
  std::vector<uint8_t> ip6_hbh;               // IPV6_RECVHOPOPTS: the whole header
  std::optional<std::array<uint8_t, 16>> dst; // IP_PKTINFO / IPV6_PKTINFO
};
// Reads one datagram (MSG_DONTWAIT); nullopt when none is waiting.
std::optional<Datagram> receive(int fd);
// Waits until fd is readable or timeout_us passes; false on timeout.
bool wait_readable(int fd, int64_t timeout_us);
// Sends with an explicit source address (IP_PKTINFO / IPV6_PKTINFO) when `src` is given.
void send_from(int fd, std::span<const uint8_t> data, const SockAddr& to,
               const std::optional<std::array<uint8_t, 16>>& src);

}  // namespace pathlab::ipim
