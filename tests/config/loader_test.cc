// The config loader: good configs give the expected structs; each bad config gives one exact
// error message "file:line:column: key: message".
#include "pathlab/config/loader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rte_config.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pathlab/config/error.hpp"

namespace pathlab {
namespace {

std::string data_dir() {
  const char* root = std::getenv("PATHLAB_SOURCE_ROOT");
  return std::string(root != nullptr ? root : ".") + "/tests/config/data";
}

std::string pipelines_dir() { return data_dir() + "/pipelines"; }

// The error message of loading `yaml`, or "" when it loads.
std::string error_of(const std::string& yaml, const std::vector<std::string>& dirs = {}) {
  try {
    load_config_string(yaml, "t.yaml", dirs);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

Ip4Prefix p4(const char* s) { return *parse_ip4_prefix(s); }
Ip6Prefix p6(const char* s) { return *parse_ip6_prefix(s); }

// ---- good configs ------------------------------------------------------------------------------

TEST(LoaderGood, MinimalConfigTakesTheDefaults) {
  Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - {name: p0, device: net_null0}
)",
                                "min.yaml", {});
  EXPECT_EQ(c.file, "min.yaml");
  const ProcessConfig& p = c.process;
  EXPECT_TRUE(p.workers.empty());
  EXPECT_EQ(p.idle, IdlePolicy::Adaptive);
  EXPECT_EQ(p.burst, 32);
  EXPECT_EQ(p.mbufs, 16383u);
  EXPECT_EQ(p.mbuf_cache, 256u);
  EXPECT_EQ(p.rx_desc, 1024);
  EXPECT_EQ(p.tx_desc, 1024);
  EXPECT_EQ(p.icmp_rate, 1000u);
  EXPECT_EQ(p.icmp_burst, 50u);
  EXPECT_EQ(p.nd_retries, 3u);
  EXPECT_EQ(p.nd_retry_ms, 1000u);
  EXPECT_EQ(p.nd_hold_packets, 16u);
  EXPECT_EQ(p.nd_reachable_s, 300u);
  ASSERT_EQ(c.routers.size(), 1u);
  const RouterConfig& r = c.routers[0];
  EXPECT_EQ(r.id, "r1");
  EXPECT_EQ(r.asn, 0u);
  EXPECT_EQ(r.pos.file, "min.yaml");
  EXPECT_EQ(r.pos.line, 2);
  EXPECT_EQ(r.pos.column, 5);
  ASSERT_EQ(r.ports.size(), 1u);
  const PortConfig& port = r.ports[0];
  EXPECT_EQ(port.name, "p0");
  EXPECT_EQ(port.device, "net_null0");
  EXPECT_TRUE(port.link.empty());
  EXPECT_TRUE(port.mac.is_zero());
  EXPECT_TRUE(port.ipv4.empty());
  EXPECT_TRUE(port.ipv6.empty());
  EXPECT_EQ(port.mtu, 1500);
  EXPECT_EQ(port.rx_queues, 1);
  EXPECT_TRUE(port.ingress.empty());
  EXPECT_TRUE(port.egress.empty());
  EXPECT_EQ(port.pos.line, 4);
  EXPECT_EQ(port.pos.column, 9);
  EXPECT_TRUE(r.routes4.empty());
  EXPECT_TRUE(c.links.empty());
}

// Links in every form, backup routes and events (data/links.yaml, also a config fuzz seed).
TEST(LoaderGood, LinksRoutesWithMetricsAndEvents) {
  std::string path = data_dir() + "/links.yaml";
  Config c = load_config(path, default_pipeline_dirs(path));
  ASSERT_EQ(c.routers.size(), 2u);
  const RouterConfig& r1 = c.routers[0];
  const RouterConfig& r2 = c.routers[1];
  for (const PortConfig* p : {&r1.ports[0], &r1.ports[1], &r1.ports[2], &r2.ports[0], &r2.ports[1], &r2.ports[2]}) {
    ASSERT_FALSE(p->egress.empty()) << p->name;
    EXPECT_EQ(p->egress.back().kind, "link") << p->name;
    EXPECT_EQ(p->egress.back().name, "link") << p->name;
  }
  ASSERT_EQ(r1.routes4.size(), 2u);
  EXPECT_EQ(r1.routes4[0].metric, 0u);
  EXPECT_EQ(r1.routes4[1].metric, 10u);
  EXPECT_EQ(r1.routes4[1].port, "south");
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].at, 5'000'000'000u);
  EXPECT_EQ(c.events[0].target, "r1.east");
  EXPECT_EQ(c.events[0].down, std::optional<bool>(true));
  EXPECT_EQ(c.events[1].down, std::optional<bool>(false));
  EXPECT_FALSE(c.events[2].down.has_value());
}

// ipim: on a router puts an ipim stage on every port's egress, before the port's link; a port's
// own ipim: replaces it, and false removes it.
TEST(LoaderGood, IpimOnRoutersAndPorts) {
  Config c = load_config_string(R"(routers:
  - id: r1
    asn: 64500
    ipim: {sample: 0.5, router_id: 10.0.0.1}
    ports:
      - {name: a, device: net_null0, egress: [count], link: {rate: 1gbit}}
      - {name: b, device: net_null1, ipim: false}
      - {name: c, device: net_null2, ipim: {participate: false}}
      - {name: d, device: net_null3, ipim: true}
)",
                                "ipim.yaml", {});
  const auto& ports = c.routers[0].ports;
  auto kinds = [](const PortConfig& p) {
    std::string k;
    for (const StageSpec& s : p.egress) k += (k.empty() ? "" : ",") + s.kind;
    return k;
  };
  EXPECT_EQ(kinds(ports[0]), "count,ipim,link");
  EXPECT_EQ(kinds(ports[1]), "");
  EXPECT_EQ(kinds(ports[2]), "ipim");
  EXPECT_EQ(kinds(ports[3]), "ipim");
  EXPECT_EQ(error_of(R"(routers:
  - id: r1
    ipim: {sample: 3}
    ports: [{name: a, device: net_null0}]
)"),
            "t.yaml:3:20: routers[0].ipim.sample: 3 is not a probability in [0, 1]");
  EXPECT_EQ(error_of(R"(routers:
  - id: r1
    ports: [{name: a, device: net_null0, ipim: [1]}]
)"),
            "t.yaml:3:48: routers[0].ports[0].ipim: expected true, false or a map of ipim stage keys");
}

TEST(LoaderGood, FullTopologyFile) {
  std::string path = data_dir() + "/good.yaml";
  Config c = load_config(path, default_pipeline_dirs(path));
  EXPECT_EQ(c.file, path);

  const ProcessConfig& p = c.process;
  EXPECT_EQ(p.idle, IdlePolicy::Spin);
  EXPECT_EQ(p.burst, 64);
  EXPECT_EQ(p.icmp_rate, 500u);
  EXPECT_EQ(p.icmp_burst, 50u);  // default kept beside a given key
  EXPECT_EQ(p.nd_retries, 5u);
  EXPECT_EQ(p.nd_retry_ms, 1000u);
  ASSERT_EQ(p.workers.size(), 2u);
  EXPECT_EQ(p.workers[0].lcore, 1u);
  EXPECT_EQ(p.workers[0].pos.line, 8);
  EXPECT_EQ(p.workers[0].pos.column, 7);
  ASSERT_EQ(p.workers[0].poll.size(), 3u);
  EXPECT_EQ(p.workers[0].poll[0].router, "r1");
  EXPECT_EQ(p.workers[0].poll[0].port, "p0");
  EXPECT_EQ(p.workers[0].poll[0].queue, 0);
  EXPECT_EQ(p.workers[0].poll[1].queue, 1);
  EXPECT_EQ(p.workers[0].poll[2].port, "east");
  EXPECT_EQ(p.workers[1].lcore, 2u);
  EXPECT_EQ(p.workers[1].poll[1].router, "r2");
  EXPECT_EQ(p.workers[1].poll[1].port, "p0");

  ASSERT_EQ(c.routers.size(), 2u);
  const RouterConfig& r1 = c.routers[0];
  EXPECT_EQ(r1.id, "r1");
  EXPECT_EQ(r1.asn, 65001u);
  ASSERT_EQ(r1.ports.size(), 2u);
  const PortConfig& p0 = r1.ports[0];
  EXPECT_EQ(p0.device, "net_af_packet0,iface=veth0");
  EXPECT_EQ(p0.mac, *parse_mac("02:00:00:00:01:01"));
  ASSERT_EQ(p0.ipv4.size(), 1u);
  EXPECT_EQ(p0.ipv4[0], p4("10.0.1.1/24"));  // an interface address keeps its host bits
  ASSERT_EQ(p0.ipv6.size(), 1u);
  EXPECT_EQ(p0.ipv6[0], p6("fd00:1::1/64"));
  EXPECT_EQ(p0.rx_queues, 2);
  EXPECT_TRUE(p0.link.empty());
  // ingress: [count, {pipeline: nested}] with nested = [{pipeline: basic}, drop], basic = 2 counts
  ASSERT_EQ(p0.ingress.size(), 4u);
  EXPECT_EQ(p0.ingress[0].kind, "count");
  EXPECT_EQ(p0.ingress[0].path, "routers[0].ports[0].ingress[0]");
  EXPECT_EQ(p0.ingress[0].pos.file, path);
  EXPECT_EQ(p0.ingress[0].pos.line, 22);
  EXPECT_EQ(p0.ingress[0].pos.column, 19);
  EXPECT_EQ(p0.ingress[1].kind, "count");
  EXPECT_EQ(p0.ingress[1].path, "pipeline basic.stages[0]");
  EXPECT_EQ(p0.ingress[1].pos.file, pipelines_dir() + "/basic.yaml");
  EXPECT_EQ(p0.ingress[1].pos.line, 4);
  EXPECT_EQ(p0.ingress[2].path, "pipeline basic.stages[1]");
  EXPECT_EQ(p0.ingress[2].pos.line, 5);
  EXPECT_EQ(p0.ingress[3].kind, "drop");
  EXPECT_EQ(p0.ingress[3].path, "pipeline nested.stages[1]");
  EXPECT_EQ(p0.ingress[3].pos.file, pipelines_dir() + "/nested.yaml");

  const PortConfig& east = r1.ports[1];
  EXPECT_EQ(east.name, "east");
  EXPECT_TRUE(east.device.empty());
  EXPECT_EQ(east.link, "r1-r2");
  ASSERT_EQ(east.ipv4.size(), 1u);  // a single scalar is a one-element list
  EXPECT_EQ(east.ipv4[0], p4("10.0.12.1/30"));
  EXPECT_EQ(east.mtu, 9000);
  ASSERT_EQ(east.egress.size(), 1u);
  EXPECT_EQ(east.egress[0].kind, "count");
  EXPECT_EQ(east.egress[0].path, "routers[0].ports[1].egress[0]");
  EXPECT_EQ(east.egress[0].name, "count");
  EXPECT_TRUE(static_cast<bool>(east.egress[0].build));  // parsed once, at load

  ASSERT_EQ(r1.routes4.size(), 3u);
  EXPECT_EQ(r1.routes4[0].prefix, p4("10.0.3.0/24"));
  EXPECT_EQ(r1.routes4[0].via, parse_ip4("10.0.12.2"));
  EXPECT_EQ(r1.routes4[0].port, "east");  // resolved from the via's connected subnet
  EXPECT_EQ(r1.routes4[0].pos.line, 29);
  EXPECT_EQ(r1.routes4[0].pos.column, 9);
  EXPECT_EQ(r1.routes4[1].prefix, p4("10.0.9.0/24"));
  EXPECT_FALSE(r1.routes4[1].via.has_value());
  EXPECT_EQ(r1.routes4[1].port, "p0");
  EXPECT_EQ(r1.routes4[2].prefix, p4("0.0.0.0/0"));
  EXPECT_EQ(r1.routes4[2].port, "p0");
  ASSERT_EQ(r1.routes6.size(), 2u);
  EXPECT_EQ(r1.routes6[0].prefix, p6("fd00:3::/64"));
  EXPECT_EQ(r1.routes6[0].via, parse_ip6("fd00:12::2"));
  EXPECT_EQ(r1.routes6[0].port, "east");
  EXPECT_EQ(r1.routes6[1].prefix, p6("::/0"));
  EXPECT_EQ(r1.routes6[1].via, parse_ip6("fe80::2"));
  EXPECT_EQ(r1.routes6[1].port, "east");
  ASSERT_EQ(r1.neighbours4.size(), 1u);
  EXPECT_EQ(r1.neighbours4[0].port, "p0");
  EXPECT_EQ(r1.neighbours4[0].ip, *parse_ip4("10.0.1.2"));
  EXPECT_EQ(r1.neighbours4[0].mac, *parse_mac("02:00:00:00:00:02"));
  ASSERT_EQ(r1.neighbours6.size(), 1u);
  EXPECT_EQ(r1.neighbours6[0].ip, *parse_ip6("fd00:1::2"));

  const RouterConfig& r2 = c.routers[1];
  EXPECT_EQ(r2.ports[0].link, "r1-r2");
  EXPECT_EQ(r2.ports[1].ingress.size(), 2u);
  ASSERT_EQ(r2.routes4.size(), 1u);
  EXPECT_EQ(r2.routes4[0].port, "west");

  ASSERT_EQ(c.links.size(), 1u);
  const LinkConfig& l = c.links[0];
  EXPECT_EQ(l.name, "r1-r2");
  EXPECT_EQ(l.a_router, "r1");
  EXPECT_EQ(l.a_port, "east");
  EXPECT_EQ(l.b_router, "r2");
  EXPECT_EQ(l.b_port, "west");
  EXPECT_EQ(l.ring_size, 2048u);
  EXPECT_EQ(l.pos.line, 49);
  EXPECT_EQ(l.pos.column, 5);
}

TEST(LoaderGood, StageParamsKeepTheirPositions) {
  Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - name: p0
        device: net_null0
        ingress:
          - stage: count
)",
                                "t.yaml", {});
  const StageSpec& s = c.routers[0].ports[0].ingress[0];
  EXPECT_EQ(s.kind, "count");
  EXPECT_EQ(s.pos.line, 7);
  EXPECT_EQ(s.pos.column, 13);
  EXPECT_EQ(s.name, "count");
  EXPECT_TRUE(static_cast<bool>(s.build));
}

TEST(LoaderGood, StageNamesAreKindsWithAnIndexOnlyWhenRepeated) {
  Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - name: p0
        device: net_null0
        ingress:
          - stage: count
          - {stage: ecn, ip: bleach}
          - stage: count
          - {stage: count, name: tail}
)",
                                "t.yaml", {});
  const auto& in = c.routers[0].ports[0].ingress;
  ASSERT_EQ(in.size(), 4u);
  EXPECT_EQ(in[0].name, "count_0");
  EXPECT_EQ(in[1].name, "ecn");
  EXPECT_EQ(in[2].name, "count_1");
  EXPECT_EQ(in[3].name, "tail");
}

TEST(LoaderBad, StageNamesAreUniqueInAChain) {
  EXPECT_EQ(error_of(R"(routers:
  - id: r1
    ports:
      - name: p0
        device: net_null0
        ingress:
          - {stage: count, name: c}
          - {stage: drop, name: c}
)"),
            "t.yaml:8:13: routers[0].ports[0].ingress[1]: stage name 'c' is already used in this "
            "chain at routers[0].ports[0].ingress[0]");
}

TEST(LoaderGood, YamlAliasesShareAStageList) {
  Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - {name: p0, device: a, ingress: &chain [{stage: count}, drop]}
      - {name: p1, device: b, ingress: *chain}
)",
                                "t.yaml", {});
  const auto& p1 = c.routers[0].ports[1].ingress;
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_EQ(p1[0].kind, "count");
  EXPECT_EQ(p1[0].path, "routers[0].ports[1].ingress[0]");
  EXPECT_EQ(p1[1].kind, "drop");
}

TEST(LoaderGood, RouteViaTakesTheLongestConnectedSubnet) {
  Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - {name: wide, device: net_null0, ipv4: [10.0.0.1/16]}
      - {name: narrow, device: net_null1, ipv4: [10.0.5.1/24]}
    routes:
      - {prefix: 192.0.2.0/24, via: 10.0.5.9}
      - {prefix: 198.51.100.0/24, via: 10.0.6.9}
)",
                                "t.yaml", {});
  EXPECT_EQ(c.routers[0].routes4[0].port, "narrow");
  EXPECT_EQ(c.routers[0].routes4[1].port, "wide");
}

TEST(LoaderGood, DefaultPipelineDirs) {
  EXPECT_EQ(default_pipeline_dirs("topologies/lab.yaml"),
            (std::vector<std::string>{"topologies/pipelines", "pipelines"}));
  EXPECT_EQ(default_pipeline_dirs("lab.yaml"),
            (std::vector<std::string>{"pipelines", "../pipelines"}));
  EXPECT_EQ(default_pipeline_dirs("/etc/pathlab/lab.yaml"),
            (std::vector<std::string>{"/etc/pathlab/pipelines", "/etc/pipelines"}));
}

TEST(LoaderGood, EmptyWorkersMeanNoneGiven) {
  // No `workers` key: the app places a default worker; nothing needs to be polled here.
  Config c = load_config_string("routers: [{id: r1, ports: [{name: p0, device: x, queues: 4}]}]",
                                "t.yaml", {});
  EXPECT_TRUE(c.process.workers.empty());
  EXPECT_EQ(c.routers[0].ports[0].rx_queues, 4);
}

// ---- pipelines ---------------------------------------------------------------------------------

std::string with_ingress(const std::string& list) {
  return "routers:\n  - id: r1\n    ports:\n      - name: p0\n        device: net_null0\n"
         "        ingress: " +
         list + "\n";
}

TEST(Pipelines, NestedPipelinesExpandInOrder) {
  Config c = load_config_string(with_ingress("[drop, {pipeline: outer}, count]"), "t.yaml",
                                {pipelines_dir()});
  const auto& in = c.routers[0].ports[0].ingress;
  std::vector<std::string> kinds, paths;
  for (const auto& s : in) {
    kinds.push_back(s.kind);
    paths.push_back(s.path);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"drop", "count", "count", "count", "drop", "count"}));
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "routers[0].ports[0].ingress[0]", "pipeline outer.stages[0]",
                       "pipeline basic.stages[0]", "pipeline basic.stages[1]",
                       "pipeline nested.stages[1]", "routers[0].ports[0].ingress[2]"}));
}

TEST(Pipelines, SamePipelineOnTwoPorts) {
  Config c = load_config_string(R"(routers:
  - id: r1
    ports:
      - {name: p0, device: a, ingress: [{pipeline: basic}], egress: [{pipeline: basic}]}
      - {name: p1, device: b, ingress: [{pipeline: nested}]}
)",
                                "t.yaml", {pipelines_dir()});
  const auto& ports = c.routers[0].ports;
  EXPECT_EQ(ports[0].ingress.size(), 2u);
  EXPECT_EQ(ports[0].egress.size(), 2u);
  ASSERT_EQ(ports[1].ingress.size(), 3u);
  EXPECT_EQ(ports[1].ingress[1].kind, "count");
  EXPECT_EQ(ports[1].ingress[1].path, "pipeline basic.stages[1]");
}

TEST(Pipelines, DirsAreSearchedInOrder) {
  std::string yaml = with_ingress("[{pipeline: basic}]");
  Config a = load_config_string(yaml, "t.yaml", {data_dir() + "/override", pipelines_dir()});
  ASSERT_EQ(a.routers[0].ports[0].ingress.size(), 1u);
  EXPECT_EQ(a.routers[0].ports[0].ingress[0].kind, "drop");
  EXPECT_EQ(a.routers[0].ports[0].ingress[0].pos.file, data_dir() + "/override/basic.yaml");
  Config b = load_config_string(yaml, "t.yaml", {pipelines_dir(), data_dir() + "/override"});
  EXPECT_EQ(b.routers[0].ports[0].ingress.size(), 2u);
}

TEST(Pipelines, CycleIsDetected) {
  EXPECT_EQ(error_of(with_ingress("[{pipeline: cycle_a}]"), {pipelines_dir()}),
            pipelines_dir() +
                "/cycle_b.yaml:3:15: pipeline cycle_b.stages[0].pipeline: pipeline cycle: "
                "cycle_a -> cycle_b -> cycle_a");
  EXPECT_EQ(error_of(with_ingress("[{pipeline: selfref}]"), {pipelines_dir()}),
            pipelines_dir() +
                "/selfref.yaml:2:21: pipeline selfref.stages[0].pipeline: pipeline cycle: "
                "selfref -> selfref");
}

TEST(Pipelines, ErrorsNameThePipelineFile) {
  const std::string d = pipelines_dir();
  EXPECT_EQ(error_of(with_ingress("[{pipeline: misnamed}]"), {d}),
            d + "/misnamed.yaml:1:7: pipeline misnamed.name: pipeline name 'other' does not "
                "match its file name misnamed.yaml");
  EXPECT_EQ(error_of(with_ingress("[{pipeline: badparam}]"), {d}),
            d + "/badparam.yaml:5:5: pipeline badparam.stages[1].colour: unknown key");
  // Through another pipeline, the error still names the innermost file.
  EXPECT_EQ(error_of(with_ingress("[{pipeline: usesbad}]"), {d}),
            d + "/badparam.yaml:5:5: pipeline badparam.stages[1].colour: unknown key");
  EXPECT_EQ(error_of(with_ingress("[{pipeline: badkey}]"), {d}),
            d + "/badkey.yaml:2:1: pipeline badkey.descripton: unknown key");
  EXPECT_EQ(error_of(with_ingress("[{pipeline: badsyntax}]"), {d}),
            d + "/badsyntax.yaml:3:1: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(
      error_of(with_ingress("[{pipeline: badstage}]"), {d})
          .rfind(d + "/badstage.yaml:4:5: pipeline badstage.stages[1]: unknown stage 'nosuch'", 0),
      0u);
}

TEST(Pipelines, NotFound) {
  const std::string d = pipelines_dir();
  EXPECT_EQ(error_of(with_ingress("[{pipeline: nope}]"), {d, "/nonexistent"}),
            "t.yaml:6:30: routers[0].ports[0].ingress[0].pipeline: pipeline nope not found: no "
            "nope.yaml in [" +
                d + ", /nonexistent]");
  EXPECT_EQ(error_of(with_ingress("[{pipeline: ../pipelines/basic}]"), {d}),
            "t.yaml:6:30: routers[0].ports[0].ingress[0].pipeline: invalid pipeline name "
            "'../pipelines/basic'");
}

// ---- other errors -------------------------------------------------------------------------------

TEST(LoaderErrors, MissingFile) {
  try {
    load_config("/nonexistent/lab.yaml", {});
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/lab.yaml: cannot open: No such file or directory");
  }
}

TEST(LoaderErrors, UnknownStageNamesTheEntry) {
  std::string err = error_of(with_ingress("[count, nosuch]"));
  EXPECT_EQ(err.rfind("t.yaml:6:26: routers[0].ports[0].ingress[1]: unknown stage 'nosuch'", 0), 0u)
      << err;
}

TEST(LoaderErrors, ErrorCarriesItsParts) {
  try {
    load_config_string("routers: [{id: r1, ports: [{name: p0, device: x, mtu: 10}]}]", "f.yaml",
                       {});
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pos().file, "f.yaml");
    EXPECT_EQ(e.pos().line, 1);
    EXPECT_EQ(e.pos().column, 55);
    EXPECT_EQ(e.key(), "routers[0].ports[0].mtu");
    EXPECT_EQ(e.message(), "10 is out of range 68..9216");
  }
}

// ---- reading files: kinds, size, documents, bytes -----------------------------------------------

// A temporary directory, removed with what it holds.
class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "pathlab-config-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A sparse file of `size` bytes.
void sparse_file(const std::string& path, off_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, size), 0);
  ::close(fd);
}

std::string file_error_of(const std::string& path, const std::vector<std::string>& dirs = {}) {
  try {
    load_config(path, dirs);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* const kOneRouter = "routers: [{id: r1, ports: [{name: p0, device: net_null0}]}]\n";

TEST(ConfigFiles, DirectoryIsRefusedByName) {
  TempDir d;
  EXPECT_EQ(file_error_of(d.path()), d.path() + ": is a directory, not a regular file");
}

TEST(ConfigFiles, DevZeroIsRefusedBeforeReading) {
  EXPECT_EQ(file_error_of("/dev/zero"), "/dev/zero: is a character device, not a regular file");
  TempDir d;  // through a symlink: the name given is the name reported
  ASSERT_EQ(::symlink("/dev/zero", (d / "z.yaml").c_str()), 0);
  EXPECT_EQ(file_error_of(d / "z.yaml"), d / "z.yaml: is a character device, not a regular file");
}

TEST(ConfigFiles, FifoAndSocketAreRefusedWithoutOpening) {
  TempDir d;
  // A FIFO with no writer would block an open or a read.
  ASSERT_EQ(::mkfifo((d / "f.yaml").c_str(), 0600), 0);
  EXPECT_EQ(file_error_of(d / "f.yaml"), d / "f.yaml: is a FIFO, not a regular file");
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string sp = d / "s.yaml";
  ASSERT_LT(sp.size(), sizeof a.sun_path);
  std::memcpy(a.sun_path, sp.c_str(), sp.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(file_error_of(sp), sp + ": is a socket, not a regular file");
  ::close(s);
}

TEST(ConfigFiles, SizeIsCappedAt16MiB) {
  TempDir d;
  // One byte over: refused by its size, before reading.
  sparse_file(d / "big.yaml", kMaxConfigBytes + 1);
  EXPECT_EQ(file_error_of(d / "big.yaml"),
            d / "big.yaml: is 16777217 bytes, which is over the 16 MiB limit for a config file");
  EXPECT_EQ(error_of(std::string(kMaxConfigBytes + 1, ' ')),
            "t.yaml: is 16777217 bytes, which is over the 16 MiB limit for a config file");
  // Exactly at the limit: loads.
  std::string text = std::string(kOneRouter) + "#";
  text.resize(kMaxConfigBytes - 1, 'x');
  write_file(d / "full.yaml", text + "\n");
  EXPECT_EQ(file_error_of(d / "full.yaml"), "");
}

TEST(ConfigFiles, PipelineFilesGetTheSameChecks) {
  TempDir d;
  const std::string pd = d / "pipelines";
  ASSERT_EQ(::mkdir(pd.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((pd + "/dir.yaml").c_str(), 0700), 0);
  ASSERT_EQ(::mkfifo((pd + "/fifo.yaml").c_str(), 0600), 0);
  ASSERT_EQ(::symlink("/dev/zero", (pd + "/zero.yaml").c_str()), 0);
  sparse_file(pd + "/big.yaml", kMaxConfigBytes + 1);
  write_file(pd + "/twodocs.yaml", "name: twodocs\nstages: [count]\n---\nname: other\n");
  const std::pair<const char*, std::string> cases[] = {
      {"dir", "is a directory, not a regular file"},
      {"fifo", "is a FIFO, not a regular file"},
      {"zero", "is a character device, not a regular file"},
      {"big", "is 16777217 bytes, which is over the 16 MiB limit for a config file"},
  };
  for (const auto& [name, message] : cases) {
    write_file(d / "lab.yaml", with_ingress(std::string("[{pipeline: ") + name + "}]"));
    EXPECT_EQ(file_error_of(d / "lab.yaml", {pd}), pd + "/" + name + ".yaml: " + message);
  }
  write_file(d / "lab.yaml", with_ingress("[{pipeline: twodocs}]"));
  EXPECT_EQ(file_error_of(d / "lab.yaml", {pd}),
            pd + "/twodocs.yaml:4:1: a second YAML document: a config file holds one");
}

TEST(ConfigFiles, OneDocumentWithOrWithoutMarkers) {
  const std::string one = kOneRouter;
  EXPECT_EQ(error_of("---\n" + one), "");
  EXPECT_EQ(error_of(one + "...\n"), "");
  EXPECT_EQ(error_of(one + "---\n"), "");  // an empty second document holds nothing
  EXPECT_EQ(error_of(one + "---\n# a comment\n"), "");
}

TEST(ConfigFiles, NulByteIsReportedWhereItIs) {
  using namespace std::string_literals;
  EXPECT_EQ(error_of("routers:\n  - id: r\0x\n"s),
            "t.yaml:2:10: NUL byte: a config file is UTF-8 text");
  EXPECT_EQ(error_of(std::string(64, '\0')), "t.yaml:1:1: NUL byte: a config file is UTF-8 text");
}

// Each documented integer range (docs/config.md) is the one an out-of-range value reports, also
// for values beyond the field's type.
TEST(DocumentedRanges, MessagesGiveTheDocumentedRange) {
  struct Range {
    const char* key;
    std::string yaml;  // V is the value
    long long lo, hi;
  };
  const std::string ports = "routers: [{id: r1, ports: [{name: p0, device: x}]}]\n";
  const std::string linked = "routers: [{id: r1, ports: [{name: a}, {name: b}]}]\n";
  const Range ranges[] = {
      {"process.burst", "process: {burst: V}\n" + ports, 1, 256},
      {"process.mbufs", "process: {mbufs: V}\n" + ports, 256, 16777216},
      {"process.mbuf_cache", "process: {mbuf_cache: V}\n" + ports, 0, 512},
      {"process.rx_desc", "process: {rx_desc: V}\n" + ports, 64, 16384},
      {"process.tx_desc", "process: {tx_desc: V}\n" + ports, 64, 16384},
      {"process.icmp_rate_limit.rate", "process: {icmp_rate_limit: {rate: V}}\n" + ports, 1,
       10000000},
      {"process.icmp_rate_limit.burst", "process: {icmp_rate_limit: {burst: V}}\n" + ports, 1,
       1000000},
      {"process.neighbours.retries", "process: {neighbours: {retries: V}}\n" + ports, 1, 100},
      {"process.neighbours.retry_ms", "process: {neighbours: {retry_ms: V}}\n" + ports, 10, 60000},
      {"process.neighbours.hold_packets", "process: {neighbours: {hold_packets: V}}\n" + ports, 0,
       4096},
      {"process.neighbours.reachable_s", "process: {neighbours: {reachable_s: V}}\n" + ports, 1,
       86400},
      {"process.neighbours.max_entries", "process: {neighbours: {max_entries: V}}\n" + ports, 1,
       1048576},
      {"process.neighbours.probe_rate", "process: {neighbours: {probe_rate: V}}\n" + ports, 1,
       1000000},
      {"process.neighbours.probe_burst", "process: {neighbours: {probe_burst: V}}\n" + ports, 1,
       100000},
      {"process.workers[0].lcore", "process: {workers: [{lcore: V, poll: r1.p0}]}\n" + ports, 0,
       RTE_MAX_LCORE - 1},
      {"routers[0].asn", "routers: [{id: r1, asn: V, ports: [{name: p0, device: x}]}]\n", 0,
       4294967295},
      {"routers[0].ports[0].mtu", "routers: [{id: r1, ports: [{name: p0, device: x, mtu: V}]}]\n",
       68, 9216},
      {"routers[0].ports[0].queues",
       "routers: [{id: r1, ports: [{name: p0, device: x, queues: V}]}]\n", 1, 64},
      {"links[0].ring_size", linked + "links: [{name: l, ends: [r1.a, r1.b], ring_size: V}]\n", 64,
       65536},
  };
  const char* const values[] = {"70000", "-1", "4294967296", "99999999999999999999",
                                "0x1000000000"};
  for (const auto& r : ranges) {
    for (const char* v : values) {
      const long long n = std::strtoll(v, nullptr, 0);
      if (std::string_view(v).size() < 19 && n >= r.lo && n <= r.hi) continue;
      std::string yaml = r.yaml;
      yaml.replace(yaml.find('V'), 1, v);
      const std::string want = fmt::format("{}: {} is out of range {}..{}", r.key, v, r.lo, r.hi);
      const std::string err = error_of(yaml);
      EXPECT_TRUE(err.size() >= want.size() && err.ends_with(want)) << err << "\nwant: " << want;
    }
  }
}

// ---- the table of bad configurations
// -------------------------------------------------------------

struct BadCase {
  const char* name;
  const char* yaml;
  const char* error;
};

// Each case is a whole file named t.yaml; the first line of the raw string is line 1.
const BadCase kBad[] = {
    {"SyntaxError", R"(routers:
  - id: r1
    ports: [{name: p0, device: x}
)",
     "t.yaml:4:1: YAML syntax error: end of sequence flow not found"},
    {"SyntaxBadIndent", "routers:\n  - id: r1\n   ports: []\n",
     "t.yaml:3:4: YAML syntax error: end of sequence not found"},
    {"TopNotAMap", "- a\n- b\n", "t.yaml:1:1: expected a map, got a list"},
    {"EmptyFile", "", "t.yaml:1:1: routers: missing required key"},
    {"UnknownTopKey", "router:\n  - id: r1\n", "t.yaml:1:1: router: unknown key"},
    {"NoRouters", "routers: []\n", "t.yaml:1:10: routers: at least one router is required"},
    {"DuplicateKey", R"(routers:
  - id: r1
    id: r2
    ports: [{name: p0, device: x}]
)",
     "t.yaml:3:5: routers[0].id: duplicate key"},
    {"UnknownPortKey", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x}
      - {name: p1, device: y, mtux: 1500}
)",
     "t.yaml:5:31: routers[0].ports[1].mtux: unknown key"},
    {"UnknownNestedProcessKey", R"(process:
  neighbours: {retries: 3, retry: 100}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:2:28: process.neighbours.retry: unknown key"},
    {"BadIdle", R"(process: {idle: busy}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:1:17: process.idle: expected adaptive or spin, got 'busy'"},
    {"BurstOutOfRange", R"(process:
  burst: 512
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:2:10: process.burst: 512 is out of range 1..256"},
    {"BurstNotANumber", R"(process:
  burst: lots
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:2:10: process.burst: expected an integer, got 'lots'"},
    {"MbufCacheTooBig", R"(process:
  mbufs: 300
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:2:10: process.mbufs: mbuf_cache 256 is too large for 300 mbufs (at most mbufs / "
     "1.5)"},
    {"IcmpRateZero", R"(process:
  icmp_rate_limit: {rate: 0, burst: 5}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:2:27: process.icmp_rate_limit.rate: 0 is out of range 1..10000000"},
    {"AsnTooBig", R"(routers:
  - id: r1
    asn: 4294967296
    ports: [{name: p0, device: x}]
)",
     "t.yaml:3:10: routers[0].asn: 4294967296 is out of range 0..4294967295"},
    {"BadRouterId", R"(routers:
  - id: "r 1"
    ports: [{name: p0, device: x}]
)",
     "t.yaml:2:9: routers[0].id: invalid name 'r 1': use letters, digits, '_' and '-'"},
    {"DuplicateRouterId", R"(routers:
  - id: r1
    ports: [{name: p0, device: x}]
  - id: r1
    ports: [{name: p0, device: y}]
)",
     "t.yaml:4:9: routers[1].id: duplicate router id r1"},
    {"MissingPorts", R"(routers:
  - id: r1
)",
     "t.yaml:2:5: routers[0].ports: missing required key"},
    {"PortsNotAList", R"(routers:
  - id: r1
    ports: 5
)",
     "t.yaml:3:12: routers[0].ports: expected a list, got a scalar"},
    {"DuplicatePortName", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x}
      - {name: p0, device: y}
)",
     "t.yaml:5:16: routers[0].ports[1].name: duplicate port name p0"},
    {"MtuTooSmall", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        mtu: 50
)",
     "t.yaml:6:14: routers[0].ports[0].mtu: 50 is out of range 68..9216"},
    {"MtuBeyondItsType", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        mtu: 70000
)",
     "t.yaml:6:14: routers[0].ports[0].mtu: 70000 is out of range 68..9216"},
    {"MtuMissingValue", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        mtu:
)",
     "t.yaml:6:9: routers[0].ports[0].mtu: missing value"},
    {"Ipv6NeedsMtu1280", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        ipv6: ["fd00::1/64"]
        mtu: 1200
)",
     "t.yaml:7:14: routers[0].ports[0].mtu: mtu 1200 is below 1280, the minimum for a port with "
     "IPv6"},
    {"TooManyQueues", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, queues: 65}
)",
     "t.yaml:4:39: routers[0].ports[0].queues: 65 is out of range 1..64"},
    {"BadIpv4Address", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24, 10.0.1.300/24]}
)",
     "t.yaml:4:51: routers[0].ports[0].ipv4[1]: invalid IPv4 prefix '10.0.1.300/24' (expected "
     "a.b.c.d/len)"},
    {"Ipv4WithoutLength", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: 10.0.1.1}
)",
     "t.yaml:4:37: routers[0].ports[0].ipv4: invalid IPv4 prefix '10.0.1.1' (expected "
     "a.b.c.d/len)"},
    {"MulticastInterfaceAddress", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [224.0.0.1/24]}
)",
     "t.yaml:4:38: routers[0].ports[0].ipv4[0]: 224.0.0.1/24 is not a unicast address"},
    {"SameAddressOnTwoPorts", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
      - {name: p1, device: y, ipv4: [10.0.1.1/30]}
)",
     "t.yaml:5:38: routers[0].ports[1].ipv4[0]: address 10.0.1.1 is already on port p0"},
    {"BadMac", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, mac: "02:00:00:00:01"}
)",
     "t.yaml:4:36: routers[0].ports[0].mac: invalid MAC address '02:00:00:00:01'"},
    {"MulticastMac", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, mac: "01:00:5e:00:00:01"}
)",
     "t.yaml:4:36: routers[0].ports[0].mac: 01:00:5e:00:00:01 is a multicast MAC address"},
    {"DuplicateDevice", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: "net_af_packet0,iface=veth0"}
  - id: r2
    ports:
      - {name: p0, device: "net_af_packet0,iface=veth1"}
)",
     "t.yaml:7:28: routers[1].ports[0].device: device net_af_packet0 is already used by port "
     "r1.p0"},
    {"RouteHostBits", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.1/24, via: 10.0.1.2}
)",
     "t.yaml:6:18: routers[0].routes[0].prefix: host bits set in prefix 10.0.3.1/24"},
    {"RouteBadPrefix", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.0/33, via: 10.0.1.2}
)",
     "t.yaml:6:18: routers[0].routes[0].prefix: invalid IPv4 prefix '10.0.3.0/33' (expected "
     "a.b.c.d/len)"},
    {"RouteViaNotConnected", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.0/24, via: 10.9.9.9}
)",
     "t.yaml:6:36: routers[0].routes[0].via: next hop 10.9.9.9 is not in any connected subnet "
     "of router r1"},
    {"RouteViaFamily", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24], ipv6: ["fd00:1::1/64"]}
    routes:
      - {prefix: 10.0.3.0/24, via: "fd00:1::2"}
)",
     "t.yaml:6:36: routers[0].routes[0].via: next hop fd00:1::2 is IPv6 but the prefix is IPv4"},
    {"RouteNeitherViaNorPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.0/24}
)",
     "t.yaml:6:18: routers[0].routes[0].prefix: a route needs a via, a port, or both"},
    {"RouteUnknownPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.0/24, port: p9}
)",
     "t.yaml:6:37: routers[0].routes[0].port: no port p9 in router r1"},
    {"RouteViaNotOnGivenPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
      - {name: p1, device: y, ipv4: [10.0.2.1/24]}
    routes:
      - {prefix: 10.0.3.0/24, via: 10.0.2.2, port: p0}
)",
     "t.yaml:7:36: routers[0].routes[0].via: next hop 10.0.2.2 is not in a connected subnet of "
     "port p0"},
    {"RouteViaIsOwnAddress", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.0/24, via: 10.0.1.1}
)",
     "t.yaml:6:36: routers[0].routes[0].via: next hop 10.0.1.1 is an address of router r1 (port "
     "p0)"},
    {"RouteLinkLocalNeedsPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv6: ["fd00:1::1/64"]}
    routes:
      - {prefix: "fd00:3::/64", via: "fe80::1"}
)",
     "t.yaml:6:38: routers[0].routes[0].via: link-local next hop fe80::1 needs a port"},
    {"DuplicateRoutePrefix", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv6: ["fd00:1::1/64"]}
    routes:
      - {prefix: "fd00:3::/64", via: "fd00:1::2"}
      - {prefix: "fd00:3:0::/64", port: p0}
)",
     "t.yaml:7:18: routers[0].routes[1].prefix: duplicate route prefix fd00:3:0::/64"},
    {"DuplicateRouteMetric", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
      - {name: p1, device: y, ipv4: [10.0.2.1/24]}
    routes:
      - {prefix: 10.0.3.0/24, via: 10.0.1.2, metric: 10}
      - {prefix: 10.0.3.0/24, via: 10.0.2.2}
      - {prefix: 10.0.3.0/24, via: 10.0.2.3, metric: 10}
)",
     "t.yaml:9:18: routers[0].routes[2].prefix: duplicate route prefix 10.0.3.0/24 with metric 10"},
    {"RouteMetricNegative", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefix: 10.0.3.0/24, via: 10.0.1.2, metric: -1}
)",
     "t.yaml:6:54: routers[0].routes[0].metric: -1 is out of range 0..4294967295"},
    {"UnknownRouteKey", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    routes:
      - {prefx: 10.0.3.0/24, via: 10.0.1.2}
)",
     "t.yaml:6:10: routers[0].routes[0].prefx: unknown key"},
    {"NeighbourUnknownPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    neighbours:
      - {port: p1, ip: 10.0.1.2, mac: "02:00:00:00:00:02"}
)",
     "t.yaml:6:16: routers[0].neighbours[0].port: no port p1 in router r1"},
    {"NeighbourFamilyNotOnPort", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    neighbours:
      - {port: p0, ip: "fd00:1::2", mac: "02:00:00:00:00:02"}
)",
     "t.yaml:6:24: routers[0].neighbours[0].ip: neighbour fd00:1::2 is IPv6 but port p0 has no "
     "IPv6 address"},
    {"NeighbourDuplicate", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ipv4: [10.0.1.1/24]}
    neighbours:
      - {port: p0, ip: 10.0.1.2, mac: "02:00:00:00:00:02"}
      - {port: p0, ip: 10.0.1.2, mac: "02:00:00:00:00:03"}
)",
     "t.yaml:7:24: routers[0].neighbours[1].ip: duplicate neighbour 10.0.1.2 on port p0"},
    {"LinkPortWithoutLink", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x}
      - {name: east, ipv4: [10.0.12.1/30]}
)",
     "t.yaml:5:9: routers[0].ports[1]: port r1.east has no device and is in no link"},
    {"LinkUnknownRouter", R"(routers:
  - id: r1
    ports: [{name: east}]
links:
  - {name: l1, ends: [r1.east, r9.west]}
)",
     "t.yaml:5:32: links[0].ends[1]: no router r9"},
    {"LinkUnknownPort", R"(routers:
  - id: r1
    ports: [{name: east}, {name: west}]
links:
  - {name: l1, ends: [r1.east, r1.wst]}
)",
     "t.yaml:5:32: links[0].ends[1]: no port wst in router r1"},
    {"LinkBadEnd", R"(routers:
  - id: r1
    ports: [{name: east}]
links:
  - {name: l1, ends: [r1.east, r1]}
)",
     "t.yaml:5:32: links[0].ends[1]: invalid link end 'r1': expected router.port"},
    {"LinkThreeEnds", R"(routers:
  - id: r1
    ports: [{name: a}, {name: b}]
links:
  - {name: l1, ends: [r1.a, r1.b, r1.a]}
)",
     "t.yaml:5:22: links[0].ends: expected a list of two ports: [router.port, router.port]"},
    {"LinkToDevicePort", R"(routers:
  - id: r1
    ports: [{name: p0, device: x}, {name: east}]
links:
  - {name: l1, ends: [r1.east, r1.p0]}
)",
     "t.yaml:5:32: links[0].ends[1]: port r1.p0 has a device and cannot be a link end"},
    {"LinkToItself", R"(routers:
  - id: r1
    ports: [{name: east}]
links:
  - {name: l1, ends: [r1.east, r1.east]}
)",
     "t.yaml:5:32: links[0].ends[1]: a link cannot join port r1.east to itself"},
    {"PortInTwoLinks", R"(routers:
  - id: r1
    ports: [{name: a}, {name: b}, {name: c}]
links:
  - {name: l1, ends: [r1.a, r1.b]}
  - {name: l2, ends: [r1.c, r1.a]}
)",
     "t.yaml:6:29: links[1].ends[1]: port r1.a is already in link l1"},
    {"DuplicateLinkName", R"(routers:
  - id: r1
    ports: [{name: a}, {name: b}, {name: c}, {name: d}]
links:
  - {name: l1, ends: [r1.a, r1.b]}
  - {name: l1, ends: [r1.c, r1.d]}
)",
     "t.yaml:6:12: links[1].name: duplicate link name l1"},
    {"RingNotPowerOfTwo", R"(routers:
  - id: r1
    ports: [{name: a}, {name: b}]
links:
  - {name: l1, ends: [r1.a, r1.b], ring_size: 1000}
)",
     "t.yaml:5:47: links[0].ring_size: ring_size 1000 is not a power of two"},
    {"LinkPortQueues", R"(routers:
  - id: r1
    ports: [{name: a, queues: 2}, {name: b}]
links:
  - {name: l1, ends: [r1.a, r1.b]}
)",
     "t.yaml:3:31: routers[0].ports[0].queues: a link port (no device) has exactly 1 queue"},
    {"WorkerDuplicateLcore", R"(process:
  workers:
    - {lcore: 1, poll: [r1.p0]}
    - {lcore: 1, poll: ["r1.p0:1"]}
routers: [{id: r1, ports: [{name: p0, device: x, queues: 2}]}]
)",
     "t.yaml:4:15: process.workers[1].lcore: lcore 1 is already used by process.workers[0]"},
    {"WorkerBadPollEntry", R"(process:
  workers:
    - {lcore: 1, poll: ["r1.p0:x"]}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:25: process.workers[0].poll[0]: invalid poll entry 'r1.p0:x': expected "
     "router.port[:queue]"},
    {"WorkerUnknownPort", R"(process:
  workers:
    - {lcore: 1, poll: [r1.p0, r1.p7]}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:32: process.workers[0].poll[1]: no port p7 in router r1"},
    {"WorkerQueueOutOfRange", R"(process:
  workers:
    - {lcore: 1, poll: ["r1.p0:0", "r1.p0:2"]}
routers: [{id: r1, ports: [{name: p0, device: x, queues: 2}]}]
)",
     "t.yaml:3:36: process.workers[0].poll[1]: r1.p0 has no queue 2 (it has 2 rx queues)"},
    {"WorkerQueueBeyond16Bits", R"(process:
  workers:
    - {lcore: 1, poll: ["r1.p0:70000", "r1.p0:99999999999999999999"]}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:25: process.workers[0].poll[0]: r1.p0 has no queue 70000 (it has 1 rx queue)"},
    {"WorkerQueueBeyond64Bits", R"(process:
  workers:
    - {lcore: 1, poll: ["r1.p0:99999999999999999999"]}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:25: process.workers[0].poll[0]: r1.p0 has no queue 99999999999999999999 (it has 1 "
     "rx queue)"},
    {"WorkerQueuePolledTwice", R"(process:
  workers:
    - {lcore: 1, poll: [r1.p0]}
    - {lcore: 2, poll: ["r1.p0:0"]}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:4:25: process.workers[1].poll[0]: r1.p0 queue 0 is already polled by "
     "process.workers[0]"},
    {"WorkerQueueNotPolled", R"(process:
  workers:
    - lcore: 1
      poll: [r1.p0]
routers: [{id: r1, ports: [{name: p0, device: x, queues: 2}]}]
)",
     "t.yaml:3:5: process.workers: r1.p0 queue 1 is polled by no worker"},
    {"WorkerEmptyPoll", R"(process:
  workers:
    - {lcore: 1, poll: []}
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:24: process.workers[0].poll: a worker must poll at least one queue"},
    {"WorkersEmptyList", R"(process:
  workers: []
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:2:12: process.workers: when given, workers must list at least one worker"},
    {"StageEntryNotAStage", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ingress: [{count: 1}]}
)",
     "t.yaml:4:41: routers[0].ports[0].ingress[0]: expected a stage name, {stage: NAME, ...} or "
     "{pipeline: NAME}"},
    {"StageAndPipeline", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ingress: [{stage: count, pipeline: basic}]}
)",
     "t.yaml:4:49: routers[0].ports[0].ingress[0].stage: a stage entry has either stage or "
     "pipeline, not both"},
    {"StageUnknownParam", R"(routers:
  - id: r1
    ports:
      - name: p0
        device: x
        egress:
          - stage: count
            every: 2
)",
     "t.yaml:8:13: routers[0].ports[0].egress[0].every: unknown key"},
    {"SecondDocument", R"(routers: [{id: r1, ports: [{name: p0, device: x}]}]
---
routers: [{id: r2, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:1: a second YAML document: a config file holds one"},
    {"SecondDocumentAfterAnEmptyOne", R"(routers: [{id: r1, ports: [{name: p0, device: x}]}]
---
---
process: {burst: 8}
)",
     "t.yaml:4:1: a second YAML document: a config file holds one"},
    {"FirstDocumentEmpty", R"(---
---
routers: [{id: r1, ports: [{name: p0, device: x}]}]
)",
     "t.yaml:3:1: a second YAML document: a config file holds one"},
    {"SyntaxErrorInSecondDocument", R"(routers: [{id: r1, ports: [{name: p0, device: x}]}]
---
[
)",
     "t.yaml:4:1: YAML syntax error: end of sequence flow not found"},
    {"ControlBytesEscaped", R"(routers:
  - id: "r\x01\0\e[31m"
    ports: [{name: p0, device: x}]
)",
     "t.yaml:2:9: routers[0].id: invalid name 'r\\x01\\x00\\x1b[31m': use letters, digits, '_' and "
     "'-'"},
    {"InvalidUtf8Escaped", "routers:\n  - id: r\xff\xc3\n    ports: [{name: p0, device: x}]\n",
     "t.yaml:2:9: routers[0].id: invalid name 'r\\xff\\xc3': use letters, digits, '_' and '-'"},
    {"InvalidUtf8InKeyEscaped",
     "routers:\n  - id: r1\n    c\xc0\xafolour: 1\n    ports: [{name: p0, device: x}]\n",
     "t.yaml:3:5: routers[0].c\\xc0\\xafolour: unknown key"},
    {"ValidUtf8PassesThrough",
     "routers:\n  - id: caf\xc3\xa9\n    ports: [{name: p0, device: x}]\n",
     "t.yaml:2:9: routers[0].id: invalid name 'caf\xc3\xa9': use letters, digits, '_' and '-'"},
    {"StageListNotAList", R"(routers:
  - id: r1
    ports:
      - {name: p0, device: x, ingress: count}
)",
     "t.yaml:4:40: routers[0].ports[0].ingress: expected a list of stages"},
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

// On a mismatch, shows the line the actual error points at, with a caret under its column.
std::string caret(const std::string& yaml, const std::string& err) {
  int line = 0, col = 0;
  if (std::sscanf(err.c_str(), "t.yaml:%d:%d:", &line, &col) != 2) return "";
  std::istringstream in(yaml);
  std::string text;
  for (int i = 0; i < line && std::getline(in, text); ++i) {
  }
  return text + "\n" + std::string(col > 0 ? col - 1 : 0, ' ') + "^";
}

TEST_P(BadConfig, FailsWithTheExactMessage) {
  const BadCase& c = GetParam();
  std::string err = error_of(c.yaml, {pipelines_dir()});
  EXPECT_EQ(err, c.error) << caret(c.yaml, err);
}

INSTANTIATE_TEST_SUITE_P(Table, BadConfig, ::testing::ValuesIn(kBad),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace pathlab

namespace pathlab {
namespace {
// Fuzz finding F4: yaml-cpp's LoadAll never returned on a stray ',' at document level.
TEST(LoaderBad, StrayCommaAtDocumentLevelEnds) {
  for (const char* text : {",", "[a],", "- 1\n,"}) {
    EXPECT_NE(error_of(text), "") << text;
  }
  EXPECT_EQ(error_of("routers: []\n---\nfoo: 1\n"),
            "t.yaml:3:1: a second YAML document: a config file holds one");
}
}  // namespace
}  // namespace pathlab
