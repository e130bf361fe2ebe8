// `link:` on ports and links, built into a dataplane, and its control (docs/links.md, "Control"):
// the link instances of a port, down/up of a whole link, parameter changes by telemetry command
// and by event, all-or-nothing errors, and the link rows of the JSON summary. A built (not
// launched) Dataplane driven from the test thread, which plays worker 0 and the control path.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "harness.hpp"
#include "pathlab/config/loader.hpp"
#include "pathlab/engine/link_control.hpp"
#include "pathlab/stages/link.hpp"

namespace pltest {
namespace {

using namespace pathlab;

const char* const kYaml = R"(process: {mbufs: 4095, mbuf_cache: 32}
routers:
  - id: r1
    ports:
      - {name: p0, mac: "02:00:00:00:01:00", ipv4: [10.0.0.1/24]}
      - name: p1
        mac: "02:00:00:00:01:01"
        ipv4: [10.0.1.1/24]
        egress: [count]
        link: {rate: 1mbit, delay: 1ms}
      - {name: east, mac: "02:00:00:00:01:02", ipv4: [10.0.12.1/30]}
    routes:
      - {prefix: 10.0.3.0/24, via: 10.0.12.2}
    neighbours:
      - {port: p1, ip: 10.0.1.2, mac: "02:00:00:00:a1:02"}
  - id: r2
    ports:
      - {name: west, ipv4: [10.0.12.2/30]}
      - {name: p0, ipv4: [10.0.3.1/24]}
  - id: h
    ports: [{name: a}, {name: b}, {name: c}]
links:
  - {name: l0, ends: [r1.p0, h.a]}
  - {name: l1, ends: [r1.p1, h.b]}
  - {name: r1-r2, ends: [r1.east, r2.west], link: {a_to_b: {delay: 2ms}, b_to_a: {delay: 3ms}}}
  - {name: l3, ends: [r2.p0, h.c]}
events:
  - {at: 5s, link: r1-r2, down: true}
  - {at: 8s, link: r1.east, down: false}
  - {at: 9s, link: r1.p1, set: {delay: 7ms}}
)";

constexpr uint8_t kP0 = 0, kP1 = 1, kEast = 2;

uint16_t csum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

// An IPv4/UDP frame from 10.0.0.2 (behind r1.p0) to 10.0.x.y, 100 bytes.
Bytes udp_to(uint8_t x, uint8_t y) {
  Bytes f(100, 0);
  const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0x01, 0x00}, src_mac[6] = {0x02, 0, 0, 0, 0xa0, 0x02};
  std::memcpy(&f[0], dst_mac, 6);
  std::memcpy(&f[6], src_mac, 6);
  f[12] = 0x08;
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  ip[2] = 0;
  ip[3] = 86;  // 100 - 14
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t src[4] = {10, 0, 0, 2}, dst[4] = {10, 0, x, y};
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  const uint16_t c = csum(ip, 20);
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
  uint8_t* udp = ip + 20;
  udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x00, udp[3] = 0x35;
  udp[5] = 66;  // 86 - 20
  return f;
}

class Fixture {
 public:
  Fixture() : cfg_(load_config_string(kYaml, "t.yaml", {})) {
    dp_ = std::make_unique<Dataplane>(cfg_);
    dp_->build();
    r1_ = dp_->router("r1");
    r2_ = dp_->router("r2");
  }
  Dataplane& dp() { return *dp_; }
  Router& r1() { return *r1_; }
  Router& r2() { return *r2_; }
  LinkControl& links() { return dp_->links(); }
  void rx(const Bytes& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(dp_->pool());
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
    r1_->process(dp_->worker(0).io, kP0, &m, 1, now_);
  }
  uint32_t drain() { return r1_->drain(dp_->worker(0).io, now_); }
  void advance(Nanos dt) { now_ += dt; }
  unsigned tx_count(uint8_t port) {
    rte_mbuf* pkts[64];
    unsigned n = 0, k;
    while ((k = rte_ring_dequeue_burst(r1_->port(port).tx_ring, reinterpret_cast<void**>(pkts), 64,
                                       nullptr)) != 0) {
      for (unsigned i = 0; i < k; ++i) rte_pktmbuf_free(pkts[i]);
      n += k;
    }
    return n;
  }
  RouterTotals totals_r1() {
    auto all = dp_->totals();
    return all[0];
  }
  Link& link_of(Router& r, uint8_t port) {
    auto ls = egress_links(r, port, 1);
    if (ls.size() != 1 || ls[0].size() != 1) throw std::runtime_error("not one link instance");
    return *ls[0][0];
  }

 private:
  Config cfg_;
  std::unique_ptr<Dataplane> dp_;
  Router* r1_ = nullptr;
  Router* r2_ = nullptr;
  Nanos now_ = 1'000'000;
};

TEST(LinkControl, PortLinkIsTheLastEgressStageAndHoldsPackets) {
  Fixture fx;
  const auto ls = egress_links(fx.r1(), kP1, 1);
  ASSERT_EQ(ls.size(), 1u);
  ASSERT_EQ(ls[0].size(), 1u);
  const auto& chain = fx.r1().chain(0, kP1, true).stages();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0]->name(), "count");
  EXPECT_EQ(chain[1].get(), ls[0][0]);
  EXPECT_EQ(chain[1]->name(), "link");
  EXPECT_EQ(ls[0][0]->params().rate_bps, 1'000'000u);
  EXPECT_TRUE(egress_links(fx.r1(), kP0, 1).empty());
  EXPECT_EQ(fx.links().size(), 3u);  // r1.p1, r1.east, r2.west

  // 100 B + 24 B overhead at 1 Mbit/s: 992 us, then 1 ms.
  fx.rx(udp_to(1, 2));
  EXPECT_EQ(fx.r1().held(), 1u);
  fx.advance(992'000 + 1'000'000 - 1);
  EXPECT_EQ(fx.drain(), 0u);
  fx.advance(1);
  EXPECT_EQ(fx.drain(), 1u);
  EXPECT_EQ(fx.tx_count(kP1), 1u);

  const RouterTotals t = fx.totals_r1();
  EXPECT_EQ(t.event("r1.p1.egress.link.released"), 1u);
  ASSERT_EQ(t.links.size(), 2u);
  const LinkTotalsRow& row = t.links[0];
  EXPECT_EQ(row.port, "r1.p1");
  EXPECT_EQ(row.stage, "link");
  EXPECT_EQ(row.link, "l1");
  EXPECT_EQ(row.direction, "a_to_b");
  EXPECT_EQ(row.accepted, 1u);
  EXPECT_EQ(row.released, 1u);
  EXPECT_EQ(row.mean_sojourn_ns(), 0u);   // nothing ahead of it
  EXPECT_EQ(row.mean_lateness_ns(), 0u);  // drained at its departure time
  EXPECT_EQ(row.in_flight, 0u);
  EXPECT_FALSE(row.down);
  EXPECT_EQ(t.links[1].port, "r1.east");
  EXPECT_EQ(t.links[1].direction, "a_to_b");
  EXPECT_EQ(t.links[1].link, "r1-r2");
  const std::string json = router_json(t);
  EXPECT_NE(json.find("\"links\":[{\"name\":\"r1.p1\",\"stage\":\"link\",\"link\":\"l1\","
                      "\"direction\":\"a_to_b\",\"down\":false,\"accepted\":1,"
                      "\"mean_sojourn_ns\":0,\"released\":1,\"mean_lateness_ns\":0,"
                      "\"in_flight\":0,\"counters\":{\"queue_full\":0,\"loss\":0,\"aqm\":0,"
                      "\"down\":0,\"ce_marked\":0,"),
            std::string::npos)
      << json;
  const RouterTotals t2 = fx.dp().totals()[1];
  ASSERT_EQ(t2.links.size(), 1u);
  EXPECT_EQ(t2.links[0].port, "r2.west");
  EXPECT_EQ(t2.links[0].direction, "b_to_a");
}

TEST(LinkControl, SojournAndLatenessAreMeans) {
  Fixture fx;
  fx.rx(udp_to(1, 2));
  fx.rx(udp_to(1, 2));  // waits 992 us behind the first
  fx.advance(992'000 * 2 + 1'000'000 + 500);
  EXPECT_EQ(fx.drain(), 2u);  // the first 992'500 ns late, the second 500 ns
  const LinkTotalsRow row = fx.totals_r1().links[0];
  EXPECT_EQ(row.accepted, 2u);
  EXPECT_EQ(row.mean_sojourn_ns(), 992'000u / 2);
  EXPECT_EQ(row.mean_lateness_ns(), (992'500u + 500u) / 2);
}

TEST(LinkControl, DownTakesBothDirectionsOfARingLink) {
  Fixture fx;
  Link& east = fx.link_of(fx.r1(), kEast);
  Link& west = fx.link_of(fx.r2(), 0);
  fx.rx(udp_to(3, 5));  // via r1.east, held 2 ms
  EXPECT_EQ(fx.r1().held(), 1u);
  EXPECT_EQ(fx.links().set_down("r1.east", true), "");
  EXPECT_TRUE(east.down_requested());
  EXPECT_TRUE(west.down_requested());
  fx.advance(1000);
  fx.drain();  // the worker sees it: what was held is dropped
  // The route over r1.east is withdrawn: the next packet has no route (net unreachable).
  const uint64_t unreachable_before = fx.totals_r1().event("icmp_net_unreachable");
  fx.rx(udp_to(3, 6));
  EXPECT_EQ(fx.r1().held(), 0u);
  EXPECT_EQ(fx.tx_count(kEast), 0u);
  RouterTotals t = fx.totals_r1();
  EXPECT_EQ(t.drop("r1.east.egress.link.down"), 1u);
  EXPECT_EQ(t.event("icmp_net_unreachable") + t.drop("fwd/no_route"), unreachable_before + 1);
  EXPECT_TRUE(t.links[1].down);
  EXPECT_TRUE(t.balanced());

  EXPECT_EQ(fx.links().set_down("r1-r2", false), "");
  EXPECT_FALSE(east.down_requested());
  EXPECT_FALSE(west.down_requested());
  fx.rx(udp_to(3, 7));
  fx.advance(2'000'000);
  EXPECT_EQ(fx.drain(), 1u);
  EXPECT_EQ(fx.tx_count(kEast), 1u);
}

TEST(LinkControl, DownRefusesALinkWithADirectionWithoutLinkStage) {
  Fixture fx;
  Link& p1 = fx.link_of(fx.r1(), kP1);
  EXPECT_EQ(fx.links().set_down("r1.p1", true),
            "h.b has no link stage: give it link: (link: {} holds nothing back)");
  EXPECT_FALSE(p1.down_requested());
  EXPECT_EQ(fx.links().set_down("l0", true),
            "r1.p0 has no link stage: give it link: (link: {} holds nothing back)");
  EXPECT_EQ(fx.links().set_down("r9.x", true), "no router r9 (expected router.port or a link name)");
  EXPECT_EQ(fx.links().set_down("r1.x", true), "no port x in router r1");
  EXPECT_EQ(fx.links().set_down("nope", true), "no link named nope (expected router.port or a link name)");
}

TEST(LinkControl, CommandsChangeParametersOverTheCurrentOnes) {
  Fixture fx;
  Link& p1 = fx.link_of(fx.r1(), kP1);
  EXPECT_EQ(fx.links().command("r1.p1 set rate=2mbit  aqm={type: codel, ecn: true} queue={time: 20ms}"),
            "ok");
  // The control path's view at once; the link's own at the worker's next call.
  auto rep = fx.links().report();
  ASSERT_EQ(rep.size(), 3u);
  EXPECT_EQ(rep[0].row.port, "r1.p1");
  EXPECT_EQ(rep[0].rate_bps, 2'000'000u);
  EXPECT_EQ(rep[0].delay_ns, 1'000'000u);
  EXPECT_EQ(p1.params().rate_bps, 1'000'000u);
  fx.drain();
  EXPECT_EQ(p1.params().rate_bps, 2'000'000u);
  EXPECT_EQ(p1.params().delay, 1'000'000u);
  EXPECT_EQ(p1.params().aqm, LinkParams::Aqm::kCodel);
  EXPECT_TRUE(p1.params().ecn);
  EXPECT_EQ(p1.params().limit, LinkParams::Limit::kTime);

  // 2 Mbit/s now: 496 us + 1 ms.
  fx.rx(udp_to(1, 2));
  fx.advance(496'000 + 1'000'000 - 1);
  EXPECT_EQ(fx.drain(), 0u);
  fx.advance(1);
  EXPECT_EQ(fx.drain(), 1u);

  // A link name sets every direction that has a link stage.
  EXPECT_EQ(fx.links().command("r1-r2 set delay=10ms"), "ok");
  rep = fx.links().report();
  EXPECT_EQ(rep[1].delay_ns, 10'000'000u);
  EXPECT_EQ(rep[2].delay_ns, 10'000'000u);

  EXPECT_EQ(fx.links().command("r1.east down"), "ok");
  EXPECT_TRUE(fx.link_of(fx.r2(), 0).down_requested());
  EXPECT_EQ(fx.links().command("  r1-r2   up "), "ok");
  EXPECT_FALSE(fx.link_of(fx.r2(), 0).down_requested());
}

TEST(LinkControl, CommandErrorsChangeNothing) {
  Fixture fx;
  auto& lc = fx.links();
  EXPECT_EQ(lc.command("r1.p1 set rate=fast"),
            "error: command:1:7: set.rate: 'fast' is not a rate (e.g. 10gbit, 100mbit, 512kbit, "
            "or bits per second)");
  EXPECT_EQ(lc.command("r1.p1 set delay=2ms seed=3"), "error: command:2:1: set.seed: unknown key");
  EXPECT_EQ(lc.command("r1.p1 set delay=2ms delay=3ms"), "error: command:2:1: set.delay: duplicate key");
  EXPECT_EQ(lc.command("r1.p1 set aqm=codel rate=0"), "error: command:1:6: set.aqm: an AQM needs a rate: without one nothing queues");
  EXPECT_EQ(lc.command("r1.p1 set"), "error: set needs KEY=VALUE words (rate=10mbit delay=5ms ...)");
  EXPECT_EQ(lc.command("r1.p1 set rate"), "error: 'rate' is not KEY=VALUE");
  EXPECT_EQ(lc.command("r1.p1 set loss={random: 0.1"), "error: YAML syntax error: end of map flow not found");
  EXPECT_EQ(lc.command("r1.p1 explode"), "error: unknown action 'explode': expected down, up or set");
  EXPECT_EQ(lc.command("r1.p1 down now"), "error: down takes no arguments");
  EXPECT_EQ(lc.command(""), "error: expected ROUTER.PORT|LINK down | up | set KEY=VALUE ...");
  EXPECT_EQ(lc.command("r1.p0 set rate=1mbit"), "error: r1.p0 has no link stage: give it link:");
  const auto rep = lc.report();
  EXPECT_EQ(rep[0].rate_bps, 1'000'000u);
  EXPECT_EQ(rep[0].delay_ns, 1'000'000u);
}

TEST(LinkControl, EventsRunInTimeOrder) {
  Fixture fx;
  auto& lc = fx.links();
  Link& east = fx.link_of(fx.r1(), kEast);
  Link& west = fx.link_of(fx.r2(), 0);
  EXPECT_EQ(lc.events_left(), 3u);
  lc.run_events(4'999'999'999);
  EXPECT_EQ(lc.events_left(), 3u);
  EXPECT_FALSE(east.down_requested());
  lc.run_events(5'000'000'000);
  EXPECT_EQ(lc.events_left(), 2u);
  EXPECT_TRUE(east.down_requested());
  EXPECT_TRUE(west.down_requested());
  // A command between events: the event's change applies over it.
  EXPECT_EQ(lc.command("r1.p1 set rate=3mbit"), "ok");
  lc.run_events(20'000'000'000);
  EXPECT_EQ(lc.events_left(), 0u);
  EXPECT_FALSE(east.down_requested());
  EXPECT_FALSE(west.down_requested());
  const auto rep = lc.report();
  EXPECT_EQ(rep[0].rate_bps, 3'000'000u);
  EXPECT_EQ(rep[0].delay_ns, 7'000'000u);
}

}  // namespace
}  // namespace pltest
