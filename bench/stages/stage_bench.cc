#include "stages/stage_bench.hpp"

#include <yaml-cpp/yaml.h>

#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#pragma GCC diagnostic pop

#include "common.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/net/ptype.hpp"
#include "pathlab/net/view.hpp"

namespace pathlab::bench {

rte_mempool* stage_pool(const char* name) {
  static rte_mempool* mp = [name] {
    rte_mempool* p =
        rte_pktmbuf_pool_create(name, 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (p != nullptr) at_teardown([p] { rte_mempool_free(p); });
    return p;
  }();
  return mp;
}

std::unique_ptr<Stage> make_stage(const std::string& kind, const std::string& params,
                                  const StageSite& site) {
  StageYaml spec;
  spec.kind = kind;
  spec.params = YAML::Load(params);
  spec.pos = {"bench.yaml", 1, 1};
  spec.path = "stage";
  return StageRegistry::instance().parse(spec, "bench.yaml")(site);
}

std::vector<rte_mbuf*> alloc_mbufs(benchmark::State& state, const char* pool_name, uint16_t n) {
  rte_mempool* pool = stage_pool(pool_name);
  std::vector<rte_mbuf*> mbufs(n);
  if (pool == nullptr || rte_pktmbuf_alloc_bulk(pool, mbufs.data(), n) != 0) {
    state.SkipWithError("mbuf allocation failed");
    return {};
  }
  return mbufs;
}

bool alloc_burst(benchmark::State& state, const char* pool_name, Batch& b, uint16_t n) {
  rte_mempool* pool = stage_pool(pool_name);
  if (pool == nullptr) {
    state.SkipWithError("mempool");
    return false;
  }
  b.n = n;
  b.ngen = 0;
  if (rte_pktmbuf_alloc_bulk(pool, b.pkts, n) != 0) {
    state.SkipWithError("mbuf allocation failed");
    return false;
  }
  return true;
}

void set_ip4_meta(rte_mbuf* m) {
  m->l2_len = 14;
  m->l3_len = 20;
  m->packet_type = kPtype4;
  parse_view(m);
}

void load_frame(rte_mbuf* m, const Frame& f) {
  rte_pktmbuf_reset(m);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
  const bool v6 = f[12] == 0x86;
  m->packet_type = v6 ? kPtype6 : kPtype4;
  m->l2_len = 14;
  m->l3_len = v6 ? 40 : (f[14] & 0xf) * 4;
  parse_view(m);
}

void BurstTimer::report(benchmark::State& state, bool with_best) const {
  state.SetItemsProcessed(static_cast<int64_t>(packets_));
  if (packets_ != 0) {
    const double cpp = static_cast<double>(cycles_) / static_cast<double>(packets_);
    state.counters["cyc/pkt"] = cpp;
    state.counters["ns/pkt"] = cpp * 1e9 / tsc_hz_;
    if (with_best) state.counters["best"] = static_cast<double>(best_) / burst_;
  }
}

void run_stage(benchmark::State& state, const std::string& kind, const std::string& params,
               const Frame& frame, Expect expect, const StageSite& site) {
  const auto n = static_cast<uint16_t>(state.range(0));
  std::unique_ptr<Stage> stage;
  try {
    stage = make_stage(kind, params, site);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<rte_mbuf*> mbufs = alloc_mbufs(state, (kind + "_bench").c_str(), n);
  if (mbufs.empty()) return;
  Batch b;
  BurstTimer timer;
  reload_and_time(
      state, mbufs, b, timer, [&](uint16_t) -> const Frame& { return frame; },
      [&](Batch& burst) { stage->process(burst); });
  if (expect == Expect::Pass) {
    if (b.verdict[0] != kPass) state.SkipWithError("the stage did not pass the packet");
    rte_pktmbuf_free_bulk(mbufs.data(), n);
  } else {
    bool changed = false;
    for (uint16_t i = 0; i < n; ++i) {
      changed |= b.verdict[i] != kPass ||
                 std::memcmp(rte_pktmbuf_mtod(mbufs[i], void*), frame.data(), frame.size()) != 0;
    }
    rte_pktmbuf_free_bulk(mbufs.data(), n);
    if (changed != (expect == Expect::Changed)) {
      state.SkipWithError(expect == Expect::Changed ? "the stage left the frame unchanged"
                                                    : "the stage changed the frame");
      return;
    }
  }
  timer.report(state);
}

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

Frame tcp_frame(const TcpFrame& p) {
  const size_t l3 = p.v6 ? 40 : 20, pay = p.v6 ? 0 : 10;
  Frame frame(RTE_ETHER_HDR_LEN + l3 + 20 + pay, 0);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame.data());
  eth->ether_type = rte_cpu_to_be_16(p.v6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(frame.data() + RTE_ETHER_HDR_LEN + l3);
  tcp->src_port = rte_cpu_to_be_16(80);
  tcp->dst_port = rte_cpu_to_be_16(40000);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = p.flags;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  if (!p.v6) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = p.tos;
    ip->packet_id = rte_cpu_to_be_16(p.ip_id);
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(l3 + 20 + pay));
    ip->time_to_live = p.ttl;
    ip->next_proto_id = IPPROTO_TCP;
    ip->src_addr = rte_cpu_to_be_32(0xc6120001);
    ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  } else {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    ip->vtc_flow = rte_cpu_to_be_32(6u << 28 | uint32_t{p.tos} << 20 | 0x12345);
    ip->payload_len = rte_cpu_to_be_16(20);
    ip->proto = IPPROTO_TCP;
    ip->hop_limits = p.ttl;
    ip->src_addr[0] = 0x20;
    ip->dst_addr[0] = 0x20;
    ip->dst_addr[15] = 1;
    tcp->cksum = rte_ipv6_udptcp_cksum(ip, tcp);
  }
  return frame;
}

// The Ethernet type and the IPv6 header (fd00::2 -> 2001:db8::1, hop limit 64) of frame `f`.
static void ip6_header(Frame& f, uint8_t tos, size_t payload_len, uint8_t next) {
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  ip[0] = static_cast<uint8_t>(0x60 | tos >> 4);
  ip[1] = static_cast<uint8_t>(tos << 4);
  ip[4] = static_cast<uint8_t>(payload_len >> 8);
  ip[5] = static_cast<uint8_t>(payload_len);
  ip[6] = next;
  ip[7] = 64;
  ip[8] = 0xfd;
  ip[23] = 2;
  const uint8_t dst[4] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(ip + 24, dst, 4);
  ip[39] = 1;
}

Frame tcp_options_frame(bool v6, const Frame& opts, uint8_t flags, size_t payload, uint8_t tos) {
  const size_t l3 = v6 ? 40 : 20;
  const size_t tcp_len = 20 + opts.size() + payload;
  Frame f(14 + l3 + tcp_len, 0);
  uint8_t* ip = f.data() + 14;
  if (v6) {
    ip6_header(f, tos, tcp_len, 6);
  } else {
    f[12] = 0x08;
    ip[0] = 0x45;
    ip[1] = tos;
    ip[2] = static_cast<uint8_t>((20 + tcp_len) >> 8);
    ip[3] = static_cast<uint8_t>(20 + tcp_len);
    ip[8] = 64;
    ip[9] = 6;
    const uint8_t addrs[8] = {10, 0, 0, 2, 198, 18, 0, 1};
    std::memcpy(ip + 12, addrs, 8);
  }
  uint8_t* tcp = ip + l3;
  tcp[0] = 0x9c;  // 40000 -> 80
  tcp[1] = 0x40;
  tcp[3] = 80;
  tcp[12] = static_cast<uint8_t>((20 + opts.size()) / 4 << 4);
  tcp[13] = flags;
  tcp[14] = tcp[15] = 0xff;
  std::memcpy(tcp + 20, opts.data(), opts.size());
  for (size_t i = 0; i < payload; ++i) tcp[20 + opts.size() + i] = static_cast<uint8_t>(i);
  uint16_t ck = 0;
  if (v6) {
    ck = rte_ipv6_udptcp_cksum(reinterpret_cast<rte_ipv6_hdr*>(ip), tcp);
  } else {
    auto* hdr = reinterpret_cast<rte_ipv4_hdr*>(ip);
    hdr->hdr_checksum = rte_ipv4_cksum(hdr);
    ck = rte_ipv4_udptcp_cksum(hdr, tcp);
  }
  std::memcpy(tcp + 16, &ck, 2);
  return f;
}

Frame udp_frame(bool v6, const Frame& ext, size_t payload) {
  const size_t udp_len = 8 + payload;
  const size_t l3 = (v6 ? 40 : 20) + ext.size();
  Frame f(14 + l3 + udp_len, 0);
  uint8_t* ip = f.data() + 14;
  uint8_t* udp = ip + l3;
  udp[0] = 0x13;  // 5000 -> 53
  udp[1] = 0x88;
  udp[3] = 53;
  udp[4] = static_cast<uint8_t>(udp_len >> 8);
  udp[5] = static_cast<uint8_t>(udp_len);
  for (size_t i = 8; i < udp_len; ++i) udp[i] = static_cast<uint8_t>(i);
  uint16_t ck = 0;
  if (v6) {
    ip6_header(f, 0, ext.size() + udp_len, ext.empty() ? IPPROTO_UDP : 0);  // 0: Hop-by-Hop
    std::memcpy(ip + 40, ext.data(), ext.size());
    rte_ipv6_hdr plain{};
    std::memcpy(&plain, ip, 40);
    plain.proto = IPPROTO_UDP;
    plain.payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
    ck = rte_ipv6_udptcp_cksum(&plain, udp);
  } else {
    f[12] = 0x08;
    ip[0] = static_cast<uint8_t>(0x40 | l3 / 4);
    ip[2] = static_cast<uint8_t>((l3 + udp_len) >> 8);
    ip[3] = static_cast<uint8_t>(l3 + udp_len);
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    const uint8_t addrs[8] = {10, 0, 0, 2, 198, 18, 0, 1};
    std::memcpy(ip + 12, addrs, 8);
    std::memcpy(ip + 20, ext.data(), ext.size());
    const uint16_t hck = static_cast<uint16_t>(~rte_raw_cksum(ip, l3));
    std::memcpy(ip + 10, &hck, 2);
    // The pseudo-header does not depend on the options.
    rte_ipv4_hdr plain{};
    std::memcpy(&plain, ip, 20);
    plain.version_ihl = 0x45;
    plain.total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + udp_len));
    ck = rte_ipv4_udptcp_cksum(&plain, udp);
  }
  std::memcpy(udp + 6, &ck, 2);
  return f;
}

}  // namespace pathlab::bench
