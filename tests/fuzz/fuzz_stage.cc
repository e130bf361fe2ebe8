// Fuzz target: every stage's process(), in a Chain of one or two stages built through the
// registry from a table of parameter sets (each stage's doc block and tests/stages). A stage the
// table does not know (a new one) runs with empty params when those parse.
// Input: [flags] [stage A] [stage B] [site] [frames...]
//   flags: bit 0 Pool buffers (else Exact), bit 1 fix checksums, bit 2 trim padding, bit 3 a
//          second stage, bit 4 several frames ([len:16][bytes] records, up to 8), bit 5 verify
//          the IPv4 header checksum at input (the router does unless the NIC did), bit 6 both
//          stages in one chain (a stage that reads another, ipim before link, finds it);
//   stage A / B: an index into the table (modulo its size);
//   site: bit 0 egress, bits 1-3 the port MTU, bits 4-7 the engine time step.
// PATHLAB_FUZZ_STAGE=name fixes stage A to that stage's parameter sets (scripts/fuzz stage:NAME).
// After the chain: every passing packet keeps the stage guarantees (common.hpp: check_passed),
// every generated one is a whole, valid frame, what holding stages release is checked as it
// leaves, and every mbuf is freed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common.hpp"
#include "pathlab/config/error.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/stage_registry.hpp"

using namespace pathlab;
using namespace plfuzz;

namespace {

struct Params {
  const char* kind;
  const char* yaml;
};

// Valid parameter sets, every key of every stage somewhere. `seed` fixes random draws.
const Params kParams[] = {
    {"count", ""},
    {"drop", ""},
    {"block", "action: drop"},
    {"block", "action: reject\nrate: 10000000\nburst: 1000000"},
    {"block", "action: reject\nreject_with: tcp_rst\nrate: 10000000\nburst: 1000000"},
    {"block", "action: reject\nrate: 1\nburst: 1"},
    {"block", "action: reject\nreject_with: tcp_rst\nmatch: {proto: tcp, dport: 80}"},
    {"block", "match: {proto: udp, dport: 443}"},
    {"block", "action: reject\nmatch: {ip: 6, src: 2001:db8::/32}\nprobability: 0.5\nseed: 1"},
    {"dscp", "action: {set: ef}"},
    {"dscp", "action: zero\nmatch: {proto: udp}"},
    {"dscp", "action: bleach_precedence\necn: zero"},
    {"dscp", "action: {map: {ef: 0, af11: cs1, 63: le, 0: 2}}\necn: keep"},
    {"dscp", "action: {set: 10}\necn: zero\nprobability: 0.25\nseed: 11"},
    {"ecn", "ip: bleach"},
    {"ecn", "ip: set_ce\ntcp: reflect"},
    {"ecn", "ip: drop_ect\ntcp: strip_flags"},
    {"ecn", "ip: {rewrite: {ect0: ect1, 3: not-ect}}\ntcp: strip_syn_flags"},
    {"ecn", "ip: {tos_overwrite: 255}"},
    {"ecn", "tcp: drop_ecn_setup_syn\necn_fallback: drop"},
    {"ecn", "tcp: drop_ecn_setup_syn"},
    {"ecn", "ip: bleach\nmatch: {proto: tcp, tcp_flags: [syn, \"!ack\"], sport: 1024-65535}"},
    {"evil_bit", "action: set"},
    {"evil_bit", "action: clear"},
    {"evil_bit", "action: drop_if_set\nmatch: {proto: udp}"},
    {"ip_options", "ipv4: strip"},
    {"ip_options", "ipv4: strip\nallow: [ra, nop]\nmalformed: drop"},
    {"ip_options", "ipv4: drop\nallow: [ra]"},
    {"ip_options", "ipv6_strip: [0x1e, ra]"},
    {"ip_options", "drop_hbh: true\ndrop_dstopts: true\nmalformed: drop"},
    {"ip_options", "ipv4: strip\nipv6_strip: [0x1e]\nmalformed: pass"},
    {"ipim", "sample: 1\nrouter_id: 10.255.0.1\nas: 64500\ncapacity: 1gbit\nseed: 1"},
    {"ipim", "sample: 0.5\nsample_max_queue: 1us\nmalformed: drop\nevolution_offset: 0xffffffff\nseed: 2"},
    {"ipim", "participate: false"},
    {"ipim", "sample: 1\nliar: {queue_scale: 0.1, capacity: 10gbit, others_queue_scale: 1000000}\nseed: 3"},
    {"ipim", "match: {ip: 6, proto: udp}\nsample: 0"},
    {"link", "rate: 1gbit\nqueue: {packets: 4}"},
    {"link", "rate: 512kbit\noverhead: 0\nqueue: {bytes: 3000}\ndelay: 1ms\nloss: {random: 0.3}\nseed: 2"},
    {"link", "rate: 10gbit\nqueue: {time: 20us}\ndelay: 10us\njitter: 5us\ndistribution: normal\nseed: 3"},
    {"link", "delay: 100ms\njitter: 100ms\nreorder: true\nloss: {gilbert_elliott: {p: 0.2, r: 0.5, h: 0.1, k: 0.9}}\nseed: 4"},
    {"link", "delay: 1us\njitter: 1s\ndistribution: uniform\nreorder: false"},
    {"link", "rate: 1mbit\nqueue: {packets: 8}\naqm: {type: codel, target: 1us, interval: 10us, ecn: true}\ncorrupt: 0.5\nseed: 5"},
    {"link", "rate: 2mbit\nqueue: {bytes: 20000}\naqm: {type: red, min: 100, max: 2000, max_p: 0.9, ecn: true}\nduplicate: 0.5\nseed: 6"},
    {"link", "rate: 100mbit\njitter: 1ms\ndistribution: paretonormal\nreorder: true\nduplicate: 1\ncorrupt: 1\nseed: 7"},
    {"mss", "clamp: 536\nadd_if_missing: true"},
    {"mss", "clamp_to_mtu: true\nmalformed: drop"},
    {"mss", "set: 9000\nadd_if_missing: true"},
    {"mss", "clamp: 1360\nmatch: {proto: tcp, tcp_flags: [syn, ack]}"},
    {"nat44", "pool: 10.0.0.0/30\nports: 1024-1033\nmax_sessions: 8\ntimeouts: {udp: 120, tcp_established: 1, tcp_transitory: 1, icmp: 1, fragment: 0.001}"},
    {"nat44", "pool: [192.0.2.1, 198.51.100.0/31]\nmapping: address_and_port_dependent\nfiltering: address_dependent\nport_assignment: random\npooling: arbitrary\nhairpinning: false\nat_limit: reject\nmax_sessions: 4\nseed: 1"},
    {"nat44", "pool: 198.51.100.1\nmapping: address_dependent\nfiltering: address_and_port_dependent\nport_assignment: preserve_parity\nstatic: [{proto: udp, inside: 10.0.0.2:53, outside: 198.51.100.1:53}]\nmax_sessions: 16\ntable: fz\nmatch: {src: 10.0.0.0/8}"},
    {"nat44", "mode: one_to_one\ninside: 10.0.0.0/24\npool: 198.51.100.0/24\nmatch: {proto: udp}"},
    {"normalize", "ttl: {set: 64}\nip_id: random\nseed: 5"},
    {"normalize", "ttl: {min: 10, max: 20}\nip_id: sequential\nseed: 9"},
    {"normalize", "ttl: {max: 1}"},
    {"normalize", "ip_id: zero\nmatch: {ip: 4, dst: 10.0.0.0/8}"},
    {"tcp_options", "strip: [sack_permitted, timestamp, wscale]\nhow: remove"},
    {"tcp_options", "strip: [timestamp]\nhow: nop"},
    {"tcp_options", "allow: [mss, wscale, sack]\nhow: remove\nmalformed: drop"},
    {"tcp_options", "drop_syn_with: [tfo]\nstrip: [mptcp, 99, unknown]"},
    {"tcp_seq", "rewrite: both\nseed: 3\ncapacity: 8"},
    {"tcp_seq", "rewrite: initiator\noffset: 0x20\ncapacity: 16\ntimeout: 0.001\nclosing_timeout: 0.001"},
    {"tcp_seq", "rewrite: responder\nresponder_offset: 0x80000000\ncapacity: 8"},
    {"tcp_seq", "rewrite: both\noffset: 16777216\nresponder_offset: 7\ncapacity: 8\nmatch: {proto: tcp, dport: 80}"},
    {"udp_checksum", "action: fill\nipv6_zero: fill"},
    {"udp_checksum", "action: drop_zero\nipv6_zero: drop"},
    {"udp_checksum", "action: drop_zero\nipv6_zero: pass\nmatch: {proto: udp, dport: 53}"},
};

struct Entry {
  std::string kind, yaml;
  StageBuilder build;
};
std::vector<Entry> g_all;     // every parameter set
std::vector<size_t> g_first;  // stage A candidates (all, or PATHLAB_FUZZ_STAGE's)

StageBuilder parse(const std::string& kind, const std::string& yaml) {
  StageYaml spec;
  spec.kind = kind;
  spec.params = yaml.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(yaml);
  spec.pos = {"fuzz.yaml", 1, 1};
  spec.path = "stage";
  return StageRegistry::instance().parse(spec, "fuzz.yaml");
}

void setup() {
  std::map<std::string, int> per_kind;
  for (const StageInfo& info : StageRegistry::instance().all()) per_kind[info.name] = 0;
  for (const Params& p : kParams) {
    try {
      g_all.push_back({p.kind, p.yaml, parse(p.kind, p.yaml)});
      per_kind[p.kind]++;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz_stage: parameter set [%s: %s] no longer parses: %s\n", p.kind, p.yaml, e.what());
      std::abort();
    }
  }
  for (const auto& [kind, n] : per_kind) {
    if (n != 0) continue;
    try {
      g_all.push_back({kind, "", parse(kind, "")});
      std::fprintf(stderr, "fuzz_stage: stage %s has no parameter sets here; fuzzing it with defaults\n",
                   kind.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz_stage: stage %s has no parameter sets here and needs some: %s\n", kind.c_str(),
                   e.what());
    }
  }
  const char* only = std::getenv("PATHLAB_FUZZ_STAGE");
  for (size_t i = 0; i < g_all.size(); ++i) {
    if (only == nullptr || *only == 0 || g_all[i].kind == only) g_first.push_back(i);
  }
  if (g_first.empty()) {
    std::fprintf(stderr, "fuzz_stage: no stage %s\n", only);
    std::abort();
  }
}

constexpr uint16_t kMtus[8] = {1500, 1280, 9000, 576, 68, 1492, 65535, 1400};

StageSite site_of(uint8_t b, unsigned k) {
  StageSite s;
  s.router = "r1";
  s.port = "p0";
  s.egress = b & 1;
  s.port_mtu = kMtus[(b >> 1) & 7];
  s.ip4.push_back(*parse_ip4_prefix("10.0.0.1/24"));
  s.ip6.push_back(*parse_ip6_prefix("2001:db8::1/64"));
  s.port_ip4 = {s.ip4, {*parse_ip4_prefix("192.0.2.1/24")}};
  s.port_ip6 = {s.ip6, {}};
  s.asn = 64500;
  s.name = fmt::format("s{}", k);
  return s;
}

// The stage guarantees that need no before-image: one segment, nothing written below the packet.
void check_released(rte_mbuf* m, const char* what) {
  FUZZ_CHECK(m->nb_segs == 1 && m->next == nullptr, "{}: {} segments", what, m->nb_segs);
  FUZZ_CHECK(m->pkt_len == m->data_len, "{}: pkt_len {} data_len {}", what, m->pkt_len, m->data_len);
  check_guard(m, what);
}

// Generated packets must be whole frames; redirected ones keep the guarantees of passing ones.
void finish_others(Batch& b, const Before* bf) {
  for (uint16_t i = 0; i < b.ngen; ++i) {
    check_generated(b.gen[i], "generated");
    rte_pktmbuf_free(b.gen[i]);
  }
  for (uint16_t i = 0; i < b.nredirect; ++i) {
    if (bf != nullptr) {
      check_passed(b.redirect[i], *bf, "redirected");
    } else {
      check_released(b.redirect[i], "redirected");
    }
    rte_pktmbuf_free(b.redirect[i]);
  }
  b.ngen = b.nredirect = 0;
}

// What a holding chain releases continues through the chains after it. A holder may change its
// packets on purpose (a link corrupts bits), so released packets get the checks that need no
// before-image.
void drain_all(std::vector<Chain>& chains, Nanos now) {
  for (size_t k = 0; k < chains.size(); ++k) {
    if (!chains[k].holds()) continue;
    Batch out;
    out.now = now;
    chains[k].drain(now, out);
    for (size_t j = k + 1; j < chains.size(); ++j) {
      chains[j].run(out);
      for (uint16_t i = 0; i < out.n; ++i) note_low(out.pkts[i]);
    }
    for (uint16_t i = 0; i < out.n; ++i) {
      check_released(out.pkts[i], "released");
      rte_pktmbuf_free(out.pkts[i]);
    }
    finish_others(out, nullptr);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_eal();
  setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  const uint8_t flags = r.u8();
  const Entry& a = g_all[g_first[r.u8() % g_first.size()]];
  const Entry& b = g_all[r.u8() % g_all.size()];
  const uint8_t site = r.u8();
  const Buf mode = (flags & 1) ? Buf::Pool : Buf::Exact;
  // Two one-stage Chains in turn behave as one two-stage Chain (compaction after each stage), and
  // let the guard follow a packet that the first stage grew and the second shrank.
  std::vector<Chain> chains;
  std::vector<std::unique_ptr<Stage>> sa;
  sa.push_back(a.build(site_of(site, 0)));
  if ((flags & 8) && (flags & 64)) sa.push_back(b.build(site_of(site, 1)));
  chains.emplace_back(std::move(sa));
  if ((flags & 8) && !(flags & 64)) {
    std::vector<std::unique_ptr<Stage>> sb;
    sb.push_back(b.build(site_of(site, 1)));
    chains.emplace_back(std::move(sb));
  }

  Nanos now = 1'000'000'000ull;
  const Nanos step = static_cast<Nanos>(site >> 4) * 100'000'000ull;  // 0 .. 1.5 s between frames
  // Several frames run as bursts of one so that time moves between them; holding chains drain
  // after each, as a worker does on every loop, and once more at the end with everything due.
  for (auto f : frames(r.rest(), flags & 16, 8)) {
    Bytes frame(f.begin(), f.end());
    if (flags & 2) fix_checksums(frame);
    rte_mbuf* m = make_packet(frame, mode);
    if (m == nullptr) continue;
    router_input(m, flags & 4, flags & 32);
    Batch one;
    one.now = now;
    one.pkts[0] = m;
    one.n = 1;
    const Before bf = snapshot(m);
    for (Chain& c : chains) {
      c.run(one);
      for (uint16_t i = 0; i < one.n; ++i) note_low(one.pkts[i]);
    }
    for (uint16_t i = 0; i < one.n; ++i) {
      check_passed(one.pkts[i], bf, "passed");
      rte_pktmbuf_free(one.pkts[i]);
    }
    finish_others(one, &bf);
    drain_all(chains, now);
    now += step;
  }
  drain_all(chains, kForever);
  end_iteration();
  return 0;
}
