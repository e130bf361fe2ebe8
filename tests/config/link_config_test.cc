// `link:` on ports and links, and `events:` (docs/links.md, "link: on ports and links" and
// "Events"): what the loader makes of good forms, and the exact error of each bad one.
#include <gtest/gtest.h>

#include <string>

#include "pathlab/config/error.hpp"
#include "pathlab/config/loader.hpp"

namespace pathlab {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    load_config_string(yaml, "t.yaml", {});
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// r1.p1 on a device with an egress stage and `link:`; r1.east - r2.west a ring link whose two
// directions differ; r2.p0 on a device with nothing.
const char* const kGood = R"(routers:
  - id: r1
    ports:
      - name: p1
        device: net_null0
        egress: [count]
        link: {rate: 100mbit, delay: 20ms, aqm: {type: codel, ecn: true}}
      - {name: east, ipv4: [10.0.12.1/30]}
  - id: r2
    ports:
      - {name: west, ipv4: [10.0.12.2/30]}
      - {name: p0, device: net_null1}
links:
  - name: r1-r2
    ends: [r1.east, r2.west]
    link: {a_to_b: {rate: 10mbit}, b_to_a: {delay: 5ms, seed: 3}}
events:
  - {at: 9s, link: r1.p1, set: {rate: 10mbit, loss: {random: 0.01}}}
  - {at: 5s, link: r1-r2, down: true}
  - {at: 5s, link: r2.west, set: {delay: 1ms}}
  - {at: 1500ms, link: r1.east, down: false}
)";

TEST(LinkKey, OnAPortIsTheLastEgressStageNamedLink) {
  const Config c = load_config_string(kGood, "t.yaml", {});
  const PortConfig& p1 = c.routers[0].ports[0];
  ASSERT_EQ(p1.egress.size(), 2u);
  EXPECT_EQ(p1.egress[0].kind, "count");
  EXPECT_EQ(p1.egress[1].kind, "link");
  EXPECT_EQ(p1.egress[1].name, "link");
  EXPECT_EQ(p1.egress[1].path, "routers[0].ports[0].link");
  EXPECT_EQ(p1.egress[1].pos.line, 7);
  EXPECT_EQ(p1.egress[1].pos.column, 15);
  EXPECT_TRUE(static_cast<bool>(p1.egress[1].build));
  ASSERT_EQ(p1.egress_links.size(), 1u);
  const LinkParams& l = p1.egress_links[0];
  EXPECT_EQ(l.rate_bps, 100'000'000u);
  EXPECT_EQ(l.delay, 20'000'000u);
  EXPECT_EQ(l.aqm, LinkParams::Aqm::kCodel);
  EXPECT_TRUE(l.ecn);
  EXPECT_TRUE(c.routers[1].ports[1].egress.empty());
  EXPECT_TRUE(c.routers[1].ports[1].egress_links.empty());
}

TEST(LinkKey, OnALinkEachDirectionIsItsEndsEgress) {
  const Config c = load_config_string(kGood, "t.yaml", {});
  const PortConfig& east = c.routers[0].ports[1];
  const PortConfig& west = c.routers[1].ports[0];
  ASSERT_EQ(east.egress.size(), 1u);
  EXPECT_EQ(east.egress[0].name, "link");
  EXPECT_EQ(east.egress[0].path, "links[0].link.a_to_b");
  ASSERT_EQ(east.egress_links.size(), 1u);
  EXPECT_EQ(east.egress_links[0].rate_bps, 10'000'000u);
  EXPECT_EQ(east.egress_links[0].delay, 0u);
  ASSERT_EQ(west.egress.size(), 1u);
  EXPECT_EQ(west.egress[0].path, "links[0].link.b_to_a");
  EXPECT_EQ(west.egress_links[0].rate_bps, 0u);
  EXPECT_EQ(west.egress_links[0].delay, 5'000'000u);
}

TEST(LinkKey, OneMapIsBothDirectionsAndEmptyHoldsNothingBack) {
  const Config c = load_config_string(R"(routers:
  - {id: r1, ports: [{name: east}]}
  - {id: r2, ports: [{name: west}, {name: p0, device: x, link: }]}
links:
  - {name: l, ends: [r1.east, r2.west], link: {rate: 1gbit, queue: {time: 20ms}}}
)",
                                      "t.yaml", {});
  for (const PortConfig* p : {&c.routers[0].ports[0], &c.routers[1].ports[0]}) {
    ASSERT_EQ(p->egress_links.size(), 1u) << p->name;
    EXPECT_EQ(p->egress_links[0].rate_bps, 1'000'000'000u);
    EXPECT_EQ(p->egress_links[0].limit, LinkParams::Limit::kTime);
    EXPECT_EQ(p->egress_links[0].limit_value, 20'000'000u);
    EXPECT_EQ(p->egress[0].path, "links[0].link");
  }
  const PortConfig& p0 = c.routers[1].ports[1];
  ASSERT_EQ(p0.egress_links.size(), 1u);
  EXPECT_EQ(p0.egress_links[0].rate_bps, 0u);
  EXPECT_EQ(p0.egress_links[0].delay, 0u);
}

TEST(LinkKey, ExplicitLinkStagesAreKnownToEvents) {
  const Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, egress: [{stage: link, rate: 5mbit}, count]}
events:
  - {at: 0, link: r1.p0, set: {delay: 2ms}}
)",
                                      "t.yaml", {});
  const PortConfig& p0 = c.routers[0].ports[0];
  ASSERT_EQ(p0.egress_links.size(), 1u);
  EXPECT_EQ(p0.egress_links[0].rate_bps, 5'000'000u);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].at, 0u);
}

TEST(Events, SortedByTimeWithTheirChange) {
  const Config c = load_config_string(kGood, "t.yaml", {});
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_EQ(c.events[0].at, 1'500'000'000u);
  EXPECT_EQ(c.events[0].target, "r1.east");
  EXPECT_EQ(c.events[0].down, std::optional<bool>(false));
  EXPECT_EQ(c.events[0].what, "up");
  EXPECT_EQ(c.events[0].path, "events[3]");
  // Ties keep file order.
  EXPECT_EQ(c.events[1].path, "events[1]");
  EXPECT_EQ(c.events[1].what, "down");
  EXPECT_EQ(c.events[2].path, "events[2]");
  EXPECT_EQ(c.events[3].at, 9'000'000'000u);
  EXPECT_EQ(c.events[3].what, "set {rate: 10mbit, loss: {random: 0.01}}");
  EXPECT_FALSE(c.events[3].down.has_value());
  ASSERT_TRUE(static_cast<bool>(c.events[3].set));
  // A change keeps what it does not name.
  const LinkParams p = c.events[3].set(c.routers[0].ports[0].egress_links[0]);
  EXPECT_EQ(p.rate_bps, 10'000'000u);
  EXPECT_EQ(p.delay, 20'000'000u);
  EXPECT_EQ(p.aqm, LinkParams::Aqm::kCodel);
  EXPECT_EQ(p.loss, LinkParams::Loss::kRandom);
  EXPECT_DOUBLE_EQ(p.loss_p, 0.01);
  // At run time the change applies over the current parameters; it can fail there.
  LinkParams bare;
  bare.aqm = LinkParams::Aqm::kCodel;
  bare.rate_bps = 1'000'000;
  EXPECT_NO_THROW(c.events[3].set(bare));
  try {
    const LinkEvent& e = c.events[2];  // {delay: 1ms}
    LinkParams bad;
    bad.aqm = LinkParams::Aqm::kCodel;  // an AQM without a rate
    e.set(bad);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& err) {
    EXPECT_EQ(std::string(err.what()), "t.yaml:20:34: events[2].set.rate: the link's AQM needs a rate");
  }
}

struct Bad {
  const char* name;
  const char* yaml;
  const char* error;
};

const Bad kBad[] = {
    {"UnknownLinkKeyOnAPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, link: {rate: 1gbit, colour: red}}
)",
     "t.yaml:4:51: routers[0].ports[0].link.colour: unknown key"},
    {"MatchIsNotALinkKey", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, link: {match: {proto: udp}}}
)",
     "t.yaml:4:38: routers[0].ports[0].link.match: unknown key"},
    {"StageIsNotALinkKey", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, link: {stage: link}}
)",
     "t.yaml:4:38: routers[0].ports[0].link.stage: unknown key"},
    {"BadLinkValueOnAPort", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        link:
          rate: 100mbps
)",
     "t.yaml:7:17: routers[0].ports[0].link.rate: '100mbps' is not a rate (e.g. 10gbit, 100mbit, "
     "512kbit, or bits per second)"},
    {"LinkNotAMap", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, link: 100mbit}
)",
     "t.yaml:4:37: routers[0].ports[0].link: expected a map, got a scalar"},
    {"LinkAndALinkStage", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        egress: [count, {stage: link, delay: 1ms}]
        link: {rate: 1gbit}
)",
     "t.yaml:7:15: routers[0].ports[0].link: port r1.p0 has both link: and a link stage in its "
     "egress chain (routers[0].ports[0].egress[1]): keep one"},
    {"LinkAndAStageNamedLink", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, egress: [{stage: count, name: link}], link: {}}
)",
     "t.yaml:4:75: routers[0].ports[0].link: port r1.p0 has a stage named link in its egress "
     "chain (routers[0].ports[0].egress[0]): link: adds the stage link; rename that one"},
    {"LinkOnThePortAndOnItsLink", R"(routers:
  - {id: r1, ports: [{name: east, link: {delay: 1ms}}]}
  - {id: r2, ports: [{name: west}]}
links:
  - {name: l, ends: [r1.east, r2.west], link: {delay: 2ms}}
)",
     "t.yaml:5:47: links[0].link: port r1.east already has a link: at t.yaml:2:41 "
     "(routers[0].ports[0].link)"},
    {"UnknownKeyOnALink", R"(routers:
  - {id: r1, ports: [{name: east}]}
  - {id: r2, ports: [{name: west}]}
links:
  - {name: l, ends: [r1.east, r2.west], link: {rate: 1gbit, delai: 1ms}}
)",
     "t.yaml:5:61: links[0].link.delai: unknown key"},
    {"DirectionsAndParamsMixed", R"(routers:
  - {id: r1, ports: [{name: east}]}
  - {id: r2, ports: [{name: west}]}
links:
  - {name: l, ends: [r1.east, r2.west], link: {a_to_b: {rate: 1gbit}, delay: 1ms}}
)",
     "t.yaml:5:71: links[0].link.delay: unknown key"},
    {"BadValueInADirection", R"(routers:
  - {id: r1, ports: [{name: east}]}
  - {id: r2, ports: [{name: west}]}
links:
  - name: l
    ends: [r1.east, r2.west]
    link:
      b_to_a: {loss: {random: 2}}
)",
     "t.yaml:8:31: links[0].link.b_to_a.loss.random: 2 is not within 0..1"},
    {"UnknownTopKeyEvent", "routers: [{id: r1, ports: [{name: p0, device: x}]}]\nevent: []\n",
     "t.yaml:2:1: event: unknown key"},
    {"EventUnknownKey", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0, down: true, when: now}
)",
     "t.yaml:3:39: events[0].when: unknown key"},
    {"EventUnknownRouter", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r9.p0, down: true}
)",
     "t.yaml:3:20: events[0].link: no router r9 (expected router.port or a link name)"},
    {"EventUnknownPort", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p9, down: true}
)",
     "t.yaml:3:20: events[0].link: no port p9 in router r1"},
    {"EventUnknownLink", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1-r2, down: true}
)",
     "t.yaml:3:20: events[0].link: no link named r1-r2 (expected router.port or a link name)"},
    {"EventBadTime", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 5 s, link: r1.p0, down: true}
)",
     "t.yaml:3:10: events[0].at: '5 s' is not a time (e.g. 5s, 1.5s, 250ms)"},
    {"EventTimeNeedsAUnit", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 5, link: r1.p0, down: true}
)",
     "t.yaml:3:10: events[0].at: '5' is not a time (e.g. 5s, 1.5s, 250ms)"},
    {"EventNegativeTime", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: -1s, link: r1.p0, down: true}
)",
     "t.yaml:3:10: events[0].at: '-1s' is not a time (e.g. 5s, 1.5s, 250ms)"},
    {"EventTooLate", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 2600000s, link: r1.p0, down: true}
)",
     "t.yaml:3:10: events[0].at: 2600000s is later than 30 days"},
    {"EventMissingAt", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {link: r1.p0, down: true}
)",
     "t.yaml:3:5: events[0].at: missing required key"},
    {"EventDownAndSet", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0, down: true, set: {rate: 1mbit}}
)",
     "t.yaml:3:44: events[0].set: an event has down: or set:, not both (make two events)"},
    {"EventNeither", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0}
)",
     "t.yaml:3:20: events[0].link: an event needs down: true|false or set: {...}"},
    {"EventDownNotABool", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0, down: yes please}
)",
     "t.yaml:3:33: events[0].down: expected true or false, got 'yes please'"},
    {"EventOnAPortWithoutLink", R"(routers: [{id: r1, ports: [{name: p0, device: x}]}]
events:
  - {at: 1s, link: r1.p0, down: true}
)",
     "t.yaml:3:20: events[0].link: r1.p0 has no link stage to take down: give it link: (link: {} "
     "holds nothing back)"},
    {"EventDownNeedsBothDirections", R"(routers:
  - {id: r1, ports: [{name: east}]}
  - {id: r2, ports: [{name: west}]}
links:
  - {name: l, ends: [r1.east, r2.west], link: {a_to_b: {delay: 1ms}}}
events:
  - {at: 1s, link: r1.east, down: true}
)",
     "t.yaml:7:20: events[0].link: r2.west has no link stage to take down: give it link: (link: "
     "{} holds nothing back)"},
    {"EventSetWithoutLink", R"(routers: [{id: r1, ports: [{name: p0, device: x}]}]
events:
  - {at: 1s, link: r1.p0, set: {rate: 1mbit}}
)",
     "t.yaml:3:20: events[0].link: r1.p0 has no link stage to change: give it link:"},
    {"EventSetUnknownKey", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0, set: {rate: 1mbit, seed: 4}}
)",
     "t.yaml:3:46: events[0].set.seed: unknown key"},
    {"EventSetBadValue", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0, set: {delay: 5 ms}}
)",
     "t.yaml:3:40: events[0].set.delay: '5 ms' is not a duration (e.g. 20ms, 500us, 1.5s)"},
    {"EventSetCheckedOverTheConfiguredLink", R"(routers:
  - {id: r1, ports: [{name: p0, device: x, link: {rate: 1mbit, aqm: codel}}]}
events:
  - {at: 1s, link: r1.p0, set: {rate: 0}}
)",
     "t.yaml:4:39: events[0].set.rate: the link's AQM needs a rate"},
    {"EventSetEmpty", R"(routers: [{id: r1, ports: [{name: p0, device: x, link: {}}]}]
events:
  - {at: 1s, link: r1.p0, set: {}}
)",
     "t.yaml:3:32: events[0].set: set: needs at least one link key (rate, delay, loss, ...)"},
};

class BadLinkConfig : public ::testing::TestWithParam<Bad> {};

TEST_P(BadLinkConfig, FailsWithTheExactMessage) {
  EXPECT_EQ(error_of(GetParam().yaml), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(Table, BadLinkConfig, ::testing::ValuesIn(kBad),
                         [](const ::testing::TestParamInfo<Bad>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace pathlab
