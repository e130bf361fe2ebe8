// nat44: byte-exact translations against scapy (UDP, TCP, ICMP echo, ICMP errors with the
// quoted header, fragments, static mappings, 1:1), then behaviour with a small frame builder:
// mapping and filtering classes, port assignment, pooling, hairpinning, exhaustion, timeouts,
// TCP state timers, and parameter errors.
#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "harness.hpp"
#include "pathlab/engine/shared.hpp"
#include "pathlab/nat/table.hpp"
#include "pathlab/net/addr.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("nat44_frames.json");
  return f;
}

constexpr Nanos kSec = 1'000'000'000;

// The outside port p1 (198.51.100.254/24) of a router whose inside port p0 is 10.0.0.1/24.
StageSite outside_site(bool egress, SharedState& shared) {
  StageSite s = StageRun::default_site();
  s.port = "p1";
  s.egress = egress;
  s.ip4 = {*parse_ip4_prefix("198.51.100.254/24")};
  s.port_ip4 = {{*parse_ip4_prefix("10.0.0.1/24")}, s.ip4};
  s.port_names = {"p0", "p1"};
  s.shared = &shared;
  return s;
}

// The stage on the outside port's egress (out) and ingress (in), sharing one table.
struct Nat {
  explicit Nat(const std::string& params, Nanos t0 = 1000 * kSec)
      : out(std::make_unique<StageRun>("nat44", params, outside_site(true, shared))),
        in(std::make_unique<StageRun>("nat44", params, outside_site(false, shared))) {
    at(t0);
  }
  void at(Nanos t) {
    out->set_now(t);
    in->set_now(t);
  }
  uint64_t action(std::string_view n) const { return out->action(n) + in->action(n); }
  uint64_t drop(std::string_view n) const { return out->drop(n) + in->drop(n); }
  SharedState shared{"nat_test", nullptr};
  std::unique_ptr<StageRun> out, in;
};

// A fragment's transport checksum covers the whole datagram: scapy's bytes are the check.
void expect_case(StageRun& s, const std::string& c) {
  const Out o = s.run1(frames().get(c, "in"));
  EXPECT_EQ(o.verdict, kPass) << c;
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(c, "out"))) << c;
  if (c.rfind("frag_", 0) != 0) {
    EXPECT_TRUE(checksums_ok(o.bytes)) << c;
  }
}

// ---- a small frame builder ---------------------------------------------------------------------

uint32_t ip(const char* s) { return parse_ip4(s)->v; }

Bytes pkt(uint8_t proto, const char* src, uint16_t sport, const char* dst, uint16_t dport,
          uint8_t tcp_flags = 0x02, uint8_t icmp_type = 8) {
  return ip4_frame(proto, ip(src), sport, ip(dst), dport, tcp_flags, icmp_type);
}
Bytes udp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  return pkt(17, src, sport, dst, dport);
}
Bytes tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags) {
  return pkt(6, src, sport, dst, dport, flags);
}

uint32_t be32(const Bytes& b, size_t off) {
  return uint32_t{b[off]} << 24 | uint32_t{b[off + 1]} << 16 | uint32_t{b[off + 2]} << 8 |
         b[off + 3];
}
std::string src_of(const Bytes& f) { return to_string(Ip4Addr{be32(f, 26)}); }
std::string dst_of(const Bytes& f) { return to_string(Ip4Addr{be32(f, 30)}); }
uint16_t sport_of(const Bytes& f) { return static_cast<uint16_t>(f[34] << 8 | f[35]); }
uint16_t dport_of(const Bytes& f) { return static_cast<uint16_t>(f[36] << 8 | f[37]); }

// Outbound through the NAT; the translated source port (0 when not passed).
uint16_t out_port(Nat& n, const Bytes& f) {
  const Out o = n.out->run1(f);
  EXPECT_TRUE(o.verdict == kPass || o.verdict == kRedirect) << int{o.verdict};
  if (o.verdict != kPass && o.verdict != kRedirect) return 0;
  EXPECT_TRUE(checksums_ok(o.bytes));
  return sport_of(o.bytes);
}

constexpr const char* kC = "10.0.0.2";
constexpr const char* kC2 = "10.0.0.3";
constexpr const char* kP = "198.51.100.1";
constexpr const char* kS = "203.0.113.5";
constexpr const char* kS2 = "203.0.113.6";
constexpr const char* kBase = "pool: 198.51.100.1/32\n";

// ---- byte-exact ---------------------------------------------------------------------------------

TEST(Nat44, TranslatesUdpTcpEchoBothWays) {
  Nat n(kBase);
  EXPECT_TRUE(n.out->stage().stateful());
  for (const char* c : {"udp_out", "udp0_out", "tcp_out", "echo_out"}) expect_case(*n.out, c);
  for (const char* c : {"udp_in", "tcp_in", "echo_in"}) expect_case(*n.in, c);
  EXPECT_EQ(n.action("created"), 4u);
  EXPECT_EQ(n.action("translated_out"), 4u);
  EXPECT_EQ(n.action("translated_in"), 3u);
}

TEST(Nat44, IcmpErrorsCarryTheQuotedHeaderBack) {
  Nat n(kBase);
  expect_case(*n.out, "udp_out");   // the mapping 10.0.0.2:5000 <-> 198.51.100.1:5000
  expect_case(*n.out, "echo_out");  // and the echo identifier 0x1234
  // Traceroute: time exceeded from a hop beyond the NAT; a port unreachable from the target.
  for (const char* c : {"ttl_exceeded_in", "port_unreach_in", "echo_ttl_exceeded_in"}) {
    expect_case(*n.in, c);
  }
  expect_case(*n.out, "port_unreach_out");
  EXPECT_EQ(n.action("icmp_errors"), 4u);
  // An error quoting a port nobody mapped is dropped.
  Nat fresh(kBase);
  EXPECT_EQ(fresh.in->run1(frames().get("port_unreach_in")).verdict, 1 + 0);  // no_mapping
  EXPECT_EQ(fresh.drop("no_mapping"), 1u);
}

TEST(Nat44, LaterFragmentsFollowTheFirst) {
  Nat n(kBase);
  const long k = frames().number("frag_count", "n");
  ASSERT_GE(k, 2);
  for (long i = 0; i < k; ++i) expect_case(*n.out, "frag_out" + std::to_string(i));
  for (long i = 0; i < k; ++i) expect_case(*n.in, "frag_in" + std::to_string(i));
  EXPECT_EQ(n.action("fragments"), 2u * static_cast<uint64_t>(k - 1));
  // A later fragment whose first was never seen, and one after the fragment timeout.
  Nat fresh(kBase);
  EXPECT_EQ(fresh.out->run1(frames().get("frag_out1")).verdict, 1 + 5);  // fragment
  EXPECT_EQ(fresh.drop("fragment"), 1u);
  expect_case(*fresh.out, "frag_out0");
  fresh.at(1000 * kSec + 3 * kSec);
  EXPECT_EQ(fresh.out->run1(frames().get("frag_out1")).verdict, 1 + 5);
}

TEST(Nat44, StaticMappingForwardsAnyone) {
  Nat n(std::string(kBase) +
        "filtering: address_and_port_dependent\n"
        "static: [{proto: tcp, inside: 10.0.0.2:80, outside: 198.51.100.1:8080}]");
  expect_case(*n.in, "static_in");  // unsolicited, from anyone
  expect_case(*n.out, "static_out");
  n.at(1000 * kSec + 100'000 * kSec);  // never expires
  expect_case(*n.in, "static_in");
  EXPECT_EQ(n.action("created"), 0u);
}

TEST(Nat44, OneToOne) {
  Nat n("mode: one_to_one\ninside: 10.0.0.0/24\npool: 198.51.100.0/24");
  for (const char* c : {"one_out", "one_gre_out"}) expect_case(*n.out, c);
  for (const char* c : {"one_in", "one_error_in"}) expect_case(*n.in, c);
  // Outside both prefixes: untouched.
  const Bytes other = udp("10.9.0.1", 1, kS, 2);
  EXPECT_EQ(to_hex(n.out->run1(other).bytes), to_hex(other));
}

// ---- mapping, filtering, ports, pooling -------------------------------------------------------

TEST(Nat44, MappingClasses) {
  {
    Nat n(std::string(kBase) + "mapping: endpoint_independent");
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), 6000);
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS2, 2)), 6000);  // same mapping, any remote
    EXPECT_EQ(n.action("created"), 1u);
  }
  {
    Nat n(std::string(kBase) + "mapping: address_dependent");
    const uint16_t a = out_port(n, udp(kC, 6000, kS, 1));
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 2)), a);  // same address: same mapping
    const uint16_t b = out_port(n, udp(kC, 6000, kS2, 1));
    EXPECT_NE(a, b);
    EXPECT_EQ(n.action("created"), 2u);
  }
  {
    Nat n(std::string(kBase) + "mapping: address_and_port_dependent");
    const uint16_t a = out_port(n, udp(kC, 6000, kS, 1));
    const uint16_t b = out_port(n, udp(kC, 6000, kS, 2));
    EXPECT_NE(a, b);
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), a);
    EXPECT_EQ(n.action("created"), 2u);
  }
}

TEST(Nat44, FilteringClasses) {
  struct Case {
    const char* filtering;
    uint8_t same_addr_other_port, other_addr;  // verdicts
  };
  const uint8_t filtered = 1 + 1;
  const Case cases[] = {{"endpoint_independent", kPass, kPass},
                        {"address_dependent", kPass, filtered},
                        {"address_and_port_dependent", filtered, filtered}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filtering);
    Nat n(std::string(kBase) + "filtering: " + c.filtering);
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), 6000);
    const Out back = n.in->run1(udp(kS, 1, kP, 6000));  // the remote it sent to: always
    EXPECT_EQ(back.verdict, kPass);
    EXPECT_EQ(dst_of(back.bytes), kC);
    EXPECT_EQ(dport_of(back.bytes), 6000);
    EXPECT_EQ(n.in->run1(udp(kS, 9, kP, 6000)).verdict, c.same_addr_other_port);
    EXPECT_EQ(n.in->run1(udp(kS2, 1, kP, 6000)).verdict, c.other_addr);
    // Unsolicited to an unmapped port: no mapping; to the router's own address: the router's.
    EXPECT_EQ(n.in->run1(udp(kS, 1, kP, 7777)).verdict, 1 + 0);
    EXPECT_EQ(n.drop("no_mapping"), 1u);
  }
  // The router's own outside address in the pool: unmapped traffic to it goes to the router.
  Nat own("pool: [198.51.100.1, 198.51.100.254]");
  EXPECT_EQ(own.in->run1(udp(kS, 1, "198.51.100.254", 7777)).verdict, kPass);
}

// Replies alone keep a mapping and the permission they use alive (inbound refresh, REQ-6).
TEST(Nat44, InboundRefreshKeepsThePermission) {
  const Nanos t0 = 1000 * kSec;
  Nat n(std::string(kBase) + "filtering: address_and_port_dependent\ntimeouts: {udp: 120}", t0);
  EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), 6000);
  for (int k = 1; k <= 5; ++k) {
    n.at(t0 + k * 100 * kSec);
    EXPECT_EQ(n.in->run1(udp(kS, 1, kP, 6000)).verdict, kPass) << k;
  }
  n.at(t0 + 500 * kSec + 121 * kSec);
  EXPECT_EQ(n.in->run1(udp(kS, 1, kP, 6000)).verdict, 1 + 0);
}

TEST(Nat44, PortAssignment) {
  {
    Nat n(std::string(kBase) + "port_assignment: preserve");
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), 6000);
    const uint16_t p = out_port(n, udp(kC2, 6000, kS, 1));  // taken: another port
    EXPECT_NE(p, 6000);
    EXPECT_GE(p, 1024);
  }
  {
    Nat n(std::string(kBase) + "port_assignment: preserve_parity");
    EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), 6000);
    EXPECT_EQ(out_port(n, udp(kC, 6001, kS, 1)), 6001);
    for (int k = 0; k < 20; ++k) {
      const auto in_port = static_cast<uint16_t>(6000 + k % 2);
      const uint16_t p = out_port(n, udp(("10.0.1." + std::to_string(k)).c_str(), in_port, kS, 1));
      EXPECT_NE(p, in_port);
      EXPECT_EQ(p % 2, in_port % 2) << p;
    }
  }
  {
    Nat n(std::string(kBase) + "port_assignment: random\nports: 20000-20999");
    std::set<uint16_t> seen;
    for (uint16_t k = 0; k < 50; ++k) {
      const uint16_t p = out_port(n, udp(kC, static_cast<uint16_t>(20000 + k), kS, 1));
      EXPECT_GE(p, 20000);
      EXPECT_LE(p, 20999);
      seen.insert(p);
    }
    EXPECT_EQ(seen.size(), 50u);
    EXPECT_LT(std::count_if(seen.begin(), seen.end(), [](uint16_t p) { return p < 20050; }), 25);
  }
  {
    Nat n(std::string(kBase) + "ports: 20000-20099");  // the inside port is out of range
    const uint16_t p = out_port(n, udp(kC, 6000, kS, 1));
    EXPECT_GE(p, 20000);
    EXPECT_LE(p, 20099);
  }
}

// Bursts are looked up together, 64 packets at a time: a mapping made by a packet earlier in the
// same burst serves the later ones, and every packet of a long burst is translated in order.
TEST(Nat44, BurstsShareTheirMappings) {
  Nat n(std::string(kBase) + "port_assignment: random");
  std::vector<Bytes> burst;
  for (uint16_t k = 0; k < 100; ++k) burst.push_back(udp(kC, static_cast<uint16_t>(2000 + k), kS, 1));
  burst.push_back(burst[70]);  // the same flow again, in the second chunk
  burst.insert(burst.begin() + 1, burst[0]);  // and at once after its first packet
  const std::vector<Out> first = n.out->run(burst);
  ASSERT_EQ(first.size(), 102u);
  std::set<uint16_t> ports;
  for (size_t i = 0; i < first.size(); ++i) {
    ASSERT_EQ(first[i].verdict, kPass) << i;
    EXPECT_EQ(src_of(first[i].bytes), kP) << i;
    EXPECT_TRUE(checksums_ok(first[i].bytes)) << i;
    ports.insert(sport_of(first[i].bytes));
  }
  EXPECT_EQ(ports.size(), 100u);
  EXPECT_EQ(sport_of(first[1].bytes), sport_of(first[0].bytes));
  EXPECT_EQ(sport_of(first[101].bytes), sport_of(first[71].bytes));
  EXPECT_EQ(n.action("created"), 100u);
  // The next burst finds every mapping: the same ports, nothing created.
  const std::vector<Out> again = n.out->run(burst);
  for (size_t i = 0; i < again.size(); ++i) {
    ASSERT_EQ(again[i].verdict, kPass) << i;
    EXPECT_EQ(sport_of(again[i].bytes), sport_of(first[i].bytes)) << i;
  }
  EXPECT_EQ(n.action("created"), 100u);
  EXPECT_EQ(n.action("translated_out"), 204u);
}

// Inbound bursts are looked up together too: replies to 100 mappings, mixed with unsolicited
// packets and packets to elsewhere, each get their own verdict in one burst of 130.
TEST(Nat44, InboundBurstsTranslateEachPacket) {
  Nat n(std::string(kBase) + "port_assignment: random\nfiltering: address_dependent");
  std::vector<uint16_t> ext;
  for (uint16_t k = 0; k < 100; ++k) ext.push_back(out_port(n, udp(kC, static_cast<uint16_t>(2000 + k), kS, 1)));
  std::vector<Bytes> burst;
  for (uint16_t k = 0; k < 100; ++k) {
    burst.push_back(udp(kS, 1, kP, ext[k]));
    if (k % 10 == 0) burst.push_back(udp(kS, 1, kP, static_cast<uint16_t>(ext[k] ^ 0x8000)));  // unmapped
    if (k % 10 == 5) burst.push_back(udp(kS2, 1, kP, ext[k]));  // filtered: another host
    if (k % 10 == 7) burst.push_back(udp(kS, 1, kC2, 80));  // not to the pool: passed untouched
  }
  const std::vector<Out> o = n.in->run(burst);
  ASSERT_EQ(o.size(), burst.size());
  size_t i = 0;
  for (uint16_t k = 0; k < 100; ++k, ++i) {
    ASSERT_EQ(o[i].verdict, kPass) << k;
    EXPECT_EQ(dst_of(o[i].bytes), kC) << k;
    EXPECT_EQ(dport_of(o[i].bytes), 2000 + k) << k;
    EXPECT_TRUE(checksums_ok(o[i].bytes)) << k;
    if (k % 10 == 0) EXPECT_EQ(o[++i].verdict, 1 + 0) << "unmapped " << k;
    if (k % 10 == 5) EXPECT_EQ(o[++i].verdict, 1 + 1) << "filtered " << k;
    if (k % 10 == 7) {
      ++i;
      EXPECT_EQ(o[i].verdict, kPass) << k;
      EXPECT_EQ(o[i].bytes, burst[i]) << k;
    }
  }
  EXPECT_EQ(n.action("translated_in"), 100u);
  EXPECT_EQ(n.drop("no_mapping"), 10u);
  EXPECT_EQ(n.drop("filtered"), 10u);
}

// An echo whose identifier is not preserved still gets its reply through address-and-port-
// dependent filtering: the permission does not key on the identifier (found by nat-lab).
TEST(Nat44, EchoReplyUnderPortDependentFilteringWithANewIdentifier) {
  Nat n(std::string(kBase) + "filtering: address_and_port_dependent\nports: 20000-20999");
  const Out o = n.out->run1(pkt(1, kC, 77, kS, 77));
  ASSERT_EQ(o.verdict, kPass);
  const auto echo_id = [](const Bytes& f) { return static_cast<uint16_t>(f[38] << 8 | f[39]); };
  const uint16_t id = echo_id(o.bytes);
  EXPECT_GE(id, 20000);
  EXPECT_LE(id, 20999);
  const Out back = n.in->run1(pkt(1, kS, id, kP, id, 0, 0));
  ASSERT_EQ(back.verdict, kPass);
  EXPECT_EQ(dst_of(back.bytes), kC);
  EXPECT_EQ(echo_id(back.bytes), 77);
  EXPECT_TRUE(checksums_ok(back.bytes));
  // A reply from another host is still filtered.
  EXPECT_NE(n.in->run1(pkt(1, kS2, id, kP, id, 0, 0)).verdict, kPass);
}

TEST(Nat44, Pooling) {
  const std::string pool = "pool: 198.51.100.1-198.51.100.4\nports: 1024-1025\n";
  {
    Nat n(pool + "pooling: paired");
    std::set<std::string> addrs;
    for (uint16_t k = 0; k < 3; ++k) {
      const Out o = n.out->run1(udp(kC, static_cast<uint16_t>(6000 + k), kS, 1));
      if (k < 2) {
        ASSERT_EQ(o.verdict, kPass);
        addrs.insert(src_of(o.bytes));
      } else {
        EXPECT_EQ(o.verdict, 1 + 2);  // exhausted: the paired address has no port left
      }
    }
    EXPECT_EQ(addrs.size(), 1u);
    EXPECT_EQ(n.drop("exhausted"), 1u);
  }
  {
    Nat n(pool + "pooling: arbitrary");
    std::set<std::string> addrs;
    for (uint16_t k = 0; k < 8; ++k) {
      const Out o = n.out->run1(udp(kC, static_cast<uint16_t>(6000 + k), kS, 1));
      ASSERT_EQ(o.verdict, kPass) << k;
      addrs.insert(src_of(o.bytes));
    }
    EXPECT_EQ(addrs.size(), 4u);
  }
}

TEST(Nat44, Hairpinning) {
  Nat n(kBase);
  EXPECT_EQ(out_port(n, udp(kC2, 7000, kS, 1)), 7000);  // C2's mapping 198.51.100.1:7000
  const Out o = n.out->run1(udp(kC, 6000, kP, 7000));
  ASSERT_EQ(o.verdict, kRedirect);
  EXPECT_EQ(src_of(o.bytes), kP);  // REQ-9: the sender's outside endpoint
  EXPECT_EQ(sport_of(o.bytes), 6000);
  EXPECT_EQ(dst_of(o.bytes), kC2);
  EXPECT_EQ(dport_of(o.bytes), 7000);
  EXPECT_TRUE(checksums_ok(o.bytes));
  EXPECT_EQ(o.redirect_port, 0);
  EXPECT_EQ(n.action("hairpinned"), 1u);
  EXPECT_EQ(n.out->run1(udp(kC, 6000, kP, 7001)).verdict, 1 + 0);  // nobody there

  Nat off(std::string(kBase) + "hairpinning: false");
  out_port(off, udp(kC2, 7000, kS, 1));
  EXPECT_EQ(off.out->run1(udp(kC, 6000, kP, 7000)).verdict, 1 + 3);
  EXPECT_EQ(off.drop("hairpin_off"), 1u);

  Nat strict(std::string(kBase) + "filtering: address_and_port_dependent");
  out_port(strict, udp(kC2, 7000, kS, 1));
  EXPECT_EQ(strict.out->run1(udp(kC, 6000, kP, 7000)).verdict, 1 + 1);  // filtered
}

// ---- limits and time ---------------------------------------------------------------------------

TEST(Nat44, ExhaustionDropsOrRejects) {
  const std::string ten = std::string(kBase) + "ports: 1024-1033\n";
  {
    Nat n(ten);
    for (uint16_t k = 0; k < 10; ++k) EXPECT_NE(out_port(n, udp(kC, 6000 + k, kS, 1)), 0);
    EXPECT_EQ(n.out->run1(udp(kC, 6010, kS, 1)).verdict, 1 + 2);
    EXPECT_EQ(n.action("created"), 10u);
    EXPECT_EQ(n.drop("exhausted"), 1u);
    // Existing mappings still work; TCP and ICMP have their own ports.
    EXPECT_NE(out_port(n, udp(kC, 6003, kS, 1)), 0);
    EXPECT_NE(out_port(n, tcp(kC, 6010, kS, 1, 0x02)), 0);
  }
  {
    Nat n(ten + "at_limit: reject");
    for (uint16_t k = 0; k < 10; ++k) out_port(n, udp(kC, 6000 + k, kS, 1));
    const Out o = n.out->run1(udp(kC, 6010, kS, 1));
    ASSERT_EQ(o.verdict, kGenerated);
    EXPECT_EQ(src_of(o.bytes), "198.51.100.254");  // the port's address
    EXPECT_EQ(dst_of(o.bytes), kC);
    EXPECT_EQ(o.bytes[34], 3);   // destination unreachable
    EXPECT_EQ(o.bytes[35], 13);  // administratively prohibited
    EXPECT_TRUE(checksums_ok(o.bytes));
    EXPECT_EQ(n.action("rejected"), 1u);
  }
  {
    Nat n(std::string(kBase) + "max_sessions: 3");
    for (uint16_t k = 0; k < 3; ++k) out_port(n, udp(kC, 6000 + k, kS, 1));
    EXPECT_EQ(n.out->run1(udp(kC, 6003, kS, 1)).verdict, 1 + 2);
  }
}

TEST(Nat44, UdpAndIcmpTimeouts) {
  const Nanos t0 = 1000 * kSec;
  Nat n(std::string(kBase) + "timeouts: {udp: 120, icmp: 30}\nmax_sessions: 16", t0);
  EXPECT_EQ(out_port(n, udp(kC, 6000, kS, 1)), 6000);
  n.out->run1(pkt(1, kC, 0x1234, kS, 0));
  n.at(t0 + 119 * kSec);
  EXPECT_EQ(n.in->run1(udp(kS, 1, kP, 6000)).verdict, kPass);  // inbound refreshes
  EXPECT_EQ(n.in->run1(pkt(1, kS, 0x1234, kP, 0, 0, 0)).verdict, 1 + 0);  // ICMP gone after 30 s
  n.at(t0 + 119 * kSec + 121 * kSec);
  EXPECT_EQ(n.in->run1(udp(kS, 1, kP, 6000)).verdict, 1 + 0);
  EXPECT_EQ(n.action("expired"), 2u);
  // The sweep removes what nobody looks up again.
  for (uint16_t k = 0; k < 5; ++k) out_port(n, udp(kC, 7000 + k, kS, 1));
  n.at(t0 + 1000 * kSec);
  for (int k = 0; k < 400; ++k) n.out->run({});
  EXPECT_EQ(n.action("expired"), 7u);
  EXPECT_EQ(out_port(n, udp(kC2, 7000, kS, 1)), 7000);  // its port is free again
}

TEST(Nat44, TcpStateTimers) {
  const Nanos t0 = 1000 * kSec;
  Nat n(kBase, t0);
  // A SYN nobody answers: transitory (4 min).
  out_port(n, tcp(kC, 40000, kS, 80, 0x02));
  n.at(t0 + 241 * kSec);
  EXPECT_EQ(n.in->run1(tcp(kS, 80, kP, 40000, 0x12)).verdict, 1 + 0);
  // Established after SYN both ways: 2 h 4 min.
  n.at(t0);
  Nat e(kBase, t0);
  out_port(e, tcp(kC, 40001, kS, 80, 0x02));
  EXPECT_EQ(e.in->run1(tcp(kS, 80, kP, 40001, 0x12)).verdict, kPass);
  e.at(t0 + 7000 * kSec);
  EXPECT_EQ(e.in->run1(tcp(kS, 80, kP, 40001, 0x10)).verdict, kPass);
  // FIN both ways: transitory again.
  out_port(e, tcp(kC, 40001, kS, 80, 0x11));
  EXPECT_EQ(e.in->run1(tcp(kS, 80, kP, 40001, 0x11)).verdict, kPass);
  e.at(t0 + 7000 * kSec + 241 * kSec);
  EXPECT_EQ(e.in->run1(tcp(kS, 80, kP, 40001, 0x10)).verdict, 1 + 0);
  // A RST: transitory.
  Nat r(kBase, t0);
  out_port(r, tcp(kC, 40002, kS, 80, 0x02));
  r.in->run1(tcp(kS, 80, kP, 40002, 0x12));
  out_port(r, tcp(kC, 40002, kS, 80, 0x04));
  r.at(t0 + 200 * kSec);
  // A new connection on the mapping after the RST: established again.
  out_port(r, tcp(kC, 40002, kS, 80, 0x02));
  EXPECT_EQ(r.in->run1(tcp(kS, 80, kP, 40002, 0x12)).verdict, kPass);
  r.at(t0 + 200 * kSec + 3600 * kSec);
  EXPECT_EQ(r.in->run1(tcp(kS, 80, kP, 40002, 0x10)).verdict, kPass);
  Nat r2(kBase, t0);
  out_port(r2, tcp(kC, 40003, kS, 80, 0x02));
  r2.in->run1(tcp(kS, 80, kP, 40003, 0x12));
  out_port(r2, tcp(kC, 40003, kS, 80, 0x04));
  r2.at(t0 + 241 * kSec);
  EXPECT_EQ(r2.in->run1(tcp(kS, 80, kP, 40003, 0x10)).verdict, 1 + 0);
}

// A scan from inside fills the table to max_sessions and no further: the mappings made before
// keep working, the router's own address still answers, and the scan's mappings expire.
TEST(Nat44, ScanNeverCutsTheRouterOff) {
  const Nanos t0 = 1000 * kSec;
  Nat n("pool: [198.51.100.1, 198.51.100.254]\nmax_sessions: 64\ntimeouts: {udp: 120}", t0);
  const Out first = n.out->run1(udp(kC, 5000, kS, 53));
  ASSERT_EQ(first.verdict, kPass);
  const std::string ext = src_of(first.bytes);  // paired: whichever address kC hashes to
  n.at(t0 + 100 * kSec);
  std::vector<Bytes> scan;
  for (uint16_t k = 0; k < 1000; ++k) scan.push_back(udp(kC2, static_cast<uint16_t>(10000 + k), kS, k));
  for (size_t i = 0; i < scan.size(); i += 200) {
    n.out->run(std::vector<Bytes>(scan.begin() + i, scan.begin() + i + 200));
  }
  EXPECT_EQ(n.action("created"), 64u);
  EXPECT_EQ(n.drop("exhausted"), 1000u - 63u);
  auto shared = n.shared.object<nat::Table>("nat44/nat44", [] { return nullptr; });
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->mappings(), 64u);
  const auto listed = nat::describe(*shared, 100);
  EXPECT_EQ(listed.size(), 64u);
  EXPECT_EQ(std::count(listed.begin(), listed.end(), "udp 10.0.0.2:5000 " + ext + ":5000"), 1);
  for (const Nanos t : {t0 + 100 * kSec, t0 + 150 * kSec}) {  // the old mapping, refreshed
    n.at(t);
    EXPECT_EQ(dst_of(n.in->run1(udp(kS, 53, ext.c_str(), 5000)).bytes), kC);
  }
  EXPECT_EQ(n.in->run1(udp(kS, 1, "198.51.100.254", 22)).verdict, kPass);  // the router's
  n.at(t0 + 100 * kSec + 121 * kSec);  // the scan's mappings time out; the sweep frees them
  for (int k = 0; k < 400; ++k) n.out->run({});
  EXPECT_EQ(shared->mappings(), 1u);  // refreshed at t0 + 150 s by the reply
  EXPECT_EQ(out_port(n, udp(kC2, 9999, kS, 1)), 9999);
}

// inside_ports: only packets that came in by those ports are translated out (the harness's
// frames arrive by port 0, p0).
TEST(Nat44, InsidePorts) {
  const Bytes f = udp(kC, 6000, kS, 1);
  Nat p0(std::string(kBase) + "inside_ports: [p0]");
  EXPECT_EQ(src_of(p0.out->run1(f).bytes), kP);
  Nat p1(std::string(kBase) + "inside_ports: p1");
  EXPECT_EQ(to_hex(p1.out->run1(f).bytes), to_hex(f));
  Nat one("mode: one_to_one\ninside: 10.0.0.0/24\npool: 198.51.100.0/24\ninside_ports: [p1]");
  EXPECT_EQ(to_hex(one.out->run1(f).bytes), to_hex(f));
  EXPECT_THROW(Nat(std::string(kBase) + "inside_ports: [p7]"), std::runtime_error);
}

TEST(Nat44, PassesWhatItDoesNotOwn) {
  Nat n(kBase);
  const Bytes transit = udp(kS2, 1, kS, 2);  // inbound, not to the pool
  EXPECT_EQ(to_hex(n.in->run1(transit).bytes), to_hex(transit));
  const Bytes router = udp("198.51.100.254", 1, kS, 2);  // the router's own, outbound
  EXPECT_EQ(to_hex(n.out->run1(router).bytes), to_hex(router));
  Bytes gre = udp(kC, 1, kS, 2);
  gre[14 + 9] = 47;
  EXPECT_EQ(n.out->run1(gre).verdict, 1 + 4);  // unsupported
  Nat only(std::string(kBase) + "match: {src: 10.0.1.0/24}");
  const Bytes other = udp(kC, 1, kS, 2);
  EXPECT_EQ(to_hex(only.out->run1(other).bytes), to_hex(other));
}

TEST(Nat44, Params) {
  expect_parse_errors(
      "nat44",
      {
          {"pool: []", "test.yaml:1:7: stage.pool: no addresses"},
          {"ports: 1-2",
           "test.yaml:1:1: stage.pool: nat44 needs a pool of outside addresses"},
          {"pool: 198.51.100.1\ntimeouts: {udp: 60}",
           "test.yaml:2:17: stage.timeouts.udp: 60 is not within 120..10000000 seconds (RFC 4787 "
           "REQ-5)"},
          {"pool: 198.51.100.0/22", "test.yaml:1:7: stage.pool: more than 256 addresses"},
          {"pool: 198.51.100.9-198.51.100.1",
           "test.yaml:1:7: stage.pool: '198.51.100.9-198.51.100.1': the range runs backwards"},
          {"pool: 1.2.3\n", "test.yaml:1:7: stage.pool: '1.2.3' is not an IPv4 address"},
          {"pool: 198.51.100.1\nports: 2000-1000",
           "test.yaml:2:8: stage.ports: '2000-1000': the range runs backwards"},
          {"pool: 198.51.100.1\nports: 0-10", "test.yaml:2:8: stage.ports: '0' is not a port 1..65535"},
          {"pool: 198.51.100.1\nmapping: full_cone",
           "test.yaml:2:10: stage.mapping: 'full_cone' is not endpoint_independent, "
           "address_dependent or address_and_port_dependent"},
          {"pool: 198.51.100.1\nport_assignment: odd",
           "test.yaml:2:18: stage.port_assignment: 'odd' is not preserve, preserve_parity or random"},
          {"pool: 198.51.100.1\npooling: any",
           "test.yaml:2:10: stage.pooling: 'any' is not paired or arbitrary"},
          {"pool: 198.51.100.1\nat_limit: queue",
           "test.yaml:2:11: stage.at_limit: 'queue' is not drop or reject"},
          {"pool: 198.51.100.1\nmax_sessions: 0",
           "test.yaml:2:15: stage.max_sessions: 0 is out of range 1..4194304"},
          {"pool: 198.51.100.1\nstatic: [{proto: icmp, inside: 10.0.0.2:80, outside: 198.51.100.1:80}]",
           "test.yaml:2:18: stage.static[0].proto: 'icmp' is not tcp or udp"},
          {"pool: 198.51.100.1\nstatic: [{proto: tcp, inside: 10.0.0.2, outside: 198.51.100.1:80}]",
           "test.yaml:2:31: stage.static[0].inside: '10.0.0.2' is not ADDRESS:PORT"},
          {"pool: 198.51.100.1\nstatic: [{proto: tcp, inside: 10.0.0.2:80, outside: 198.51.100.2:80}]",
           "test.yaml:2:53: stage.static[0].outside: the address is not in the pool"},
          {"pool: 198.51.100.1\nmode: one_to_one\ninside: 10.0.0.0/24",
           "test.yaml:1:7: stage.pool: one_to_one needs one pool prefix of length /24"},
          {"pool: 198.51.100.1\ninside: 10.0.0.0/24",
           "test.yaml:2:9: stage.inside: needs mode: one_to_one"},
          {"pool: 198.51.100.1\nprobability: 0.5",
           "test.yaml:2:14: stage.probability: nat44 translates every matching packet"},
          {"pool: 198.51.100.1\nbogus: 1", "test.yaml:2:1: stage.bogus: unknown key"},
      });
}

}  // namespace
}  // namespace pathlab::test
