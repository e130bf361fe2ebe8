// Route lookup: connected subnets, static routes via a gateway, port-only routes, the default
// route (two /1s in the LPM tables), longest-prefix match, and the /32 and /128 local addresses;
// then forwarding: each kind of destination leaves through the right port with the right MAC.
#include <cstring>
#include <optional>

#include "harness.hpp"

namespace pltest {
namespace {

using namespace pathlab;

struct Want {
  const char* dst;
  NextHop::Kind kind;
  int port;         // Connected / Gateway
  const char* via;  // Gateway
};

constexpr auto kLocal = NextHop::Kind::Local;
constexpr auto kConn = NextHop::Kind::Connected;
constexpr auto kGw = NextHop::Kind::Gateway;

const char* kind_name(NextHop::Kind k) {
  switch (k) {
    case NextHop::Kind::Local:
      return "local";
    case NextHop::Kind::Connected:
      return "connected";
    case NextHop::Kind::Gateway:
      return "gateway";
  }
  return "?";
}

void check_hop(Router& r, const Want& w, uint32_t nh, const NeighKey& via_key) {
  ASSERT_LT(nh, r.nexthop_count());
  const NextHop& h = r.nexthop(nh);
  EXPECT_STREQ(kind_name(h.kind), kind_name(w.kind));
  if (w.kind == kLocal) return;
  EXPECT_EQ(h.port, w.port);
  if (w.kind == kGw) {
    ASSERT_NE(h.neigh, NeighbourTable::kNone);
    const NeighKey& k = r.neighbours().at(h.neigh).key;
    EXPECT_EQ(k.family, via_key.family);
    EXPECT_EQ(k.port, via_key.port);
    EXPECT_EQ(k.ip4, via_key.ip4);
    EXPECT_EQ(0, std::memcmp(k.ip6, via_key.ip6, 16));
  } else {
    EXPECT_EQ(h.neigh, NeighbourTable::kNone);
  }
}

TEST(RouteLookup, Ipv4) {
  Lab lab;
  Router& r = lab.r();
  const Want cases[] = {
      {"10.0.0.2", kConn, 0, nullptr},
      {"10.0.0.255", kConn, 0, nullptr},
      {"10.0.1.77", kConn, 1, nullptr},
      {"10.0.2.254", kConn, 2, nullptr},
      {"10.0.0.1", kLocal, 0, nullptr},
      {"10.0.1.1", kLocal, 0, nullptr},
      {"10.0.2.1", kLocal, 0, nullptr},
      {"192.168.0.1", kGw, 1, "10.0.1.2"},      // /16
      {"192.168.255.255", kGw, 1, "10.0.1.2"},  // /16
      {"192.168.1.5", kGw, 0, "10.0.0.2"},      // /24 beats /16
      {"192.168.1.127", kGw, 0, "10.0.0.2"},    // last address of the /24's lower half
      {"192.168.1.128", kConn, 2, nullptr},     // /25 port route beats /24
      {"192.168.1.255", kConn, 2, nullptr},
      {"8.8.8.8", kGw, 2, "10.0.2.254"},  // default, lower /1
      {"0.0.0.0", kGw, 2, "10.0.2.254"},
      {"127.255.255.255", kGw, 2, "10.0.2.254"},
      {"128.0.0.0", kGw, 2, "10.0.2.254"},  // default, upper /1
      {"203.0.113.9", kGw, 2, "10.0.2.254"},
      {"255.255.255.255", kGw, 2, "10.0.2.254"},
      {"10.0.3.1", kGw, 2, "10.0.2.254"},  // next to the connected /24s
  };
  for (const Want& w : cases) {
    SCOPED_TRACE(w.dst);
    uint32_t nh = 0;
    ASSERT_EQ(r.lookup4(*parse_ip4(w.dst), nh), 0);
    const NeighKey key =
        w.via ? neigh_key4(static_cast<uint8_t>(w.port), *parse_ip4(w.via)) : NeighKey{};
    check_hop(r, w, nh, key);
  }
  // Both halves of the default route share one next hop.
  uint32_t lo = 0, hi = 0;
  ASSERT_EQ(r.lookup4(*parse_ip4("1.1.1.1"), lo), 0);
  ASSERT_EQ(r.lookup4(*parse_ip4("200.1.1.1"), hi), 0);
  EXPECT_EQ(lo, hi);
}

TEST(RouteLookup, Ipv6) {
  Lab lab;
  Router& r = lab.r();
  const Want cases[] = {
      {"2001:db8::2", kConn, 0, nullptr},
      {"2001:db8::ffff:ffff:ffff:ffff", kConn, 0, nullptr},
      {"2001:db8:1::abcd", kConn, 1, nullptr},
      {"2001:db8:2::fe", kConn, 2, nullptr},
      {"2001:db8::1", kLocal, 0, nullptr},
      {"2001:db8:1::1", kLocal, 0, nullptr},
      {"2001:db8:2::1", kLocal, 0, nullptr},
      {"2001:db8:100::1", kGw, 1, "2001:db8:1::2"},  // /48
      {"2001:db8:100:ffff::1", kGw, 1, "2001:db8:1::2"},
      {"2001:db8:100:1::5", kGw, 0, "2001:db8::2"},   // /64 beats /48
      {"2001:db8:100:2::200", kConn, 2, nullptr},     // port route /64
      {"2001:db8:101::1", kGw, 2, "2001:db8:2::fe"},  // just outside the /48
      {"2001:4860::8888", kGw, 2, "2001:db8:2::fe"},  // default, lower /1
      {"::", kGw, 2, "2001:db8:2::fe"},
      {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kGw, 2, "2001:db8:2::fe"},
      {"8000::", kGw, 2, "2001:db8:2::fe"},  // default, upper /1
      {"fd00::1", kGw, 2, "2001:db8:2::fe"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kGw, 2, "2001:db8:2::fe"},
  };
  for (const Want& w : cases) {
    SCOPED_TRACE(w.dst);
    uint32_t nh = 0;
    ASSERT_EQ(r.lookup6(*parse_ip6(w.dst), nh), 0);
    const NeighKey key =
        w.via ? neigh_key6(static_cast<uint8_t>(w.port), *parse_ip6(w.via)) : NeighKey{};
    check_hop(r, w, nh, key);
  }
  uint32_t lo = 0, hi = 0;
  ASSERT_EQ(r.lookup6(*parse_ip6("2001::1"), lo), 0);
  ASSERT_EQ(r.lookup6(*parse_ip6("fe00::1"), hi), 0);
  EXPECT_EQ(lo, hi);
}

TEST(RouteLookup, WithoutDefaultRoute) {
  Lab lab(LabOptions{.default_routes = false});
  Router& r = lab.r();
  uint32_t nh = 0;
  for (const char* a : {"8.8.8.8", "0.0.0.0", "128.0.0.0", "203.0.113.9", "10.0.3.1"}) {
    EXPECT_NE(r.lookup4(*parse_ip4(a), nh), 0) << a;
  }
  for (const char* a : {"2001:4860::1", "::", "8000::", "2001:db8:101::1"}) {
    EXPECT_NE(r.lookup6(*parse_ip6(a), nh), 0) << a;
  }
  ASSERT_EQ(r.lookup4(*parse_ip4("192.168.9.9"), nh), 0);
  EXPECT_EQ(r.nexthop(nh).kind, kGw);
  ASSERT_EQ(r.lookup6(*parse_ip6("2001:db8::9"), nh), 0);
  EXPECT_EQ(r.nexthop(nh).kind, kConn);
}

TEST(RouteLookup, LocalHelpers) {
  Lab lab;
  Router& r = lab.r();
  EXPECT_TRUE(r.is_local4(0, *parse_ip4("10.0.0.1")));
  EXPECT_FALSE(r.is_local4(0, *parse_ip4("10.0.1.1")));  // per port
  EXPECT_TRUE(r.is_local4(1, *parse_ip4("10.0.1.1")));
  EXPECT_FALSE(r.is_local4(0, *parse_ip4("10.0.0.2")));
  EXPECT_TRUE(r.is_local6(0, *parse_ip6("2001:db8::1")));
  EXPECT_TRUE(r.is_local6(0, r.port(0).link_local));
  EXPECT_FALSE(r.is_local6(1, r.port(0).link_local));
  EXPECT_EQ(to_string(r.port(0).link_local), "fe80::ff:fe00:100");
  EXPECT_EQ(to_string(r.icmp_source4(1)), "10.0.1.1");
  EXPECT_EQ(to_string(r.icmp_source6(2)), "2001:db8:2::1");
}

// Each destination, received on p1 from H1, goes out of its port to its next hop's MAC, with
// the TTL / hop limit decremented (the whole frame is compared with scapy's).
TEST(RouteForward, EachDestinationLeavesTheRightPort) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab;
  std::vector<std::string> names = frame_names("route4_");
  const auto v6 = frame_names("route6_");
  names.insert(names.end(), v6.begin(), v6.end());
  ASSERT_EQ(names.size(), 14u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const int port = frame_int(name);
    ASSERT_GE(port, 0);
    const Counts before = lab.counts();
    lab.rx(P1, frame(name));
    for (uint8_t p = 0; p < kPorts; ++p) {
      const auto out = lab.tx(p);
      if (p == port) {
        ASSERT_EQ(out.size(), 1u);
        EXPECT_TRUE(same_frame(out[0], frame(name, "out")));
      } else {
        EXPECT_TRUE(out.empty()) << "unexpected frame on p" << int{p};
      }
    }
    EXPECT_EQ(lab.delta(before), expect_rx(P1, 1, {{"tx", 1}, {"tx:p" + std::to_string(port), 1}}));
    EXPECT_EQ(lab.ctrl_pending(), 0u);
  }
  EXPECT_TRUE(lab.balanced());
  EXPECT_EQ(lab.in_use(), 0u);
}

// The same packets in one burst: each still reaches its own port, in arrival order per port.
TEST(RouteForward, MixedBurst) {
  Lab lab;
  std::vector<std::string> names = frame_names("route");
  std::vector<Bytes> in;
  std::vector<std::vector<Bytes>> want(kPorts);
  for (const auto& n : names) {
    in.push_back(frame(n));
    want[frame_int(n)].push_back(frame(n, "out"));
  }
  lab.rx(P1, in);
  for (uint8_t p = 0; p < kPorts; ++p) {
    const auto out = lab.tx(p);
    ASSERT_EQ(out.size(), want[p].size()) << "p" << int{p};
    for (size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(same_frame(out[i], want[p][i]));
  }
  EXPECT_EQ(lab.delta({}).at("tx"), in.size());
  EXPECT_TRUE(lab.balanced());
}


// Routes with metrics: the lowest metric whose port is up is installed. A port going down
// withdraws every route over it (connected, static, default) and the backups take over; up
// again, the preferred routes return. The router's own addresses stay local throughout.
TEST(RouteFailover, BackupTakesOverWhileAPortIsDown) {
  Lab lab;
  Router& r = lab.r();
  const uint32_t on1 = r.add_nexthop({kConn, 1, NeighbourTable::kNone});
  const uint32_t on2 = r.add_nexthop({kConn, 2, NeighbourTable::kNone});
  const Ip4Prefix p4 = *parse_ip4_prefix("198.51.100.0/24");
  const Ip6Prefix p6 = *parse_ip6_prefix("2001:db8:99::/48");
  r.add_route4(p4, on2, 10);  // the backup first: the preferred one replaces it
  r.add_route4(p4, on1, 1);
  r.add_route6(p6, on2, 10);
  r.add_route6(p6, on1, 1);
  auto hop4 = [&](const char* a) {
    uint32_t nh = 0;
    return r.lookup4(*parse_ip4(a), nh) == 0 ? static_cast<int>(nh) : -1;
  };
  auto hop6 = [&](const char* a) {
    uint32_t nh = 0;
    return r.lookup6(*parse_ip6(a), nh) == 0 ? static_cast<int>(nh) : -1;
  };
  auto port4 = [&](const char* a) { return hop4(a) < 0 ? -1 : int{r.nexthop(static_cast<uint32_t>(hop4(a))).port}; };
  EXPECT_EQ(hop4("198.51.100.7"), static_cast<int>(on1));
  EXPECT_EQ(hop6("2001:db8:99::7"), static_cast<int>(on1));
  EXPECT_EQ(port4("10.0.1.77"), 1);
  EXPECT_EQ(port4("192.168.0.1"), 1);  // the /16 via 10.0.1.2

  EXPECT_TRUE(r.port_up(1));
  EXPECT_GE(r.set_port_up(1, false), 4u);
  EXPECT_FALSE(r.port_up(1));
  EXPECT_EQ(hop4("198.51.100.7"), static_cast<int>(on2));
  EXPECT_EQ(hop6("2001:db8:99::7"), static_cast<int>(on2));
  EXPECT_EQ(port4("10.0.1.77"), 2) << "the connected /24 is withdrawn: the default route over p2";
  EXPECT_EQ(port4("192.168.0.1"), 2);
  EXPECT_STREQ(kind_name(r.nexthop(static_cast<uint32_t>(hop4("10.0.1.1"))).kind), "local");
  EXPECT_EQ(r.set_port_up(1, false), 0u) << "already down";

  r.set_port_up(2, false);  // no route left to the prefix, nor a default
  EXPECT_EQ(hop4("198.51.100.7"), -1);
  EXPECT_EQ(hop6("2001:db8:99::7"), -1);
  EXPECT_EQ(hop4("8.8.8.8"), -1);

  r.set_port_up(2, true);
  r.set_port_up(1, true);
  EXPECT_EQ(hop4("198.51.100.7"), static_cast<int>(on1));
  EXPECT_EQ(hop6("2001:db8:99::7"), static_cast<int>(on1));
  EXPECT_EQ(port4("10.0.1.77"), 1);
  EXPECT_EQ(port4("8.8.8.8"), 2);
}

// The same through the data path: 192.168.7.7 leaves by p1 (the /16 via H1), by p2 (the default
// route via GW) while p1 is down, and by p1 again once it is back.
TEST(RouteFailover, TrafficFollowsTheInstalledRoute) {
  ASSERT_TRUE(frames_loaded()) << frames_path();
  Lab lab;
  const Bytes in = frame("unres_gw4");
  lab.rx(P0, in);
  EXPECT_EQ(lab.tx(P1).size(), 1u);
  lab.r().set_port_up(1, false);
  lab.rx(P0, in);
  EXPECT_EQ(lab.tx(P1).size(), 0u);
  EXPECT_EQ(lab.tx(P2).size(), 1u);
  lab.r().set_port_up(1, true);
  lab.rx(P0, in);
  EXPECT_EQ(lab.tx(P1).size(), 1u);
  EXPECT_EQ(lab.tx(P2).size(), 0u);
  EXPECT_TRUE(lab.balanced());
}

}  // namespace
}  // namespace pltest
