// `pathlab-probe send`: the probes and the echoes they bring back.
#include "pathlab/ipim/sender.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <random>
#include <stdexcept>

#include "pathlab/ipim/host_net.hpp"
#include "pathlab/ipim/option_fields.hpp"

namespace pathlab::ipim {

namespace {

// A UDP socket bound to the source address toward `to`, set up so that the header fields the
// integrity groups cover are known before sending: the TTL, the TOS, DF set (Linux then sends
// IP ID 0 from an unconnected socket), no automatic IPv6 flow label (label 0).
Fd open_probe_socket(const SendOptions& o, const SockAddr& to, SockAddr& src) {
  Fd fd(socket(to.ss.ss_family, SOCK_DGRAM, 0));
  check_sys(fd.get(), "socket");
  src = source_toward(to);
  if (src.ip6()) reinterpret_cast<sockaddr_in6*>(&src.ss)->sin6_port = 0;
  else reinterpret_cast<sockaddr_in*>(&src.ss)->sin_port = 0;
  check_sys(bind(fd.get(), src.sa(), src.len), "bind " + src.text());
  src.len = sizeof src.ss;
  check_sys(getsockname(fd.get(), src.sa(), &src.len), "getsockname");
  if (o.ip6) {
    set_int_opt(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, o.ttl0, "IPV6_UNICAST_HOPS");
    set_int_opt(fd.get(), IPPROTO_IPV6, IPV6_TCLASS, o.tos, "IPV6_TCLASS");
    set_int_opt(fd.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO, "IPV6_MTU_DISCOVER");
    set_int_opt(fd.get(), IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, 0, "IPV6_AUTOFLOWLABEL");
  } else {
    set_int_opt(fd.get(), IPPROTO_IP, IP_TTL, o.ttl0, "IP_TTL");
    set_int_opt(fd.get(), IPPROTO_IP, IP_TOS, o.tos, "IP_TOS");
    set_int_opt(fd.get(), IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
  }
  set_int_opt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
  return fd;
}

// Installs the option for the next probe; returns the extension header bytes it adds to the
// IP payload (IPv6), 0 for IPv4 (options are part of the header).
size_t set_carrier(int fd, bool ip6, const std::vector<uint8_t>& option) {
  if (ip6) {
    const std::vector<uint8_t> hbh = option.empty() ? std::vector<uint8_t>{} : ip6_hbh_header(option);
    check_sys(setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, hbh.empty() ? nullptr : hbh.data(),
                         static_cast<socklen_t>(hbh.size())),
              "IPV6_HOPOPTS (root needed)");
    return hbh.size();
  }
  const std::vector<uint8_t> area = ip4_options_area(option);
  check_sys(setsockopt(fd, IPPROTO_IP, IP_OPTIONS, area.empty() ? nullptr : area.data(),
                       static_cast<socklen_t>(area.size())),
            "IP_OPTIONS (root needed)");
  return 0;
}

class ProbeRun {
 public:
  ProbeRun(const SendOptions& o) : o_(o), rng_(std::random_device{}()) {
    const auto to = resolve(o.to, o.port, o.ip6);
    if (!to) throw std::runtime_error("cannot resolve " + o.to);
    to_ = *to;
    fd_ = open_probe_socket(o, to_, src_);
    run_.ip6 = o.ip6;
    run_.sample = o.sample;
    run_.ttl0 = o.ttl0;
    run_.ttl_prime0 = static_cast<uint8_t>(rng_());
    run_.evolution0 = static_cast<uint32_t>(rng_());
    run_.coverage = o.coverage;
    host_id_ = static_cast<uint16_t>(rng_());
    nonce_ = static_cast<uint32_t>(rng_() >> 34);  // leaves room to increase
    if (o.mode == kModeSenderSalt)
      for (int i = 0; i < 8; ++i) sender_salt_.push_back(static_cast<uint8_t>(rng_()));
  }

  Run go() {
    run_.start_us = realtime_us();
    for (unsigned i = 0; i < o_.count; ++i) {
      send_one(i);
      collect(run_.start_us + static_cast<uint64_t>((i + 1) * o_.interval_s * 1e6));
    }
    const uint64_t end = realtime_us() + static_cast<uint64_t>(o_.timeout_s * 1e6);
    while (run_.echoes.size() < o_.count && realtime_us() < end) collect(end);
    return std::move(run_);
  }

 private:
  uint8_t target_for(unsigned i) const {
    if (!o_.sweep) return o_.target_ttl;
    const auto [a, b] = *o_.sweep;
    return static_cast<uint8_t>(a + i % (b - a + 1u));
  }

  void send_one(unsigned seq) {
    OptionSpec spec{o_.ip6, o_.perf, o_.sample, o_.slots, target_for(seq), run_.ttl_prime0,
                    run_.evolution0};
    SentProbe p;
    p.seq = seq;
    p.target_ttl = spec.target_ttl;
    if (o_.with_option) p.option = build_option(spec);
    const size_t ext = set_carrier(fd_.get(), o_.ip6, p.option);

    HeaderFields h;
    h.ip6 = o_.ip6;
    h.tos = o_.tos;
    h.df_or_flow = o_.ip6 ? 0 : 1;
    h.src = src_.bytes();
    h.dst = to_.bytes();
    h.sport = src_.port();
    h.dport = to_.port();
    h.payload_len = static_cast<uint16_t>(ext + 8 + kE2eProbeLen);
    const std::vector<uint8_t> shared(o_.salt.begin(), o_.salt.end());

    nonce_ += 1 + static_cast<uint32_t>(rng_() % 65536);
    E2eBlock b;
    b.type = kE2eProbe;
    b.host_id = host_id_;
    b.seq = seq;
    b.nonce = nonce_;
    b.nonce_sum = echo_nonce_sum_;
    b.coverage = o_.coverage;
    b.mode = o_.mode;
    b.hash = digests(h, o_.coverage, o_.mode == kModeSenderSalt ? sender_salt_ : shared);
    b.t_echo = last_echo_t_;
    p.sent_us = realtime_us();
    b.t = p.t = static_cast<uint32_t>(p.sent_us);
    b.delta = last_echo_arrival_ ? static_cast<uint32_t>(p.sent_us - last_echo_arrival_) : 0;
    p.nonce = nonce_;
    p.digests = digests(h, o_.coverage, o_.mode == kModeSharedSalt ? shared : std::vector<uint8_t>{});
    send_from(fd_.get(), encode_e2e(b), to_, std::nullopt);
    run_.probes.push_back(std::move(p));
  }

  void collect(uint64_t until_us) {
    for (uint64_t now = realtime_us(); now < until_us; now = realtime_us()) {
      if (!wait_readable(fd_.get(), static_cast<int64_t>(until_us - now))) continue;
      while (auto d = receive(fd_.get())) take(*d);
      if (run_.echoes.size() >= o_.count) return;
    }
  }

  void take(const Datagram& d) {
    if (d.from.bytes() != to_.bytes() || d.from.port() != to_.port()) return;
    auto b = decode_e2e(d.data);
    if (!b || b->type != kE2eEcho || b->seq >= run_.probes.size()) return;
    echo_nonce_sum_ += b->nonce;
    last_echo_t_ = b->t;
    last_echo_arrival_ = d.arrival_us;
    run_.echoes.push_back({d.arrival_us, std::move(*b)});
  }

  const SendOptions& o_;
  std::mt19937_64 rng_;
  SockAddr to_, src_;
  Fd fd_;
  Run run_;
  uint16_t host_id_ = 0;
  uint32_t nonce_ = 0, echo_nonce_sum_ = 0, last_echo_t_ = 0;
  uint64_t last_echo_arrival_ = 0;
  std::vector<uint8_t> sender_salt_;
};

}  // namespace

Run send_probes(const SendOptions& o) { return ProbeRun(o).go(); }

}  // namespace pathlab::ipim
