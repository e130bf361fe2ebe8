// The config loader: YAML -> Config, pipeline expansion, and every cross-check, before anything
// is started. The first problem throws a ConfigError naming file, line, column and key path.
// The format and the rules are documented in docs/config.md.
#include "pathlab/config/loader.hpp"

#include <fcntl.h>
#include <sstream>
#include <yaml-cpp/eventhandler.h>
#include <fmt/format.h>
#include <rte_config.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "pathlab/config/yaml_reader.hpp"
#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/stages/link_config.hpp"
#include "pathlab/stages/match.hpp"

namespace pathlab {
namespace {

namespace fs = std::filesystem;

bool valid_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string read_name(YamlMap& m, std::string_view key) {
  auto s = m.get<std::string>(key);
  if (!valid_name(s)) {
    m.fail(key, fmt::format("invalid name '{}': use letters, digits, '_' and '-'", s));
  }
  return s;
}

bool looks_v6(std::string_view s) { return s.find(':') != std::string_view::npos; }

// What a non-regular file is, for the refusal; nullptr for a regular file.
const char* special_kind(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void file_error(const std::string& path, const std::string& message) {
  throw ConfigError(SourcePos{path, 0, 0}, "", message);
}

[[noreturn]] void refuse_kind(const std::string& path, const char* kind) {
  file_error(path, fmt::format("is {}, not a regular file", kind));
}

[[noreturn]] void too_large(const std::string& path, std::optional<uint64_t> size) {
  std::string what = size ? fmt::format("is {} bytes, which is", *size) : std::string("is");
  file_error(
      path, fmt::format("{} over the {} MiB limit for a config file", what, kMaxConfigBytes >> 20));
}

// The whole of a regular file of at most kMaxConfigBytes. Anything else is refused by its kind
// before it is opened (opening a device or a FIFO can block or have effects), and checked again
// on the open descriptor.
std::string read_text(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    file_error(path, fmt::format("cannot open: {}", std::strerror(errno)));
  if (const char* kind = special_kind(st.st_mode)) refuse_kind(path, kind);
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) too_large(path, st.st_size);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) file_error(path, fmt::format("cannot open: {}", std::strerror(errno)));
  std::string text;
  try {
    if (::fstat(fd, &st) != 0)
      file_error(path, fmt::format("cannot open: {}", std::strerror(errno)));
    if (const char* kind = special_kind(st.st_mode)) refuse_kind(path, kind);
    // Up to one byte past the limit, in case the file grew (or, like /proc files, has no size).
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) file_error(path, fmt::format("cannot read: {}", std::strerror(errno)));
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > kMaxConfigBytes) too_large(path, std::nullopt);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return text;
}

// "line:column" (1-based) of byte `offset` in `text`.
SourcePos pos_at(const std::string& text, size_t offset, const std::string& file) {
  SourcePos pos{file, 1, 1};
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
  return pos;
}

// One YAML document: a second one with content is an error (a trailing `---` alone is not).
// Notes whether a YAML document holds anything (a scalar, a collection, an alias) and where.
class ContentProbe final : public YAML::EventHandler {
 public:
  bool content = false;
  YAML::Mark mark;
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { note(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override {
    note(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    note(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    note(m);
  }
  void OnMapEnd() override {}

 private:
  void note(const YAML::Mark& m) {
    if (!content) mark = m;
    content = true;
  }
};

YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  if (text.size() > kMaxConfigBytes) too_large(file, text.size());
  // yaml-cpp reads NUL bytes as a UTF-16/32 encoding and reports nonsense.
  if (size_t nul = text.find('\0'); nul != std::string::npos) {
    throw ConfigError(pos_at(text, nul, file), "", "NUL byte: a config file is UTF-8 text");
  }
  // The first document is the config; any later one with content is an error. The later ones
  // are walked with a bounded loop: yaml-cpp's LoadAll yields empty documents forever on a stray
  // ',' at document level.
  YAML::Node root;
  try {
    root = YAML::Load(text);
    std::stringstream in(text);
    YAML::Parser parser(in);
    const size_t limit = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 2;
    for (size_t doc = 0; doc < limit; ++doc) {
      ContentProbe probe;
      if (!parser.HandleNextDocument(probe)) break;
      if (doc > 0 && probe.content) {
        throw ConfigError(SourcePos{file, probe.mark.line + 1, probe.mark.column + 1}, "",
                          "a second YAML document: a config file holds one");
      }
    }
  } catch (const YAML::ParserException& e) {
    SourcePos pos{file, 0, 0};
    if (!e.mark.is_null()) {
      pos.line = e.mark.line + 1;
      pos.column = e.mark.column + 1;
    }
    throw ConfigError(pos, "", "YAML syntax error: " + e.msg);
  }
  return root;
}

void check_unicast_mac(YamlMap& m, std::string_view key, const MacAddr& mac) {
  if (mac.is_zero()) m.fail(key, "MAC address must not be zero");
  if (mac.b[0] & 1)
    m.fail(key, fmt::format("{} is a multicast MAC address", m.get<std::string>(key)));
}

// Per-family helpers, so that routes and neighbours are written once.
struct V4 {
  using Addr = Ip4Addr;
  using Prefix = Ip4Prefix;
  using Route = Route4;
  using Neighbour = Neighbour4;
  static constexpr const char* kName = "IPv4";
  static const std::vector<Ip4Prefix>& addrs(const PortConfig& p) { return p.ipv4; }
  static std::vector<Route4>& routes(RouterConfig& r) { return r.routes4; }
  static std::vector<Neighbour4>& neighbours(RouterConfig& r) { return r.neighbours4; }
  static bool link_local(Ip4Addr) { return false; }
  static bool unicast(Ip4Addr a) { return a.v != 0 && (a.v >> 29) != 0x7; }  // not 0, 224/3
};

struct V6 {
  using Addr = Ip6Addr;
  using Prefix = Ip6Prefix;
  using Route = Route6;
  using Neighbour = Neighbour6;
  static constexpr const char* kName = "IPv6";
  static const std::vector<Ip6Prefix>& addrs(const PortConfig& p) { return p.ipv6; }
  static std::vector<Route6>& routes(RouterConfig& r) { return r.routes6; }
  static std::vector<Neighbour6>& neighbours(RouterConfig& r) { return r.neighbours6; }
  static bool link_local(const Ip6Addr& a) { return a.is_link_local(); }
  static bool unicast(const Ip6Addr& a) { return a != Ip6Addr{} && !a.is_multicast(); }
};

// Where a poll entry was written, for the checks made once the routers are known.
struct PollSite {
  SourcePos pos;
  std::string path;
  std::string text;
  std::string queue;     // as written ("0" when not given)
  uint64_t queue_n = 0;  // its value, saturated: PollSpec::queue holds only 16 bits
};

class Loader {
 public:
  explicit Loader(std::vector<std::string> dirs) : dirs_(std::move(dirs)) {}

  Config load(const std::string& text, const std::string& file) {
    file_ = file;
    Config cfg;
    cfg.file = file;
    YAML::Node root = parse_yaml(text, file);
    YamlMap top(root, file, "", SourcePos{file, 1, 1});
    top.only({"process", "routers", "links", "events"});
    if (top.has("process")) {
      YamlMap pm(top.node("process"), file, "process");
      parse_process(pm, cfg.process);
    }
    if (!top.has("routers")) top.fail("routers", "missing required key");
    auto routers = top.items("routers");
    if (routers.empty()) top.fail("routers", "at least one router is required");
    auto links = top.items("links");
    auto events = top.items("events");
    top.done();

    std::map<std::string, size_t, std::less<>> ids;
    for (size_t i = 0; i < routers.size(); ++i) {
      YamlMap rm(routers[i].node, file, routers[i].path);
      cfg.routers.push_back(parse_router(rm, ids));
      ids.emplace(cfg.routers.back().id, i);
    }

    std::set<std::string, std::less<>> link_names;
    for (const auto& item : links) {
      YamlMap lm(item.node, file, item.path);
      cfg.links.push_back(parse_link(lm, cfg, link_names));
    }
    for (size_t r = 0; r < cfg.routers.size(); ++r) {
      for (size_t p = 0; p < cfg.routers[r].ports.size(); ++p) {
        const PortConfig& port = cfg.routers[r].ports[p];
        if (port.device.empty() && port.link.empty()) {
          throw ConfigError(port.pos, fmt::format("routers[{}].ports[{}]", r, p),
                            fmt::format("port {}.{} has no device and is in no link",
                                        cfg.routers[r].id, port.name));
        }
      }
    }
    check_workers(cfg);
    for (const auto& item : events) {
      YamlMap em(item.node, file, item.path);
      cfg.events.push_back(parse_event(em, cfg));
    }
    std::stable_sort(cfg.events.begin(), cfg.events.end(),
                     [](const LinkEvent& a, const LinkEvent& b) { return a.at < b.at; });
    return cfg;
  }

 private:
  // ---- process -------------------------------------------------------------------------------

  void parse_process(YamlMap& m, ProcessConfig& p) {
    m.only({"idle", "burst", "mbufs", "mbuf_cache", "rx_desc", "tx_desc", "icmp_rate_limit",
            "neighbours", "workers"});
    if (m.has("idle")) {
      auto idle = m.get<std::string>("idle");
      if (idle == "adaptive") {
        p.idle = IdlePolicy::Adaptive;
      } else if (idle == "spin") {
        p.idle = IdlePolicy::Spin;
      } else {
        m.fail("idle", fmt::format("expected adaptive or spin, got '{}'", idle));
      }
    }
    p.burst = m.get_or_in<uint16_t>("burst", p.burst, 1, 256);
    p.mbufs = m.get_or_in<uint32_t>("mbufs", p.mbufs, 256, 1u << 24);
    p.mbuf_cache = m.get_or_in<uint32_t>("mbuf_cache", p.mbuf_cache, 0, RTE_MEMPOOL_CACHE_MAX_SIZE);
    // rte_mempool_create refuses a cache larger than n / 1.5.
    if (uint64_t{p.mbuf_cache} * 3 > uint64_t{p.mbufs} * 2) {
      m.fail(m.has("mbuf_cache") ? "mbuf_cache" : "mbufs",
             fmt::format("mbuf_cache {} is too large for {} mbufs (at most mbufs / 1.5)",
                         p.mbuf_cache, p.mbufs));
    }
    p.rx_desc = m.get_or_in<uint16_t>("rx_desc", p.rx_desc, 64, 16384);
    p.tx_desc = m.get_or_in<uint16_t>("tx_desc", p.tx_desc, 64, 16384);
    if (m.has("icmp_rate_limit")) {
      YamlMap im(m.node("icmp_rate_limit"), file_, m.path("icmp_rate_limit"));
      im.only({"rate", "burst"});
      p.icmp_rate = im.get_or_in<uint32_t>("rate", p.icmp_rate, 1, 10'000'000);
      p.icmp_burst = im.get_or_in<uint32_t>("burst", p.icmp_burst, 1, 1'000'000);
      im.done();
    }
    if (m.has("neighbours")) {
      YamlMap nm(m.node("neighbours"), file_, m.path("neighbours"));
      nm.only({"retries", "retry_ms", "hold_packets", "reachable_s", "max_entries", "probe_rate",
               "probe_burst"});
      p.nd_retries = nm.get_or_in<uint32_t>("retries", p.nd_retries, 1, 100);
      p.nd_retry_ms = nm.get_or_in<uint32_t>("retry_ms", p.nd_retry_ms, 10, 60'000);
      p.nd_hold_packets = nm.get_or_in<uint32_t>("hold_packets", p.nd_hold_packets, 0, 4096);
      p.nd_reachable_s = nm.get_or_in<uint32_t>("reachable_s", p.nd_reachable_s, 1, 86'400);
      p.nd_max_entries = nm.get_or_in<uint32_t>("max_entries", p.nd_max_entries, 1, 1'048'576);
      p.nd_probe_rate = nm.get_or_in<uint32_t>("probe_rate", p.nd_probe_rate, 1, 1'000'000);
      p.nd_probe_burst = nm.get_or_in<uint32_t>("probe_burst", p.nd_probe_burst, 1, 100'000);
      nm.done();
    }
    if (m.has("workers")) {
      workers_pos_ = m.pos("workers");
      auto items = m.items("workers");
      if (items.empty()) m.fail("workers", "when given, workers must list at least one worker");
      std::map<unsigned, std::string> lcores;
      for (const auto& item : items) {
        YamlMap wm(item.node, file_, item.path);
        wm.only({"lcore", "poll"});
        WorkerConfig w;
        w.pos = wm.pos();
        w.lcore = wm.get_in<unsigned>("lcore", 0, RTE_MAX_LCORE - 1);
        if (auto it = lcores.find(w.lcore); it != lcores.end()) {
          wm.fail("lcore", fmt::format("lcore {} is already used by {}", w.lcore, it->second));
        }
        lcores.emplace(w.lcore, item.path);
        if (!wm.has("poll")) wm.fail("poll", "missing required key");
        auto polls = wm.items("poll", true);
        if (polls.empty()) wm.fail("poll", "a worker must poll at least one queue");
        std::vector<PollSite> sites;
        for (const auto& pi : polls) {
          auto text = convert<std::string>(pi.node, file_, pi.path);
          PollSite site{pi.pos, pi.path, text};
          w.poll.push_back(parse_poll(pi, site));
          sites.push_back(std::move(site));
        }
        wm.done();
        p.workers.push_back(std::move(w));
        poll_sites_.push_back(std::move(sites));
      }
    }
    m.done();
  }

  // Fills site.queue and site.queue_n; a queue of any size is an integer here and is checked
  // against the port's queues later.
  PollSpec parse_poll(const YamlMap::Item& item, PollSite& site) {
    auto fail = [&] {
      throw ConfigError(
          item.pos, item.path,
          fmt::format("invalid poll entry '{}': expected router.port[:queue]", site.text));
    };
    PollSpec ps;
    std::string_view s = site.text;
    site.queue = "0";
    auto colon = s.find(':');
    if (colon != std::string_view::npos) {
      std::string_view q = s.substr(colon + 1);
      uint64_t v = 0;
      auto [end, ec] = std::from_chars(q.data(), q.data() + q.size(), v);
      if (q.empty() || end != q.data() + q.size()) fail();
      if (ec == std::errc::result_out_of_range) {
        v = UINT64_MAX;
      } else if (ec != std::errc()) {
        fail();
      }
      site.queue = std::string(q);
      site.queue_n = v;
      ps.queue = static_cast<uint16_t>(std::min<uint64_t>(v, UINT16_MAX));
      s = s.substr(0, colon);
    }
    auto dot = s.find('.');
    if (dot == std::string_view::npos) fail();
    ps.router = std::string(s.substr(0, dot));
    ps.port = std::string(s.substr(dot + 1));
    if (!valid_name(ps.router) || !valid_name(ps.port)) fail();
    return ps;
  }

  // ---- routers -------------------------------------------------------------------------------

  RouterConfig parse_router(YamlMap& m, const std::map<std::string, size_t, std::less<>>& ids) {
    m.only({"id", "asn", "ports", "routes", "neighbours", "ipim"});
    RouterConfig r;
    r.pos = m.pos();
    r.id = read_name(m, "id");
    if (ids.count(r.id) != 0) m.fail("id", fmt::format("duplicate router id {}", r.id));
    r.asn = m.get_or_in<uint32_t>("asn", 0, 0, UINT32_MAX);
    if (!m.has("ports")) m.fail("ports", "missing required key");
    auto ports = m.items("ports");
    if (ports.empty()) m.fail("ports", "a router needs at least one port");
    auto routes = m.items("routes");
    auto neighbours = m.items("neighbours");
    const bool has_ipim = m.has("ipim");
    const YAML::Node ipim = m.node("ipim");
    m.done();

    std::map<std::string, std::string> addrs;  // interface address -> port name
    for (const auto& item : ports) {
      YamlMap pm(item.node, file_, item.path);
      r.ports.push_back(parse_port(pm, r, addrs));
      if (has_ipim && !port_ipim_.count(r.id + "." + r.ports.back().name)) {
        add_ipim(r.ports.back(), r.id, ipim, m.path("ipim"), m.pos("ipim"));
      }
    }
    std::set<std::pair<Ip4Prefix, uint32_t>> seen4;  // (prefix, metric): backups differ in metric
    std::set<std::pair<Ip6Prefix, uint32_t>> seen6;
    for (const auto& item : routes) {
      YamlMap rm(item.node, file_, item.path);
      rm.only({"prefix", "via", "port", "metric"});
      auto prefix = rm.get<std::string>("prefix");
      if (looks_v6(prefix)) {
        parse_route<V6>(rm, r, seen6);
      } else {
        parse_route<V4>(rm, r, seen4);
      }
    }
    for (const auto& item : neighbours) {
      YamlMap nm(item.node, file_, item.path);
      nm.only({"port", "ip", "mac"});
      auto ip = nm.get<std::string>("ip");
      if (looks_v6(ip)) {
        parse_neighbour<V6>(nm, r);
      } else {
        parse_neighbour<V4>(nm, r);
      }
    }
    return r;
  }

  PortConfig parse_port(YamlMap& m, const RouterConfig& r,
                        std::map<std::string, std::string>& addrs) {
    m.only({"name", "device", "mac", "ipv4", "ipv6", "mtu", "queues", "ingress", "egress",
            "link", "ipim"});
    PortConfig p;
    p.pos = m.pos();
    p.name = read_name(m, "name");
    for (const auto& other : r.ports) {
      if (other.name == p.name) m.fail("name", fmt::format("duplicate port name {}", p.name));
    }
    if (m.has("device")) {
      p.device = m.get<std::string>("device");
      if (p.device.empty()) m.fail("device", "must not be empty");
      // EAL device names (the part before the first comma) must be unique in the process.
      std::string dev_name = p.device.substr(0, p.device.find(','));
      auto [it, fresh] = devices_.emplace(dev_name, r.id + "." + p.name);
      if (!fresh) {
        m.fail("device", fmt::format("device {} is already used by port {}", dev_name, it->second));
      }
    }
    if (m.has("mac")) {
      p.mac = m.get<MacAddr>("mac");
      check_unicast_mac(m, "mac", p.mac);
    }
    read_addrs<V4>(m, "ipv4", p, p.ipv4, addrs);
    read_addrs<V6>(m, "ipv6", p, p.ipv6, addrs);
    p.mtu = m.get_or_in<uint16_t>("mtu", 1500, 68, 9216);
    p.rx_queues = m.get_or_in<uint16_t>("queues", 1, 1, 64);
    auto ingress = m.node("ingress");
    auto egress = m.node("egress");
    const bool has_link = m.has("link");
    auto link = m.node("link");
    const bool has_ipim = m.has("ipim");
    auto ipim = m.node("ipim");
    m.done();
    if (!p.ipv6.empty() && p.mtu < 1280) {
      m.fail("mtu", fmt::format("mtu {} is below 1280, the minimum for a port with IPv6", p.mtu));
    }
    if (p.device.empty() && p.rx_queues != 1) {
      m.fail("queues", "a link port (no device) has exactly 1 queue");
    }
    p.ingress = stage_list(ingress, file_, m.path("ingress"));
    p.egress = stage_list(egress, file_, m.path("egress"), &p.egress_links);
    if (has_link) add_link(p, r.id, link, m.path("link"), m.pos("link"));
    if (has_ipim) {
      port_ipim_.insert(r.id + "." + p.name);
      add_ipim(p, r.id, ipim, m.path("ipim"), m.pos("ipim"));
    }
    return p;
  }

  // `ipim:` of a router (every port) or of a port (overrides the router's): an `ipim` stage named
  // "ipim" in the port's egress chain, before its first link stage so that it reads that link.
  // `true` takes the defaults, `false` (on a port) none.
  void add_ipim(PortConfig& p, const std::string& rid, const YAML::Node& node,
                const std::string& path, const SourcePos& pos) {
    YAML::Node params(YAML::NodeType::Map);
    if (node.IsScalar()) {
      const bool on = convert<bool>(node, file_, path);
      if (!on) return;
    } else if (node.IsMap()) {
      params = node;
    } else {
      throw ConfigError(pos, path, "expected true, false or a map of ipim stage keys");
    }
    for (const StageSpec& s : p.egress) {
      if (s.name == "ipim") {
        throw ConfigError(pos, path,
                          fmt::format("port {}.{} has a stage named ipim in its egress chain ({}): "
                                      "ipim: adds the stage ipim; rename that one",
                                      rid, p.name, s.path));
      }
    }
    const StageYaml spec{"ipim", "ipim", params, pos, path};
    StageSpec st{"ipim", "ipim", StageRegistry::instance().parse(spec, pos.file), pos, path};
    auto at = std::find_if(p.egress.begin(), p.egress.end(),
                           [](const StageSpec& s) { return s.kind == "link"; });
    p.egress.insert(at, std::move(st));
  }

  // ---- link: (docs/links.md, "link: on ports and links") ---------------------------------------

  // `link:` of a port, or one direction of a ring link: a `link` stage named "link" at the end of
  // the port's egress chain, after the stages written there.
  void add_link(PortConfig& p, const std::string& rid, const YAML::Node& node,
                const std::string& path, const SourcePos& pos) {
    const std::string full = rid + "." + p.name;
    auto err = [&](const std::string& msg) { throw ConfigError(pos, path, msg); };
    if (auto it = port_links_.find(full); it != port_links_.end()) {
      err(fmt::format("port {} already has a link: at {}", full, it->second));
    }
    for (const StageSpec& s : p.egress) {
      if (s.kind == "link") {
        err(fmt::format("port {} has both link: and a link stage in its egress chain ({}): "
                        "keep one",
                        full, s.path));
      }
      if (s.name == "link") {
        err(fmt::format("port {} has a stage named link in its egress chain ({}): link: adds "
                        "the stage link; rename that one",
                        full, s.path));
      }
    }
    static const std::vector<std::string_view> keys = [] {
      std::vector<std::string_view> k(link_param_keys().begin(), link_param_keys().end());
      k.push_back("seed");
      return k;
    }();
    YamlMap m(node, file_, path, pos);
    m.only_keys(keys);
    const StageCommon c = StageCommon::parse(m);
    const LinkParams params = parse_link_params(m, LinkParams{});
    m.done();
    StageBuilder build = [c, params](const StageSite& site) -> std::unique_ptr<Stage> {
      LinkParams q = params;
      q.seed = c.instance_seed(site);
      return std::make_unique<Link>(q);
    };
    p.egress.push_back(StageSpec{"link", "link", std::move(build), pos, path});
    p.egress_links.push_back(params);
    port_links_.emplace(full, fmt::format("{}:{}:{} ({})", pos.file, pos.line, pos.column, path));
  }

  template <typename F>
  void read_addrs(YamlMap& m, std::string_view key, const PortConfig& p,
                  std::vector<typename F::Prefix>& out, std::map<std::string, std::string>& addrs) {
    for (const auto& item : m.items(key, true)) {
      auto text = convert<std::string>(item.node, file_, item.path);
      auto a = convert<typename F::Prefix>(item.node, file_, item.path);
      if (!F::unicast(a.addr)) {
        throw ConfigError(item.pos, item.path, fmt::format("{} is not a unicast address", text));
      }
      if (a.len == 0) {
        throw ConfigError(item.pos, item.path,
                          fmt::format("interface address {} has prefix length 0", text));
      }
      std::string addr = text.substr(0, text.find('/'));
      auto [it, fresh] = addrs.emplace(fmt::format("{}|{}", F::kName, canonical(a.addr)), p.name);
      if (!fresh) {
        throw ConfigError(item.pos, item.path,
                          fmt::format("address {} is already on port {}", addr, it->second));
      }
      out.push_back(a);
    }
  }

  static std::string canonical(Ip4Addr a) { return std::to_string(a.v); }
  static std::string canonical(const Ip6Addr& a) {
    std::string s;
    for (auto byte : a.b) s += fmt::format("{:02x}", byte);
    return s;
  }

  template <typename F>
  void parse_route(YamlMap& m, RouterConfig& r, std::set<std::pair<typename F::Prefix, uint32_t>>& seen) {
    m.only({"prefix", "via", "port", "metric"});
    typename F::Route route;
    route.pos = m.pos();
    auto prefix_text = m.get<std::string>("prefix");
    route.prefix = convert<typename F::Prefix>(m.node("prefix"), file_, m.path("prefix"));
    std::optional<std::string> via_text = m.maybe<std::string>("via");
    std::optional<std::string> port = m.maybe<std::string>("port");
    route.metric = m.get_or_in<uint32_t>("metric", 0, 0, UINT32_MAX);
    m.done();
    if (route.prefix.network() != route.prefix) {
      m.fail("prefix", fmt::format("host bits set in prefix {}", prefix_text));
    }
    if (!seen.insert({route.prefix, route.metric}).second) {
      m.fail("prefix", route.metric == 0
                           ? fmt::format("duplicate route prefix {}", prefix_text)
                           : fmt::format("duplicate route prefix {} with metric {}", prefix_text, route.metric));
    }
    if (!via_text && !port) m.fail("prefix", "a route needs a via, a port, or both");
    const PortConfig* out_port = nullptr;
    if (port) {
      out_port = find_port(r, *port);
      if (out_port == nullptr) m.fail("port", fmt::format("no port {} in router {}", *port, r.id));
      route.port = *port;
    }
    if (via_text) {
      if (looks_v6(*via_text) != std::is_same_v<F, V6>) {
        m.fail("via", fmt::format("next hop {} is {} but the prefix is {}", *via_text,
                                  looks_v6(*via_text) ? "IPv6" : "IPv4", F::kName));
      }
      route.via = convert<typename F::Addr>(m.node("via"), file_, m.path("via"));
      const auto& via = *route.via;
      for (const auto& p : r.ports) {
        for (const auto& a : F::addrs(p)) {
          if (a.addr == via) {
            m.fail("via", fmt::format("next hop {} is an address of router {} (port {})", *via_text,
                                      r.id, p.name));
          }
        }
      }
      if (F::link_local(via)) {
        if (out_port == nullptr) {
          m.fail("via", fmt::format("link-local next hop {} needs a port", *via_text));
        }
        if (F::addrs(*out_port).empty()) {
          m.fail("port", fmt::format("port {} has no {} address", out_port->name, F::kName));
        }
      } else if (out_port != nullptr) {
        bool inside = std::any_of(F::addrs(*out_port).begin(), F::addrs(*out_port).end(),
                                  [&](const auto& a) { return a.contains(via); });
        if (!inside) {
          m.fail("via", fmt::format("next hop {} is not in a connected subnet of port {}",
                                    *via_text, out_port->name));
        }
      } else {
        // The longest connected subnet that holds the next hop; the first port wins a tie.
        int best_len = -1;
        for (const auto& p : r.ports) {
          for (const auto& a : F::addrs(p)) {
            if (a.contains(via) && int{a.len} > best_len) {
              best_len = a.len;
              route.port = p.name;
            }
          }
        }
        if (best_len < 0) {
          m.fail("via", fmt::format("next hop {} is not in any connected subnet of router {}",
                                    *via_text, r.id));
        }
      }
    }
    F::routes(r).push_back(std::move(route));
  }

  template <typename F>
  void parse_neighbour(YamlMap& m, RouterConfig& r) {
    m.only({"port", "ip", "mac"});
    typename F::Neighbour n;
    auto ip_text = m.get<std::string>("ip");
    n.ip = convert<typename F::Addr>(m.node("ip"), file_, m.path("ip"));
    n.port = m.get<std::string>("port");
    n.mac = m.get<MacAddr>("mac");
    m.done();
    const PortConfig* port = find_port(r, n.port);
    if (port == nullptr) m.fail("port", fmt::format("no port {} in router {}", n.port, r.id));
    if (F::addrs(*port).empty()) {
      m.fail("ip", fmt::format("neighbour {} is {} but port {} has no {} address", ip_text,
                               F::kName, n.port, F::kName));
    }
    if (!F::unicast(n.ip)) m.fail("ip", fmt::format("{} is not a unicast address", ip_text));
    check_unicast_mac(m, "mac", n.mac);
    for (const auto& other : F::neighbours(r)) {
      if (other.port == n.port && other.ip == n.ip) {
        m.fail("ip", fmt::format("duplicate neighbour {} on port {}", ip_text, n.port));
      }
    }
    F::neighbours(r).push_back(std::move(n));
  }

  static const PortConfig* find_port(const RouterConfig& r, std::string_view name) {
    for (const auto& p : r.ports) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }

  static RouterConfig* find_router(Config& cfg, std::string_view id) {
    for (auto& r : cfg.routers) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }

  // ---- links ---------------------------------------------------------------------------------

  LinkConfig parse_link(YamlMap& m, Config& cfg, std::set<std::string, std::less<>>& names) {
    m.only({"name", "ends", "ring_size", "link"});
    LinkConfig l;
    l.pos = m.pos();
    l.name = read_name(m, "name");
    if (!names.insert(l.name).second) m.fail("name", fmt::format("duplicate link name {}", l.name));
    if (!m.has("ends")) m.fail("ends", "missing required key");
    auto ends = m.items("ends");
    if (ends.size() != 2)
      m.fail("ends", "expected a list of two ports: [router.port, router.port]");
    l.ring_size = m.get_or_in<uint32_t>("ring_size", l.ring_size, 64, 65536);
    if ((l.ring_size & (l.ring_size - 1)) != 0) {
      m.fail("ring_size", fmt::format("ring_size {} is not a power of two", l.ring_size));
    }
    const bool has_link = m.has("link");
    const YAML::Node link = m.node("link");
    m.done();
    PortConfig* port[2] = {};
    for (int i = 0; i < 2; ++i) {
      const auto& item = ends[i];
      auto text = convert<std::string>(item.node, file_, item.path);
      auto err = [&](const std::string& msg) { throw ConfigError(item.pos, item.path, msg); };
      auto dot = text.find('.');
      std::string rid = text.substr(0, dot);
      std::string pname = dot == std::string::npos ? "" : text.substr(dot + 1);
      if (!valid_name(rid) || !valid_name(pname)) {
        err(fmt::format("invalid link end '{}': expected router.port", text));
      }
      RouterConfig* r = find_router(cfg, rid);
      if (r == nullptr) err(fmt::format("no router {}", rid));
      auto it = std::find_if(r->ports.begin(), r->ports.end(),
                             [&](const PortConfig& p) { return p.name == pname; });
      if (it == r->ports.end()) err(fmt::format("no port {} in router {}", pname, rid));
      if (!it->device.empty()) {
        err(fmt::format("port {} has a device and cannot be a link end", text));
      }
      if (i == 1 && port[0] == &*it) {
        err(fmt::format("a link cannot join port {} to itself", text));
      }
      if (!it->link.empty()) err(fmt::format("port {} is already in link {}", text, it->link));
      port[i] = &*it;
      (i == 0 ? l.a_router : l.b_router) = rid;
      (i == 0 ? l.a_port : l.b_port) = pname;
    }
    port[0]->link = l.name;
    port[1]->link = l.name;
    if (has_link) {
      // One map for both directions, or {a_to_b: .., b_to_a: ..}: a_to_b is the a end's egress.
      YamlMap lm(link, file_, m.path("link"), m.pos("link"));
      const std::string rid[2] = {l.a_router, l.b_router};
      if (lm.has("a_to_b") || lm.has("b_to_a")) {
        lm.only({"a_to_b", "b_to_a"});
        const char* key[2] = {"a_to_b", "b_to_a"};
        for (int i = 0; i < 2; ++i) {
          if (!lm.has(key[i])) continue;
          const SourcePos at = lm.pos(key[i]);
          add_link(*port[i], rid[i], lm.node(key[i]), lm.path(key[i]), at);
        }
        lm.done();
      } else {
        for (int i = 0; i < 2; ++i) add_link(*port[i], rid[i], link, m.path("link"), m.pos("link"));
      }
    }
    return l;
  }

  // ---- events (docs/links.md, "Events") ------------------------------------------------------

  // "5s", "1.5s", "250ms", "100us", "0": a time after the start of forwarding.
  static Nanos parse_time(YamlMap& m, std::string_view key) {
    const std::string s = m.get<std::string>(key);
    auto bad = [&] { m.fail(key, fmt::format("'{}' is not a time (e.g. 5s, 1.5s, 250ms)", s)); };
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + i, v);
    if (i == 0 || ec != std::errc() || end != s.data() + i) bad();
    const std::string_view unit = std::string_view(s).substr(i);
    double mult = 0;
    if (unit == "s") {
      mult = 1e9;
    } else if (unit == "ms") {
      mult = 1e6;
    } else if (unit == "us") {
      mult = 1e3;
    } else if (unit == "ns") {
      mult = 1;
    } else if (unit.empty() && v == 0) {
      mult = 1;
    } else {
      bad();
    }
    const double ns = std::round(v * mult);
    if (!(ns <= 30 * 86400e9)) m.fail(key, fmt::format("{} is later than 30 days", s));
    return static_cast<Nanos>(ns);
  }

  // The ports whose egress `link` stages an event acts on: "router.port" is that port (and, for
  // down/up, the other end of its ring link); a link name is both ends.
  std::vector<const PortConfig*> event_ports(YamlMap& m, const Config& cfg,
                                             const std::string& target, bool whole,
                                             std::vector<std::string>& names) {
    std::vector<std::pair<std::string, std::string>> ends;  // router, port
    const LinkConfig* ring = nullptr;
    if (auto dot = target.find('.'); dot != std::string::npos) {
      const std::string rid = target.substr(0, dot), pname = target.substr(dot + 1);
      const RouterConfig* r = nullptr;
      for (const auto& x : cfg.routers) {
        if (x.id == rid) r = &x;
      }
      if (r == nullptr) m.fail("link", fmt::format("no router {} (expected router.port or a link name)", rid));
      const PortConfig* p = find_port(*r, pname);
      if (p == nullptr) m.fail("link", fmt::format("no port {} in router {}", pname, rid));
      ends.emplace_back(rid, pname);
      if (whole && !p->link.empty()) {
        for (const auto& l : cfg.links) {
          if (l.name == p->link) ring = &l;
        }
      }
    } else {
      for (const auto& l : cfg.links) {
        if (l.name == target) ring = &l;
      }
      if (ring == nullptr) {
        m.fail("link", fmt::format("no link named {} (expected router.port or a link name)", target));
      }
    }
    if (ring != nullptr) {
      ends = {{ring->a_router, ring->a_port}, {ring->b_router, ring->b_port}};
    }
    std::vector<const PortConfig*> out;
    for (const auto& [rid, pname] : ends) {
      for (const auto& r : cfg.routers) {
        if (r.id != rid) continue;
        out.push_back(find_port(r, pname));
        names.push_back(rid + "." + pname);
      }
    }
    return out;
  }

  LinkEvent parse_event(YamlMap& m, const Config& cfg) {
    m.only({"at", "link", "down", "set"});
    LinkEvent e;
    e.pos = m.pos();
    e.path = m.path();
    if (!m.has("at")) m.fail("at", "missing required key");
    if (!m.has("link")) m.fail("link", "missing required key");
    e.at = parse_time(m, "at");
    e.target = m.get<std::string>("link");
    if (m.has("down") && m.has("set")) {
      m.fail("set", "an event has down: or set:, not both (make two events)");
    }
    if (!m.has("down") && !m.has("set")) m.fail("link", "an event needs down: true|false or set: {...}");
    std::vector<std::string> names;
    if (m.has("down")) {
      e.down = m.get<bool>("down");
      e.what = *e.down ? "down" : "up";
      const auto ports = event_ports(m, cfg, e.target, true, names);
      for (size_t i = 0; i < ports.size(); ++i) {
        if (ports[i]->egress_links.empty()) {
          m.fail("link", fmt::format("{} has no link stage to take down: give it link: "
                                     "(link: {{}} holds nothing back)",
                                     names[i]));
        }
      }
      m.done();
      return e;
    }
    const YAML::Node set = m.node("set");
    const std::string file = file_, path = m.path("set");
    const SourcePos pos = m.pos("set");
    {
      YamlMap sm(set, file, path, pos);
      sm.only_keys(link_param_keys());
      const auto keys = link_param_keys();
      if (std::none_of(keys.begin(), keys.end(), [&](std::string_view k) { return sm.has(k); })) {
        m.fail("set", "set: needs at least one link key (rate, delay, loss, ...)");
      }
    }
    e.set = [set, file, path, pos](const LinkParams& current) {
      YamlMap sm(set, file, path, pos);
      sm.only_keys(link_param_keys());
      const LinkParams p = parse_link_params(sm, current);
      sm.done();
      return p;
    };
    YAML::Emitter text;
    text << YAML::Flow << set;
    e.what = std::string("set ") + text.c_str();
    const auto ports = event_ports(m, cfg, e.target, false, names);
    bool any = false;
    for (const PortConfig* p : ports) {
      // Checked over the configured parameters; at run time it applies over the current ones.
      for (const LinkParams& lp : p->egress_links) e.set(lp);
      any = any || !p->egress_links.empty();
    }
    if (!any) {
      m.fail("link", fmt::format("{} has no link stage to change: give it link:",
                                 names.size() == 1 ? names[0] : "link " + e.target));
    }
    m.done();
    return e;
  }

  // ---- workers -------------------------------------------------------------------------------

  void check_workers(Config& cfg) {
    auto& workers = cfg.process.workers;
    if (workers.empty()) return;
    std::map<std::pair<std::string, uint16_t>, std::string> polled;  // "r.p", queue -> worker path
    for (size_t w = 0; w < workers.size(); ++w) {
      for (size_t i = 0; i < workers[w].poll.size(); ++i) {
        const PollSpec& ps = workers[w].poll[i];
        const PollSite& site = poll_sites_[w][i];
        auto err = [&](const std::string& msg) { throw ConfigError(site.pos, site.path, msg); };
        RouterConfig* r = find_router(cfg, ps.router);
        if (r == nullptr) err(fmt::format("no router {}", ps.router));
        const PortConfig* p = find_port(*r, ps.port);
        if (p == nullptr) err(fmt::format("no port {} in router {}", ps.port, ps.router));
        std::string name = ps.router + "." + ps.port;
        if (site.queue_n >= p->rx_queues) {
          err(fmt::format("{} has no queue {} (it has {} rx queue{})", name, site.queue,
                          p->rx_queues, p->rx_queues == 1 ? "" : "s"));
        }
        std::string owner = fmt::format("process.workers[{}]", w);
        auto [it, fresh] = polled.emplace(std::pair{name, ps.queue}, owner);
        if (!fresh)
          err(fmt::format("{} queue {} is already polled by {}", name, ps.queue, it->second));
      }
    }
    for (const auto& r : cfg.routers) {
      for (const auto& p : r.ports) {
        for (uint16_t q = 0; q < p.rx_queues; ++q) {
          std::string name = r.id + "." + p.name;
          if (polled.count(std::pair{name, q}) == 0) {
            throw ConfigError(workers_pos_, "process.workers",
                              fmt::format("{} queue {} is polled by no worker", name, q));
          }
        }
      }
    }
  }

  // ---- stage lists and pipelines -------------------------------------------------------------

  // Expands a stage list and parses every entry's parameters, once, into its builder. Names are
  // unique in the chain: `name:` if given, else the kind, with _N (0-based, by order) when the
  // kind repeats without names.
  std::vector<StageSpec> stage_list(const YAML::Node& list, const std::string& file,
                                    const std::string& path,
                                    std::vector<LinkParams>* links = nullptr) {
    const std::vector<StageYaml> entries = expand(list, file, path);
    std::map<std::string, int> unnamed;
    for (const auto& e : entries) {
      if (e.name.empty()) ++unnamed[e.kind];
    }
    std::map<std::string, int> seen;
    std::map<std::string, const StageYaml*> names;
    std::vector<StageSpec> out;
    for (const auto& e : entries) {
      std::string name = e.name;
      if (name.empty()) {
        name = unnamed[e.kind] > 1 ? fmt::format("{}_{}", e.kind, seen[e.kind]++) : e.kind;
      }
      if (auto [it, fresh] = names.emplace(name, &e); !fresh) {
        throw ConfigError(e.pos, e.path,
                          fmt::format("stage name '{}' is already used in this chain at {}", name,
                                      it->second->path));
      }
      out.push_back(StageSpec{e.kind, name, StageRegistry::instance().parse(e, e.pos.file), e.pos,
                              e.path});
      if (links != nullptr && e.kind == "link") {
        // Parsed once more (the registry's parser accepted it) for the checks of link events.
        YamlMap lm = stage_params(e, e.pos.file);
        links->push_back(parse_link_params(lm, LinkParams{}));
      }
    }
    return out;
  }

  std::vector<StageYaml> expand(const YAML::Node& list, const std::string& file,
                                const std::string& path) {
    std::vector<StageYaml> out;
    if (!list.IsDefined() || list.IsNull()) return out;
    if (!list.IsSequence()) {
      throw ConfigError(pos_of(list, file), path, "expected a list of stages");
    }
    size_t i = 0;
    for (const auto& entry : list) {
      std::string epath = fmt::format("{}[{}]", path, i++);
      SourcePos epos = pos_of(entry, file);
      if (entry.IsScalar()) {
        out.push_back(StageYaml{convert<std::string>(entry, file, epath), "",
                                YAML::Node(YAML::NodeType::Map), epos, epath});
        check_kind(out.back());
        continue;
      }
      if (!entry.IsMap()) {
        throw ConfigError(epos, epath,
                          "expected a stage name, {stage: NAME, ...} or {pipeline: NAME}");
      }
      // A map seen before through a YAML alias has had its "stage" key taken out already.
      auto seen = std::find_if(stage_maps_.begin(), stage_maps_.end(),
                               [&](const auto& s) { return s.first.is(entry); });
      if (seen != stage_maps_.end()) {
        StageYaml spec = seen->second;
        spec.path = epath;
        out.push_back(std::move(spec));
        continue;
      }
      YamlMap m(entry, file, epath);
      if (m.has("pipeline")) {
        if (m.has("stage")) m.fail("stage", "a stage entry has either stage or pipeline, not both");
        m.only({"pipeline"});
        auto name = m.get<std::string>("pipeline");
        if (!valid_name(name)) {
          m.fail("pipeline", fmt::format("invalid pipeline name '{}'", name));
        }
        m.done();
        const auto& stages = pipeline(name, m.pos("pipeline"), m.path("pipeline"));
        out.insert(out.end(), stages.begin(), stages.end());
      } else if (m.has("stage")) {
        StageYaml spec{m.get<std::string>("stage"), "", entry, epos, epath};
        check_kind(spec);
        if (m.has("name")) {
          spec.name = m.get<std::string>("name");
          if (!valid_name(spec.name)) {
            m.fail("name", fmt::format("invalid stage name '{}'", spec.name));
          }
        }
        // params: the map without its "stage" and "name" keys, so a stage sees only its own keys
        // (with their positions).
        spec.params.remove("stage");
        spec.params.remove("name");
        stage_maps_.emplace_back(entry, spec);
        out.push_back(std::move(spec));
      } else {
        throw ConfigError(epos, epath,
                          "expected a stage name, {stage: NAME, ...} or {pipeline: NAME}");
      }
    }
    return out;
  }

  static void check_kind(const StageYaml& spec) {
    if (!valid_name(spec.kind)) {
      throw ConfigError(spec.pos, spec.path, fmt::format("invalid stage name '{}'", spec.kind));
    }
  }

  // The expanded stages of pipelines/NAME.yaml (each pipeline is read once).
  const std::vector<StageYaml>& pipeline(const std::string& name, const SourcePos& ref_pos,
                                         const std::string& ref_path) {
    if (auto it = pipelines_.find(name); it != pipelines_.end()) return it->second;
    if (auto it = std::find(stack_.begin(), stack_.end(), name); it != stack_.end()) {
      std::string chain;
      for (; it != stack_.end(); ++it) chain += *it + " -> ";
      throw ConfigError(ref_pos, ref_path, "pipeline cycle: " + chain + name);
    }
    std::string file;
    for (const auto& dir : dirs_) {
      fs::path candidate = fs::path(dir) / (name + ".yaml");
      // Whatever is there is taken, so that a directory or a FIFO is refused by name.
      std::error_code ec;
      if (fs::exists(candidate, ec)) {
        file = candidate.string();
        break;
      }
    }
    if (file.empty()) {
      std::string searched;
      for (const auto& d : dirs_) searched += (searched.empty() ? "" : ", ") + d;
      throw ConfigError(
          ref_pos, ref_path,
          fmt::format("pipeline {} not found: no {}.yaml in [{}]", name, name, searched));
    }
    stack_.push_back(name);
    YAML::Node root = parse_yaml(read_text(file), file);
    std::string base = "pipeline " + name;
    YamlMap m(root, file, base, SourcePos{file, 1, 1});
    m.only({"name", "description", "stages"});
    auto declared = m.get<std::string>("name");
    if (declared != name) {
      m.fail("name", fmt::format("pipeline name '{}' does not match its file name {}.yaml",
                                 declared, name));
    }
    m.get_or<std::string>("description", "");
    if (!m.has("stages")) m.fail("stages", "missing required key");
    auto stages_node = m.node("stages");
    m.done();
    std::vector<StageYaml> stages = expand(stages_node, file, m.path("stages"));
    stack_.pop_back();
    return pipelines_.emplace(name, std::move(stages)).first->second;
  }

  std::vector<std::string> dirs_;
  std::string file_;
  std::map<std::string, std::string> devices_;  // EAL device name -> "router.port"
  SourcePos workers_pos_;
  std::vector<std::vector<PollSite>> poll_sites_;  // per worker, per poll entry
  std::map<std::string, std::vector<StageYaml>> pipelines_;
  std::vector<std::string> stack_;  // pipelines being expanded, outermost first
  std::vector<std::pair<YAML::Node, StageYaml>> stage_maps_;
  std::map<std::string, std::string> port_links_;  // "router.port" -> where its link: is
  std::set<std::string> port_ipim_;                // ports with their own ipim: key
};

}  // namespace

Config load_config_string(const std::string& text, const std::string& file,
                          const std::vector<std::string>& pipeline_dirs) {
  return Loader(pipeline_dirs).load(text, file);
}

Config load_config(const std::string& path, const std::vector<std::string>& pipeline_dirs) {
  return load_config_string(read_text(path), path, pipeline_dirs);
}

std::vector<std::string> default_pipeline_dirs(const std::string& config_path) {
  fs::path dir = fs::path(config_path).parent_path();
  if (dir.empty()) dir = ".";
  return {(dir / "pipelines").lexically_normal().string(),
          (dir / ".." / "pipelines").lexically_normal().string()};
}

}  // namespace pathlab
