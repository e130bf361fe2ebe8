#include "harness.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_eal.h>
#include <rte_mempool.h>
#pragma GCC diagnostic pop

#include "pathlab/config/loader.hpp"
#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/router/meta.hpp"

namespace pltest {
namespace {

using namespace pathlab;

// rte_eal_init once per process (it cannot be repeated); every test builds its own Dataplane.
class DpdkEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix =
        std::string("pltest-") + program_invocation_short_name + "-" + std::to_string(getpid());
    std::vector<std::string> args = {"t",    "--no-huge",      "-m",
                                     "512",  "--no-pci",       "-l",
                                     "0,1",  "--no-telemetry", "--file-prefix",
                                     prefix, "--log-level",    "*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init";
    pathlab::remove_runtime_dir_at_exit();
  }
  void TearDown() override { rte_eal_cleanup(); }
};
::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new DpdkEnv);

Bytes from_hex(const std::string& h) {
  Bytes b(h.size() / 2);
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
  }
  return b;
}

const YAML::Node& frames_doc() {
  static const YAML::Node doc = [] {
    try {
      return YAML::LoadFile(frames_path());
    } catch (const std::exception&) {
      return YAML::Node();
    }
  }();
  return doc;
}

YAML::Node field_node(const std::string& name, const std::string& field) {
  const YAML::Node& doc = frames_doc();
  if (!doc.IsMap() || !doc[name]) return YAML::Node();
  return doc[name][field];
}

}  // namespace

std::string frames_path() {
  if (const char* p = std::getenv("PATHLAB_ROUTER_FRAMES")) return p;
  const char* root = std::getenv("PATHLAB_BUILD_ROOT");
  return std::string(root ? root : ".") + "/tests/router/router_frames.json";
}

bool frames_loaded() { return frames_doc().IsMap() && frames_doc().size() > 0; }

Bytes frame(const std::string& name, const std::string& field) {
  const YAML::Node n = field_node(name, field);
  if (!n) {
    ADD_FAILURE() << "no frame " << name << "." << field << " in " << frames_path();
    return {};
  }
  return from_hex(n.as<std::string>());
}

int frame_int(const std::string& name, const std::string& field) {
  const YAML::Node n = field_node(name, field);
  return n ? n.as<int>() : -1;
}

std::string frame_str(const std::string& name, const std::string& field) {
  const YAML::Node n = field_node(name, field);
  return n ? n.as<std::string>() : std::string();
}

std::vector<std::string> frame_names(const std::string& prefix) {
  std::vector<std::string> names;
  const YAML::Node& doc = frames_doc();
  if (!doc.IsMap()) return names;
  for (const auto& kv : doc) {
    auto k = kv.first.as<std::string>();
    if (k.rfind(prefix, 0) == 0) names.push_back(k);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

::testing::AssertionResult same_frame(const Bytes& got, const Bytes& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure()
         << "frames differ at byte " << i << " (got " << got.size() << " bytes, want "
         << want.size() << ")\n  got:  " << hex(got) << "\n  want: " << hex(want);
}

std::string lab_yaml(const LabOptions& o) {
  std::string y;
  y += "process:\n";
  y += "  mbufs: " + std::to_string(o.mbufs) + "\n";
  y += "  mbuf_cache: 32\n";
  y += o.process_extra;
  y += "routers:\n";
  y += "  - id: r1\n";
  y += "    ports:\n";
  auto chain = [](const char* key, const std::string& list) {
    return list.empty() ? std::string() : std::string(", ") + key + ": " + list;
  };
  y += "      - {name: p0, mac: \"02:00:00:00:01:00\", ipv4: [10.0.0.1/24], "
       "ipv6: [\"2001:db8::1/64\"]" +
       chain("ingress", o.p0_ingress) + "}\n";
  y += "      - {name: p1, mac: \"02:00:00:00:01:01\", ipv4: [" + o.p1_ipv4 + "], "
       "ipv6: [\"2001:db8:1::1/64\"], mtu: " +
       std::to_string(o.p1_mtu) + chain("egress", o.p1_egress) + "}\n";
  y += "      - {name: p2, mac: \"02:00:00:00:01:02\", ipv4: [10.0.2.1/24], "
       "ipv6: [\"2001:db8:2::1/64\"]" +
       chain("egress", o.p2_egress) + "}\n";
  y += "    routes:\n";
  if (o.default_routes) {
    y += "      - {prefix: 0.0.0.0/0, via: 10.0.2.254}\n";
    y += "      - {prefix: \"::/0\", via: \"2001:db8:2::fe\"}\n";
  }
  y += "      - {prefix: 192.168.0.0/16, via: 10.0.1.2}\n";
  y += "      - {prefix: 192.168.1.0/24, via: 10.0.0.2}\n";
  y += "      - {prefix: 192.168.1.128/25, port: p2}\n";
  y += "      - {prefix: \"2001:db8:100::/48\", via: \"2001:db8:1::2\"}\n";
  y += "      - {prefix: \"2001:db8:100:1::/64\", via: \"2001:db8::2\"}\n";
  y += "      - {prefix: \"2001:db8:100:2::/64\", port: p2}\n";
  y += "    neighbours:\n";
  y += "      - {port: p0, ip: 10.0.0.2, mac: \"02:00:00:00:a0:02\"}\n";
  y += "      - {port: p0, ip: \"2001:db8::2\", mac: \"02:00:00:00:a0:02\"}\n";
  y += "      - {port: p0, ip: \"fe80::2\", mac: \"02:00:00:00:a0:02\"}\n";
  if (o.static_h1) {
    y += "      - {port: p1, ip: 10.0.1.2, mac: \"02:00:00:00:a1:02\"}\n";
    y += "      - {port: p1, ip: \"2001:db8:1::2\", mac: \"02:00:00:00:a1:02\"}\n";
  }
  y += "      - {port: p2, ip: 10.0.2.254, mac: \"02:00:00:00:a2:fe\"}\n";
  y += "      - {port: p2, ip: \"2001:db8:2::fe\", mac: \"02:00:00:00:a2:fe\"}\n";
  y += "      - {port: p2, ip: 192.168.1.200, mac: \"02:00:00:00:a2:c8\"}\n";
  y += "      - {port: p2, ip: \"2001:db8:100:2::200\", mac: \"02:00:00:00:a2:c8\"}\n";
  y += "  - id: h\n";
  y += "    ports: [{name: a}, {name: b}, {name: c}]\n";
  y += "links:\n";
  y += "  - {name: l0, ends: [r1.p0, h.a]}\n";
  y += "  - {name: l1, ends: [r1.p1, h.b]}\n";
  y += "  - {name: l2, ends: [r1.p2, h.c]}\n";
  return y;
}

Lab::Lab(const LabOptions& o) {
  const Config cfg = load_config_string(lab_yaml(o), "t.yaml", {});
  dp_ = std::make_unique<Dataplane>(cfg);
  dp_->build();
  r_ = dp_->router("r1");
  if (r_ == nullptr) throw std::runtime_error("no router r1");
  pool_size_ = dp_->pool()->size;
}

Lab::~Lab() { dp_.reset(); }

rte_mbuf* Lab::mbuf(const Bytes& f) {
  rte_mbuf* m = rte_pktmbuf_alloc(dp_->pool());
  if (m == nullptr) throw std::runtime_error("mbuf pool empty");
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    throw std::runtime_error("frame does not fit an mbuf");
  }
  std::memcpy(p, f.data(), f.size());
  return m;
}

void Lab::rx(uint8_t port, const std::vector<Bytes>& frames) {
  std::vector<rte_mbuf*> pkts;
  for (const auto& f : frames) pkts.push_back(mbuf(f));
  rx_mbufs(port, std::move(pkts));
}

void Lab::rx_mbufs(uint8_t port, std::vector<rte_mbuf*> pkts) {
  r_->process(io(), port, pkts.data(), static_cast<uint16_t>(pkts.size()), now_);
}

namespace {
Bytes bytes_of(const rte_mbuf* m) {
  Bytes out(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
  if (p != nullptr && p != out.data()) std::memcpy(out.data(), p, out.size());
  return out;
}
}  // namespace

std::vector<Bytes> Lab::tx(uint8_t port) {
  std::vector<Bytes> out;
  rte_mbuf* pkts[64];
  for (;;) {
    const unsigned n = rte_ring_dequeue_burst(r_->port(port).tx_ring,
                                              reinterpret_cast<void**>(pkts), 64, nullptr);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      out.push_back(bytes_of(pkts[i]));
      rte_pktmbuf_free(pkts[i]);
    }
  }
  return out;
}

unsigned Lab::tx_pending() {
  unsigned n = 0;
  for (uint8_t p = 0; p < r_->port_count(); ++p) n += rte_ring_count(r_->port(p).tx_ring);
  return n;
}

unsigned Lab::ctrl_pending() { return rte_ring_count(io().ctrl); }

unsigned Lab::poll() { return dp_->control().poll(); }

std::vector<Injected> Lab::injected() {
  std::vector<Injected> out;
  rte_ring* ring = dp_->worker(0).inject;
  rte_mbuf* m = nullptr;
  while (rte_ring_dequeue(ring, reinterpret_cast<void**>(&m)) == 0) {
    const PktMeta& md = meta(m);
    out.push_back(Injected{md.router, md.out_port, bytes_of(m)});
    rte_pktmbuf_free(m);
  }
  return out;
}

unsigned Lab::deliver_injected() {
  rte_ring* ring = dp_->worker(0).inject;
  rte_mbuf* m = nullptr;
  unsigned n = 0;
  while (rte_ring_dequeue(ring, reinterpret_cast<void**>(&m)) == 0) {
    const PktMeta& md = meta(m);
    dp_->routers()[md.router]->send_ctrl(io(), md.out_port, &m, 1);
    ++n;
  }
  return n;
}

Counts Lab::counts() {
  const RouterTotals t = dp_->totals(*r_);
  Counts c;
  c["rx"] = t.rx();
  c["tx"] = t.tx();
  c["consumed"] = t.consumed;
  for (size_t i = 0; i < t.ports.size(); ++i) {
    const std::string& name = r_->port(static_cast<uint8_t>(i)).name;
    c["rx:" + name] = t.ports[i].rx_pkts;
    c["tx:" + name] = t.ports[i].tx_pkts;
    c["ctrl_tx:" + name] = t.ports[i].ctrl_tx_pkts;
  }
  for (const auto& [name, v] : t.drops) c["drop:" + name] = v;
  for (const auto& [name, v] : t.events) c["event:" + name] = v;
  return c;
}

Counts Lab::delta(const Counts& before) {
  Counts d;
  for (const auto& [k, v] : counts()) {
    auto it = before.find(k);
    const uint64_t b = it == before.end() ? 0 : it->second;
    if (v != b) d[k] = v - b;
  }
  return d;
}

uint64_t Lab::drop(std::string_view name) {
  for (const auto& [n, v] : dp_->totals(*r_).drops) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no drop counter " << name;
  return 0;
}

uint64_t Lab::event(std::string_view name) {
  for (const auto& [n, v] : dp_->totals(*r_).events) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no event counter " << name;
  return 0;
}

::testing::AssertionResult Lab::balanced() {
  const RouterTotals t = dp_->totals(*r_);
  if (t.balanced()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "accounting: rx " << t.rx() << " + created " << t.created
                                       << " != tx " << t.tx()
                                       << " + drops " << t.dropped() << " + consumed "
                                       << t.consumed << " + held " << t.held;
}

unsigned Lab::in_use() { return pool_size_ - rte_mempool_avail_count(dp_->pool()); }

namespace {
template <typename Addr, typename Key>
uint64_t neigh_word(const Router& r, uint8_t port, const std::string& ip, const std::optional<Addr>& a,
                    Key key_of) {
  if (!a) {
    ADD_FAILURE() << "bad address " << ip;
    return 0;
  }
  const uint32_t ni = r.neighbours().find(key_of(port, *a));
  return ni == NeighbourTable::kNone ? 0 : r.neighbours().at(ni).word.load();
}
}  // namespace

uint64_t Lab::neigh4(uint8_t port, const std::string& ip) {
  return neigh_word(*r_, port, ip, parse_ip4(ip), neigh_key4);
}

uint64_t Lab::neigh6(uint8_t port, const std::string& ip) {
  return neigh_word(*r_, port, ip, parse_ip6(ip), neigh_key6);
}

Counts expect_rx(uint8_t in, uint64_t n, Counts extra) {
  extra["rx"] += n;
  extra["rx:p" + std::to_string(in)] += n;
  return extra;
}

std::string neigh_mac(uint64_t word) {
  MacAddr m;
  for (int i = 0; i < 6; ++i) m.b[i] = static_cast<uint8_t>(word >> (8 * i));
  return to_string(m);
}

}  // namespace pltest
