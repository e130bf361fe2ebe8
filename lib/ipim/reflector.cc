// `pathlab-probe reflect`: the echoes.
#include "pathlab/ipim/reflector.hpp"

#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <map>
#include <random>
#include <tuple>

#include <fmt/format.h>

#include "pathlab/ipim/e2e.hpp"
#include "pathlab/ipim/host_net.hpp"
#include "pathlab/ipim/option_fields.hpp"

namespace pathlab::ipim {

namespace {

// A probe as it arrived: its block, the header fields, the TTL and the option.
struct ArrivedProbe {
  E2eBlock block;
  HeaderFields fields;
  uint8_t ttl = 0;
  std::vector<uint8_t> option;
  SockAddr peer;
  uint64_t arrival_us = 0;
};

// An IPv4 packet from the raw socket: the whole IP header, then UDP.
std::optional<ArrivedProbe> parse_ip4(const Datagram& d, uint16_t port) {
  const std::vector<uint8_t>& p = d.data;
  if (p.size() < 20 || (p[0] >> 4) != 4) return std::nullopt;
  const unsigned ihl = (p[0] & 0x0f) * 4u;
  const unsigned total = rd16(&p[2]);
  if (ihl < 20 || p.size() < ihl + 8 || p[9] != IPPROTO_UDP || (rd16(&p[6]) & 0x1fff)) return std::nullopt;
  const uint8_t* udp = &p[ihl];
  if (rd16(udp + 2) != port) return std::nullopt;
  auto block = decode_e2e(std::span(p).subspan(ihl + 8));
  if (!block || block->type != kE2eProbe) return std::nullopt;
  ArrivedProbe a;
  a.block = std::move(*block);
  a.ttl = p[8];
  HeaderFields& h = a.fields;
  h.tos = p[1];
  h.df_or_flow = (p[6] & 0x40) ? 1 : 0;
  h.ip_id = rd16(&p[4]);
  std::copy(&p[12], &p[16], h.src.begin());
  std::copy(&p[16], &p[20], h.dst.begin());
  h.sport = rd16(udp);
  h.dport = rd16(udp + 2);
  h.payload_len = static_cast<uint16_t>(total - ihl);
  if (auto o = find_option(std::span(p).subspan(20, ihl - 20), false)) a.option.assign(o->begin(), o->end());
  a.peer = d.from;
  reinterpret_cast<sockaddr_in*>(&a.peer.ss)->sin_port = htons(h.sport);
  a.arrival_us = d.arrival_us;
  return a;
}

// An IPv6 datagram from the UDP socket with its ancillary data.
std::optional<ArrivedProbe> parse_ip6(const Datagram& d, uint16_t port) {
  auto block = decode_e2e(d.data);
  if (!block || block->type != kE2eProbe) return std::nullopt;
  ArrivedProbe a;
  a.block = std::move(*block);
  a.ttl = d.ttl.value_or(0);
  HeaderFields& h = a.fields;
  h.ip6 = true;
  h.tos = d.tos.value_or(0);
  h.df_or_flow = d.flowinfo.value_or(0) & 0xfffff;
  h.src = d.from.bytes();
  h.dst = d.dst.value_or(std::array<uint8_t, 16>{});
  h.sport = d.from.port();
  h.dport = port;
  h.payload_len = static_cast<uint16_t>(d.ip6_hbh.size() + 8 + d.data.size());
  if (d.ip6_hbh.size() > 2)
    if (auto o = find_option(std::span(d.ip6_hbh).subspan(2), true)) a.option.assign(o->begin(), o->end());
  a.peer = d.from;
  a.arrival_us = d.arrival_us;
  return a;
}

struct PeerState {
  uint32_t nonce_sum = 0;  // of the probe nonces received
  uint32_t nonce = 0;      // this end's last nonce
};
using PeerKey = std::tuple<std::array<uint8_t, 16>, uint16_t, uint16_t>;  // address, port, host id

class Reflector {
 public:
  explicit Reflector(const ReflectOptions& o) : o_(o), rng_(std::random_device{}()) {
    host_id_ = static_cast<uint16_t>(rng_());
    const int family = o.ip6 ? AF_INET6 : AF_INET;
    udp_ = Fd(socket(family, SOCK_DGRAM, 0));
    check_sys(udp_.get(), "socket");
    if (o.ip6) set_int_opt(udp_.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    const SockAddr any = any_address(o.port, o.ip6);
    check_sys(bind(udp_.get(), any.sa(), any.len), fmt::format("bind port {}", o.port));
    if (o.ip6) {
      for (int opt : {IPV6_RECVHOPOPTS, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS, IPV6_RECVPKTINFO, IPV6_FLOWINFO})
        set_int_opt(udp_.get(), IPPROTO_IPV6, opt, 1, "IPv6 ancillary data option");
      set_int_opt(udp_.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
    } else {
      raw_ = Fd(socket(AF_INET, SOCK_RAW, IPPROTO_UDP));
      check_sys(raw_.get(), "raw socket (root needed)");
      set_int_opt(raw_.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
    }
  }

  uint64_t run(const volatile std::sig_atomic_t* stop) {
    const uint64_t end = o_.duration_s > 0 ? realtime_us() + uint64_t(o_.duration_s * 1e6) : 0;
    const int in = o_.ip6 ? udp_.get() : raw_.get();
    while (!(stop && *stop) && !(o_.count && answered_ >= o_.count)) {
      const uint64_t now = realtime_us();
      if (end && now >= end) break;
      pollfd p[2] = {{in, POLLIN, 0}, {udp_.get(), POLLIN, 0}};
      const int wait_ms = end ? static_cast<int>(std::min<uint64_t>((end - now) / 1000 + 1, 200)) : 200;
      if (poll(p, o_.ip6 ? 1 : 2, wait_ms) < 0 && errno != EINTR) throw_errno("poll");
      if (!o_.ip6)
        while (receive(udp_.get())) {}  // the raw socket has them; drop the UDP copies
      while (auto d = receive(in)) {
        auto a = o_.ip6 ? parse_ip6(*d, o_.port) : parse_ip4(*d, o_.port);
        if (a) answer(*a);
        if (o_.count && answered_ >= o_.count) break;
      }
    }
    return answered_;
  }

 private:
  void answer(const ArrivedProbe& a) {
    PeerState& s = peers_[PeerKey{a.fields.src, a.fields.sport, a.block.host_id}];
    if (!s.nonce) s.nonce = static_cast<uint32_t>(rng_() >> 34);
    s.nonce += 1 + static_cast<uint32_t>(rng_() % 65536);
    s.nonce_sum += a.block.nonce;
    E2eBlock e;
    e.type = kE2eEcho;
    e.host_id = host_id_;
    e.seq = a.block.seq;
    e.nonce = s.nonce;
    e.nonce_sum = s.nonce_sum;
    e.t_echo = a.block.t;
    // Mode 1: the sender's salt is its own; the echo is unsalted (mode 0).
    e.mode = a.block.mode == kModeSenderSalt ? uint8_t{kModePlain} : a.block.mode;
    const std::vector<uint8_t> salt =
        e.mode == kModeSharedSalt ? std::vector<uint8_t>(o_.salt.begin(), o_.salt.end())
                                  : std::vector<uint8_t>{};
    e.hash_echo = digests(a.fields, a.block.coverage, salt);
    e.rx_ttl = a.ttl;
    e.rx_tos = a.fields.tos;
    e.rx_option = a.option;
    const uint64_t now = realtime_us();
    e.t = static_cast<uint32_t>(now);
    e.delta = static_cast<uint32_t>(now - std::min(now, a.arrival_us));
    send_from(udp_.get(), encode_e2e(e), a.peer, a.fields.dst);
    ++answered_;
    if (o_.verbose)
      fmt::print(stderr, "echo {} to {} port {}: ttl {}, tos {:#04x}, option {} bytes\n", e.seq,
                 a.peer.text(), a.fields.sport, a.ttl, a.fields.tos, a.option.size());
  }

  const ReflectOptions& o_;
  std::mt19937_64 rng_;
  uint16_t host_id_ = 0;
  Fd udp_, raw_;
  std::map<PeerKey, PeerState> peers_;
  uint64_t answered_ = 0;
};

}  // namespace

uint64_t reflect(const ReflectOptions& o, const volatile std::sig_atomic_t* stop) {
  return Reflector(o).run(stop);
}

}  // namespace pathlab::ipim
