// block: a filtering firewall. Drops what matches, or rejects it: an ICMP administratively
// prohibited error (ICMP 3/13, ICMPv6 1/1) from the port's address, or for TCP a reset from the
// destination (iptables REJECT --reject-with icmp-admin-prohibited / tcp-reset).
//   - stage: block
//     action: reject         # drop | reject
//     reject_with: icmp      # icmp | tcp_rst (tcp_rst: TCP segments get a RST, the rest ICMP)
//     rate: 1000             # replies per second, per instance (token bucket)
//     burst: 50              # bucket depth
//     match: {proto: udp, dport: 443}
// ICMP errors and RSTs are never answered (dropped, counted). Replies leave with verdict
// kGenerated and the router routes them; they are untagged Ethernet frames (l2_len 14).
#include <fmt/format.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_cycles.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstring>
#include <optional>

#include "pathlab/net/icmp.hpp"
#include "pathlab/stages/match.hpp"
#include "pathlab/engine/stage_registry.hpp"

namespace pathlab {
namespace {

constexpr CounterDesc kDrops[] = {
    {"blocked", "matched and dropped (action: drop)"},
    {"rate_limited", "reject over the reply rate limit: dropped without a reply"},
    {"no_source", "ICMP reject on a port without an address of the packet's family"},
    {"icmp_error", "matched ICMP/ICMPv6 error: never answered, dropped"},
    {"rst", "matched TCP RST: never answered, dropped"},
    {"no_reply", "reply refused (later fragment, multicast or bad source, malformed, no room)"},
};
enum Drop : uint8_t { kBlocked = 1, kRateLimited, kNoSource, kIcmpError, kRst, kNoReply };

constexpr CounterDesc kActions[] = {
    {"icmp_sent", "ICMP destination unreachable, administratively prohibited (3/13) sent"},
    {"icmp6_sent", "ICMPv6 destination unreachable, administratively prohibited (1/1) sent"},
    {"rst_sent", "TCP RSTs sent"},
};
enum Action : uint8_t { kIcmpSent, kIcmp6Sent, kRstSent };

constexpr uint16_t kEthLen = parse::kEtherHdrLen;  // replies are untagged
constexpr uint8_t kReplyTtl = 64;

enum class Mode : uint8_t { Drop, RejectIcmp, RejectRst };

// Replies per second with a burst allowance; tokens are kept scaled by the TSC rate.
class TokenBucket {
 public:
  TokenBucket(uint64_t rate, uint64_t burst)
      : hz_(rte_get_tsc_hz()),
        rate_(rate),
        cap_(burst * hz_),
        tokens_(cap_),
        fill_cycles_(cap_ / rate + 1),
        last_(rte_get_tsc_cycles()) {}
  bool take(uint64_t now) {
    const uint64_t elapsed = now - last_;
    last_ = now;
    tokens_ = elapsed >= fill_cycles_ ? cap_ : std::min(cap_, tokens_ + elapsed * rate_);
    if (tokens_ < hz_) return false;
    tokens_ -= hz_;
    return true;
  }
  void refund() { tokens_ = std::min(cap_, tokens_ + hz_); }

 private:
  uint64_t hz_, rate_, cap_, tokens_, fill_cycles_, last_;
};

bool is_icmp_error(const PktView& v) {
  if (v.l4 == nullptr || v.l4_len < 1) return false;
  if (v.proto == kProtoIcmp4) return icmp::ip4_is_error_type(v.l4[0]);
  return v.proto == kProtoIcmp6 && icmp::ip6_is_error_type(v.l4[0]);
}

// A TCP segment with a sound header, not a fragment of one: a reset can answer it.
bool whole_tcp(const PktView& v) {
  return v.tcp_ok && (v.version == 6 || (load_be16(v.l3 + 6) & kIp4FragmentMask) == 0);
}

bool is_rst(const PktView& v) {
  return v.proto == kProtoTcp && v.l4 != nullptr && v.l4_len >= 14 && (v.l4[13] & kTcpRst) != 0;
}

// RFC 9293 3.10.7.1 reset for a segment to a closed port, built in place: addresses and ports
// swapped, no options, no payload, new IP header without options or extension headers.
// False (mbuf untouched) when no reset may be sent. v: a whole TCP segment (whole_tcp).
bool make_rst(rte_mbuf* m, const PktView& v) {
  if (!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1 || m->l2_len < kEthLen) return false;
  const bool v4 = v.version == 4;
  if (v4) {
    const uint32_t src = load_be32(v.l3 + 12), dst = load_be32(v.l3 + 16);
    if (icmp::ip4_bad_error_source(src) || icmp::ip4_multicast_or_broadcast(dst)) return false;
  } else {
    static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr uint8_t kAny[16] = {};
    const uint8_t* src = v.l3 + 8;
    if (src[0] == 0xff || v.l3[24] == 0xff || std::memcmp(src, kAny, 16) == 0 ||
        std::memcmp(src, kLoopback, 16) == 0) {
      return false;
    }
  }
  if (rte_pktmbuf_mtod(m, const uint8_t*)[0] & 0x01) return false;  // sent to an L2 group

  // Everything the reply needs, read before the headers are overwritten.
  uint8_t addr_src[16], addr_dst[16];
  const size_t alen = v4 ? 4 : 16;
  std::memcpy(addr_src, v.l3 + (v4 ? 12 : 8), alen);
  std::memcpy(addr_dst, v.l3 + (v4 ? 16 : 24), alen);
  const uint16_t sport = get16(v.l4), dport = get16(v.l4 + 2);
  const uint32_t seg_seq = load_be32(v.l4 + 4), seg_ack = load_be32(v.l4 + 8);
  const uint8_t flags = v.l4[13];
  const uint32_t seg_len =
      v.l4_len - (v.l4[12] >> 4) * 4u + ((flags & kTcpSyn) ? 1 : 0) + ((flags & kTcpFin) ? 1 : 0);

  const uint16_t l2_len = m->l2_len;
  untag_reply(m, l2_len, v4);
  const uint16_t ip_len = v4 ? 20 : 40;
  const uint16_t frame_len = kEthLen + ip_len + 20;
  if (m->next != nullptr) {
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
    m->nb_segs = 1;
  }
  m->data_len = frame_len;
  m->pkt_len = frame_len;

  PktView r;
  r.l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, kEthLen);
  r.l4 = r.l3 + ip_len;
  r.version = v.version;
  r.proto = kProtoTcp;
  r.ip_len = ip_len + 20u;
  r.l4_off = ip_len;
  r.l4_len = 20;
  if (v4) {
    static constexpr uint8_t kHdr[12] = {0x45, 0, 0, 40, 0, 0, 0x40, 0, kReplyTtl, kProtoTcp, 0, 0};
    std::memcpy(r.l3, kHdr, sizeof kHdr);  // ID 0, DF, as Linux's nf_reject
    std::memcpy(r.l3 + 12, addr_dst, 4);
    std::memcpy(r.l3 + 16, addr_src, 4);
    csum::set_ip4_header(r.l3, 20);
  } else {
    static constexpr uint8_t kHdr[8] = {0x60, 0, 0, 0, 0, 20, kProtoTcp, kReplyTtl};
    std::memcpy(r.l3, kHdr, sizeof kHdr);
    std::memcpy(r.l3 + 8, addr_dst, 16);
    std::memcpy(r.l3 + 24, addr_src, 16);
  }
  uint8_t* t = r.l4;
  put16(t, dport);
  put16(t + 2, sport);
  const bool had_ack = (flags & kTcpAck) != 0;
  put32(t + 4, rte_cpu_to_be_32(had_ack ? seg_ack : 0));
  put32(t + 8, rte_cpu_to_be_32(had_ack ? 0 : seg_seq + seg_len));
  t[12] = 5 << 4;
  t[13] = had_ack ? kTcpRst : (kTcpRst | kTcpAck);
  std::memset(t + 14, 0, 6);  // window, checksum, urgent pointer
  l4_cksum_full(r);
  return true;
}

class Block final : public MatchStage {
 public:
  Block(const StageCommon& c, const StageSite& site, Mode mode, uint32_t rate, uint32_t burst)
      : MatchStage(kDrops, kActions, c, site), mode_(mode), bucket_(rate, burst) {
    if (!site.ip4.empty()) src4_ = site.ip4.front().addr;
    if (!site.ip6.empty()) src6_ = site.ip6.front().addr;
  }

  void process(Batch& b) override {
    if (!active()) return pass_all(b);
    switch (mode_) {
      case Mode::Drop:
        return run<Mode::Drop>(b);
      case Mode::RejectIcmp:
        return run<Mode::RejectIcmp>(b);
      case Mode::RejectRst:
        return run<Mode::RejectRst>(b);
    }
  }

 private:
  template <Mode kMode>
  void run(Batch& b) {
    uint64_t now = 0;  // read once, when the burst first needs a token
    for (uint16_t i = 0; i < b.n; ++i) {
      b.verdict[i] = kPass;
      PktView v;
      if (!view_packet(b.pkts[i], v) || !selected(v)) continue;
      if constexpr (kMode == Mode::Drop) {
        b.verdict[i] = kBlocked;
      } else {
        b.verdict[i] = reject(b.pkts[i], v, kMode == Mode::RejectRst && whole_tcp(v), now);
      }
    }
  }

  uint8_t reject(rte_mbuf* m, const PktView& v, bool with_rst, uint64_t& now) {
    if (is_icmp_error(v)) return kIcmpError;
    if (is_rst(v)) return kRst;
    const bool v4 = v.version == 4;
    if (!with_rst && (v4 ? !src4_ : !src6_)) return kNoSource;
    if (now == 0) now = rte_get_tsc_cycles();
    if (!bucket_.take(now)) return kRateLimited;
    const uint16_t l2_len = m->l2_len;
    bool ok;
    if (with_rst) {
      ok = make_rst(m, v);
    } else if (v4) {
      ok = icmp::make_ip4_error(m, l2_len, icmp::kIcmp4DestUnreach, icmp::kIcmp4AdminProhibited, 0,
                                *src4_) == icmp::Refuse::None;
    } else {
      ok = icmp::make_ip6_error(m, l2_len, icmp::kIcmp6DestUnreach, icmp::kIcmp6AdminProhibited, 0,
                                *src6_) == icmp::Refuse::None;
    }
    if (!ok) {
      bucket_.refund();
      return kNoReply;
    }
    if (!with_rst) untag_reply(m, l2_len, v4);
    count_action(with_rst ? kRstSent : (v4 ? kIcmpSent : kIcmp6Sent));
    return kGenerated;
  }

  Mode mode_;
  TokenBucket bucket_;
  std::optional<Ip4Addr> src4_;
  std::optional<Ip6Addr> src6_;
};

const StageRegistration kReg{{
    .name = "block",
    .help = "drop matching packets, or reject them with ICMP admin-prohibited or a TCP RST",
    .drops = kDrops,
    .actions = kActions,
    .parse = [](const StageYaml& spec, const std::string& file) -> StageBuilder {
      YamlMap m = stage_params(spec, file);
      StageCommon c = StageCommon::parse(m);
      const auto action = m.get_or<std::string>("action", "drop");
      if (action != "drop" && action != "reject") {
        m.fail("action", fmt::format("'{}' is not drop or reject", action));
      }
      Mode mode = action == "drop" ? Mode::Drop : Mode::RejectIcmp;
      if (m.has("reject_with")) {
        const auto with = m.get<std::string>("reject_with");
        if (with == "tcp_rst") {
          if (mode == Mode::RejectIcmp) mode = Mode::RejectRst;
        } else if (with != "icmp") {
          m.fail("reject_with", fmt::format("'{}' is not icmp or tcp_rst", with));
        }
        if (action == "drop") m.fail("reject_with", "needs action: reject");
      }
      const auto rate = m.get_or_in<uint32_t>("rate", 1000, 1, 10'000'000);
      const auto burst = m.get_or_in<uint32_t>("burst", 50, 1, 1'000'000);
      if (action == "drop" && (m.has("rate") || m.has("burst"))) {
        m.fail(m.has("rate") ? "rate" : "burst", "needs action: reject");
      }
      m.done();
      return [c, mode, rate, burst](const StageSite& site) {
        return std::make_unique<Block>(c, site, mode, rate, burst);
      };
    },
}};

}  // namespace
}  // namespace pathlab
