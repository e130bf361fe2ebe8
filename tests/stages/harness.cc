// See harness.hpp.
#include "harness.hpp"

#include "pathlab/router/meta.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <cstring>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/engine/stage_registry.hpp"
#include "pathlab/config/error.hpp"
#include "pathlab/engine/chain.hpp"
#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/engine/clock.hpp"
#include "pathlab/net/ptype.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {

Bytes hex(const std::string& s) {
  Bytes b;
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    b.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  }
  return b;
}

std::string to_hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

Frames::Frames(const std::string& file) {
  const char* root = std::getenv("PATHLAB_BUILD_ROOT");
  const std::string path = std::string(root ? root : ".") + "/tests/stages/" + file;
  const YAML::Node doc = YAML::LoadFile(path);
  for (const auto& c : doc) {
    auto& fields = cases_[c.first.as<std::string>()];
    for (const auto& f : c.second) fields[f.first.as<std::string>()] = f.second.as<std::string>();
  }
}

bool Frames::has(const std::string& name) const { return cases_.count(name) != 0; }

Bytes Frames::get(const std::string& name, const std::string& field) const {
  auto c = cases_.find(name);
  if (c == cases_.end()) throw std::runtime_error("no frame case " + name);
  auto f = c->second.find(field);
  if (f == c->second.end()) throw std::runtime_error("no field " + field + " in case " + name);
  return hex(f->second);
}

std::vector<std::pair<std::string, Bytes>> Frames::all() const {
  std::vector<std::pair<std::string, Bytes>> out;
  for (const auto& [name, fields] : cases_) {
    for (const char* field : {"in", "out"}) {
      auto f = fields.find(field);
      if (f != fields.end() && !f->second.empty()) out.emplace_back(name + "." + field, hex(f->second));
    }
  }
  return out;
}

long Frames::number(const std::string& name, const std::string& field) const {
  return std::stol(cases_.at(name).at(field));
}

rte_mempool* pool() {
  static rte_mempool* p = [] {
    const std::string prefix = "pltest-stages-" + std::to_string(getpid());
    std::vector<std::string> args = {"t",    "--no-huge",      "-m",
                                     "256",  "--no-pci",       "-l",
                                     "0",    "--no-telemetry", "--file-prefix",
                                     prefix, "--log-level",    "*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) std::abort();
    pathlab::remove_runtime_dir_at_exit();
    init_packet_view();
    rte_mempool* mp =
        rte_pktmbuf_pool_create("stage_test", 2047, 0, kMetaSize, RTE_MBUF_DEFAULT_BUF_SIZE,
                                SOCKET_ID_ANY);
    if (mp == nullptr) std::abort();
    return mp;
  }();
  return p;
}

rte_mbuf* make_mbuf(const Bytes& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  if (m == nullptr) throw std::runtime_error("mbuf pool empty");
  char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  if (d == nullptr) throw std::runtime_error("frame too large");
  std::memcpy(d, frame.data(), frame.size());
  meta(m) = PktMeta{};
  m->port = 0;  // the router-local ingress port, as the router's input leaves it
  m->packet_type = 0;
  uint16_t off = 12;
  uint16_t type = 0;
  for (int tags = 0; tags < 3 && frame.size() >= off + 2u; ++tags) {
    type = static_cast<uint16_t>(frame[off] << 8 | frame[off + 1]);
    if (type != 0x8100 && type != 0x88a8) break;
    off += 4;
  }
  m->l2_len = off + 2;
  if (type == 0x0800 && frame.size() >= m->l2_len + 20u) {
    m->packet_type = kPtype4;
    m->l3_len = (frame[m->l2_len] & 0xf) * 4;
  } else if (type == 0x86dd && frame.size() >= m->l2_len + 40u) {
    m->packet_type = kPtype6;
    m->l3_len = 40;
  }
  parse_view(m);
  return m;
}

Bytes bytes_of(const rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  return Bytes(p, p + m->data_len);
}

StageSite StageRun::default_site() {
  StageSite s;
  s.router = "r1";
  s.port = "p0";
  s.port_mtu = 1500;
  s.ip4.push_back(*parse_ip4_prefix("10.0.0.1/24"));
  s.ip6.push_back(*parse_ip6_prefix("2001:db8::1/64"));
  return s;
}

namespace {
StageYaml spec_of(const std::string& kind, const std::string& yaml_params) {
  StageYaml spec;
  spec.kind = kind;
  spec.params = yaml_params.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(yaml_params);
  spec.pos = {"test.yaml", 1, 1};
  spec.path = "stage";
  return spec;
}
}  // namespace

StageRun::StageRun(const std::string& kind, const std::string& yaml_params)
    : StageRun(kind, yaml_params, default_site()) {}

StageRun::StageRun(const std::string& kind, const std::string& yaml_params, const StageSite& site) {
  pool();
  const StageYaml spec = spec_of(kind, yaml_params);
  stage_ = StageRegistry::instance().parse(spec, "test.yaml")(site);
}

StageRun::~StageRun() = default;

Nanos StageRun::now() const { return now_ ? *now_ : TscClock().now(); }

std::vector<Out> StageRun::run(const std::vector<Bytes>& frames) {
  Batch b;
  b.n = 0;
  b.ngen = 0;
  b.now = now();
  for (const auto& f : frames) {
    b.pkts[b.n] = make_mbuf(f);
    b.verdict[b.n++] = 0xaa;  // the stage must write every verdict
  }
  stage_->process(b);
  std::vector<Out> out(b.n);
  for (uint16_t i = 0; i < b.n; ++i) {
    out[i].verdict = b.verdict[i];
    if (b.verdict[i] == kPass || b.verdict[i] == kGenerated || b.verdict[i] == kRedirect) {
      out[i].bytes = bytes_of(b.pkts[i]);
      out[i].redirect_port = b.redirect_port[i];
    }
  }
  b.nredirect = 0;
  Chain::compact(*stage_, b);  // counts drops (and frees them) as the engine does
  for (uint16_t i = 0; i < b.n; ++i) rte_pktmbuf_free(b.pkts[i]);
  for (uint16_t i = 0; i < b.ngen; ++i) rte_pktmbuf_free(b.gen[i]);
  for (uint16_t i = 0; i < b.nredirect; ++i) rte_pktmbuf_free(b.redirect[i]);
  return out;
}

uint64_t StageRun::action(std::string_view name) const {
  const auto d = stage_->action_descs();
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i].name == name) return stage_->action_count(i);
  }
  ADD_FAILURE() << "no action counter " << name;
  return ~0ull;
}

uint64_t StageRun::drop(std::string_view name) const {
  const auto d = stage_->drop_descs();
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i].name == name) return stage_->drop_count(i);
  }
  ADD_FAILURE() << "no drop counter " << name;
  return ~0ull;
}

std::vector<Bytes> passed(const std::vector<Out>& out) {
  std::vector<Bytes> kept;
  for (const Out& o : out) {
    if (o.verdict == kPass) kept.push_back(o.bytes);
  }
  return kept;
}

MbufOut run_mbuf(StageRun& s, const Bytes& frame) {
  Batch b;
  b.n = 1;
  b.ngen = 0;
  b.now = s.now();
  b.pkts[0] = make_mbuf(frame);
  b.verdict[0] = 0xaa;
  s.stage().process(b);
  rte_mbuf* m = b.pkts[0];
  MbufOut o{b.verdict[0],
            bytes_of(m),
            m->pkt_len,
            m->data_len,
            static_cast<uint16_t>(m->l2_len),
            static_cast<uint16_t>(m->l3_len)};
  rte_pktmbuf_free(m);
  return o;
}

void expect_rewritten(const MbufOut& o, const Bytes& want, const std::string& what) {
  EXPECT_EQ(o.verdict, kPass) << what;
  EXPECT_EQ(to_hex(o.bytes), to_hex(want)) << what;
  EXPECT_TRUE(checksums_ok(o.bytes)) << what;
  EXPECT_EQ(o.pkt_len, want.size()) << what;
  EXPECT_EQ(o.data_len, want.size()) << what;
}

std::vector<std::string> carrier_cases(std::span<const char* const> carriers,
                                       std::initializer_list<const char*> scenarios) {
  std::vector<std::string> names;
  for (const char* c : carriers) {
    for (const char* s : scenarios) names.push_back(std::string(c) + "/" + s);
  }
  return names;
}

std::string parse_error(const std::string& kind, const std::string& yaml_params) {
  try {
    StageRegistry::instance().parse(spec_of(kind, yaml_params), "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

void expect_parse_errors(const std::string& kind, const ParseCases& cases) {
  for (const auto& [yaml, error] : cases) EXPECT_EQ(parse_error(kind, yaml), error) << yaml;
}

::testing::AssertionResult checksums_ok(const Bytes& frame) {
  rte_mbuf* m = make_mbuf(frame);
  PktView v;
  if (!view_packet(m, v)) {
    rte_pktmbuf_free(m);
    return ::testing::AssertionFailure() << "not an IP packet";
  }
  auto r = ::testing::AssertionSuccess();
  if (v.version == 4) {
    const uint16_t ihl = (v.l3[0] & 0xf) * 4;
    if (rte_raw_cksum(v.l3, ihl) != 0xffff)
      r = ::testing::AssertionFailure() << "IPv4 header checksum";
  }
  if (r && v.l4 != nullptr) {
    if (v.proto == kProtoIcmp4) {
      if (rte_raw_cksum(v.l4, v.l4_len) != 0xffff)
        r = ::testing::AssertionFailure() << "ICMP checksum";
    } else if (!l4_cksum_valid(v)) {
      r = ::testing::AssertionFailure() << "transport checksum (proto " << int(v.proto) << ")";
    }
  }
  rte_pktmbuf_free(m);
  return r;
}

Bytes ip4_frame(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                uint8_t tcp_flags, uint8_t icmp_type) {
  const size_t l4 = proto == kProtoTcp ? 20 : (proto == kProtoUdp ? 12 : 8);
  Bytes f(14 + 20 + l4, 0);
  f[12] = 0x08;
  uint8_t* h = f.data() + 14;
  h[0] = 0x45;
  store_be16(h + 2, static_cast<uint16_t>(20 + l4));
  h[8] = 64;
  h[9] = proto;
  store_be32(h + 12, src);
  store_be32(h + 16, dst);
  csum::set_ip4_header(h, 20);
  uint8_t* t = h + 20;
  if (proto == kProtoIcmp4) {
    t[0] = icmp_type;
    store_be16(t + 4, sport);
    put16(t + 2, static_cast<uint16_t>(~csum::sum(t, l4)));
    return f;
  }
  store_be16(t, sport);
  store_be16(t + 2, dport);
  if (proto == kProtoUdp) {
    store_be16(t + 4, 12);
    std::memcpy(t + 8, "data", 4);
  } else {
    t[12] = 0x50;
    t[13] = tcp_flags;
    t[14] = 0xff;
  }
  PktView v;
  rte_mbuf* m = make_mbuf(f);
  if (view_packet(m, v)) l4_cksum_full(v);
  Bytes out = bytes_of(m);
  rte_pktmbuf_free(m);
  return out;
}

}  // namespace pathlab::test
