// ICMP generation in place, compared byte for byte with reference packets built by scapy
// (tests/net/gen_icmp_refs.py, run at build time), in several mbuf layouts: plenty of headroom,
// little or none, and chains of small segments.
#include "pathlab/net/icmp.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/net/addr.hpp"

namespace pathlab::icmp {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr unsigned kPoolSize = 1023;
rte_mempool* g_pool = nullptr;
rte_mempool* g_small_pool = nullptr;  // 192-byte buffers

class DpdkEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "pltest-net-icmp-" + std::to_string(getpid());
    std::vector<std::string> args = {"net_icmp_test", "--no-huge",      "-m",          "256",
                                     "--no-pci",      "--no-telemetry", "-l",          "0",
                                     "--file-prefix", prefix,           "--log-level", "*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init";
    pathlab::remove_runtime_dir_at_exit();
    g_pool = rte_pktmbuf_pool_create("icmp_test", kPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     SOCKET_ID_ANY);
    ASSERT_NE(g_pool, nullptr);
    g_small_pool = rte_pktmbuf_pool_create("icmp_small", 63, 0, 0, 192, SOCKET_ID_ANY);
    ASSERT_NE(g_small_pool, nullptr);
  }
  void TearDown() override {
    rte_mempool_free(g_pool);
    rte_mempool_free(g_small_pool);
    rte_eal_cleanup();
  }
};
::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new DpdkEnv);

Bytes from_hex(const std::string& h) {
  Bytes b(h.size() / 2);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
  return b;
}

Bytes frame_bytes(const rte_mbuf* m) {
  Bytes out(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
  if (p != nullptr && p != out.data()) std::memcpy(out.data(), p, out.size());
  return out;
}

// One segment of `data` at headroom `headroom` (-1: the pool default).
rte_mbuf* one_segment(rte_mempool* pool, const uint8_t* data, size_t len, int headroom = -1) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  if (headroom >= 0) m->data_off = static_cast<uint16_t>(headroom);
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  if (len != 0) std::memcpy(p, data, len);
  return m;
}

// A chain: `first` bytes in the head segment, then `rest` bytes a segment.
rte_mbuf* chained(const Bytes& in, size_t first, size_t rest) {
  size_t off = std::min(first, in.size());
  rte_mbuf* head = one_segment(g_pool, in.data(), off);
  while (head != nullptr && off < in.size()) {
    const size_t n = std::min(rest, in.size() - off);
    rte_mbuf* seg = one_segment(g_pool, in.data() + off, n);
    if (seg == nullptr || rte_pktmbuf_chain(head, seg) != 0) {
      rte_pktmbuf_free(head);
      rte_pktmbuf_free(seg);
      return nullptr;
    }
    off += n;
  }
  return head;
}

struct RefCase {
  std::string name, kind, src, refuse;
  uint16_t l2_len = 0;
  uint8_t type = 0, code = 0;
  uint32_t rest = 0;
  Bytes input, expected;
};

std::string refs_path() {
  if (const char* p = std::getenv("PATHLAB_ICMP_REFS")) return p;
  const char* root = std::getenv("PATHLAB_BUILD_ROOT");
  return std::string(root ? root : ".") + "/tests/net/icmp_refs.json";
}

std::vector<RefCase> load_cases() {
  std::vector<RefCase> cases;
  try {
    const YAML::Node doc = YAML::LoadFile(refs_path());
    for (const auto& n : doc) {
      RefCase c;
      c.name = n["name"].as<std::string>();
      c.kind = n["kind"].as<std::string>();
      c.src = n["src"].as<std::string>();
      c.refuse = n["refuse"].as<std::string>();
      c.l2_len = n["l2_len"].as<uint16_t>();
      c.type = static_cast<uint8_t>(n["type"].as<unsigned>());
      c.code = static_cast<uint8_t>(n["code"].as<unsigned>());
      c.rest = n["rest"].as<uint32_t>();
      c.input = from_hex(n["input"].as<std::string>());
      c.expected = from_hex(n["expected"].as<std::string>());
      cases.push_back(std::move(c));
    }
  } catch (const std::exception&) {
    cases.clear();  // RefsLoaded fails with the path
  }
  return cases;
}

const std::vector<RefCase>& cases() {
  static const std::vector<RefCase> c = load_cases();
  return c;
}

TEST(IcmpRefs, RefsLoaded) { EXPECT_GE(cases().size(), 50u) << "reference file " << refs_path(); }

enum class Layout { Default, Headroom10, Headroom0, Chain100, ChainTinyHead };

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Default:
      return "default";
    case Layout::Headroom10:
      return "headroom10";
    case Layout::Headroom0:
      return "headroom0";
    case Layout::Chain100:
      return "chain100";
    case Layout::ChainTinyHead:
      return "chain_tiny_head";
  }
  return "?";
}

rte_mbuf* build(const Bytes& in, Layout l) {
  switch (l) {
    case Layout::Default:
      return one_segment(g_pool, in.data(), in.size());
    case Layout::Headroom10:
      return one_segment(g_pool, in.data(), in.size(), 10);
    case Layout::Headroom0:
      return one_segment(g_pool, in.data(), in.size(), 0);
    case Layout::Chain100:
      return chained(in, 100, 100);
    case Layout::ChainTinyHead:
      return chained(in, 9, 64);
  }
  return nullptr;
}

Refuse run(const RefCase& c, rte_mbuf* m) {
  if (c.kind == "ip4_error") {
    return make_ip4_error(m, c.l2_len, c.type, c.code, c.rest, *parse_ip4(c.src));
  }
  if (c.kind == "ip6_error") {
    return make_ip6_error(m, c.l2_len, c.type, c.code, c.rest, *parse_ip6(c.src));
  }
  if (c.kind == "ip4_echo") {
    make_ip4_echo_reply(m, c.l2_len);
  } else if (c.kind == "ip6_echo") {
    make_ip6_echo_reply(m, c.l2_len);
  } else {
    ADD_FAILURE() << "unknown kind " << c.kind;
  }
  return Refuse::None;
}

class IcmpRef : public ::testing::TestWithParam<std::tuple<size_t, Layout>> {
 protected:
  void SetUp() override { avail_ = rte_mempool_avail_count(g_pool); }
  void TearDown() override { EXPECT_EQ(rte_mempool_avail_count(g_pool), avail_) << "mbuf leak"; }
  unsigned avail_ = 0;
};

TEST_P(IcmpRef, MatchesScapy) {
  const auto [index, layout] = GetParam();
  ASSERT_LT(index, cases().size());
  const RefCase& c = cases()[index];
  rte_mbuf* m = build(c.input, layout);
  ASSERT_NE(m, nullptr);
  const Refuse r = run(c, m);
  EXPECT_STREQ(name(r), c.refuse.c_str());
  const Bytes out = frame_bytes(m);
  if (c.refuse != "none") {
    EXPECT_EQ(out, c.input) << "a refused packet must be left untouched";
  } else {
    ASSERT_EQ(out.size(), c.l2_len + c.expected.size());
    // L2 header kept in front of the new IP header (the caller rewrites it).
    EXPECT_EQ(Bytes(out.begin(), out.begin() + c.l2_len),
              Bytes(c.input.begin(), c.input.begin() + c.l2_len));
    const Bytes ip(out.begin() + c.l2_len, out.end());
    EXPECT_EQ(ip, c.expected);
    if (ip != c.expected) {
      for (size_t i = 0; i < ip.size(); ++i) {
        if (ip[i] != c.expected[i]) {
          ADD_FAILURE() << "first difference at IP offset " << i << ": got " << int{ip[i]}
                        << " want " << int{c.expected[i]};
          break;
        }
      }
    }
    if (c.kind == "ip4_error" || c.kind == "ip6_error") {
      EXPECT_EQ(m->nb_segs, 1);
      EXPECT_EQ(m->data_len, m->pkt_len);
      EXPECT_LE(uint32_t{m->data_off} + m->data_len, m->buf_len);
    }
  }
  rte_pktmbuf_free(m);
}

std::vector<size_t> case_indexes() {
  std::vector<size_t> v(cases().size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

INSTANTIATE_TEST_SUITE_P(Refs, IcmpRef,
                         ::testing::Combine(::testing::ValuesIn(case_indexes()),
                                            ::testing::Values(Layout::Default, Layout::Headroom10,
                                                              Layout::Headroom0, Layout::Chain100,
                                                              Layout::ChainTinyHead)),
                         [](const ::testing::TestParamInfo<IcmpRef::ParamType>& info) {
                           return cases()[std::get<0>(info.param)].name + "__" +
                                  layout_name(std::get<1>(info.param));
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(IcmpRef);

// ---- cases scapy does not need to check ---------------------------------------------------------

const RefCase* find(const std::string& name) {
  for (const auto& c : cases()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

class Icmp : public ::testing::Test {
 protected:
  void SetUp() override {
    avail_ = rte_mempool_avail_count(g_pool);
    small_avail_ = rte_mempool_avail_count(g_small_pool);
  }
  void TearDown() override {
    EXPECT_EQ(rte_mempool_avail_count(g_pool), avail_) << "mbuf leak";
    EXPECT_EQ(rte_mempool_avail_count(g_small_pool), small_avail_) << "mbuf leak";
  }
  unsigned avail_ = 0, small_avail_ = 0;
};

const Ip4Addr kR4{0x0a000001};
const Ip6Addr kR6 = *parse_ip6("2001:db8:1::1");

TEST_F(Icmp, MalformedIsRefusedUntouched) {
  const RefCase* c4 = find("v4_time_exceeded_small_udp");
  const RefCase* c6 = find("v6_time_exceeded_small_udp");
  ASSERT_TRUE(c4 && c6);
  auto expect_malformed = [](const Bytes& in, bool v6, uint16_t l2) {
    rte_mbuf* m = one_segment(g_pool, in.data(), in.size());
    ASSERT_NE(m, nullptr);
    const Refuse r =
        v6 ? make_ip6_error(m, l2, 3, 0, 0, kR6) : make_ip4_error(m, l2, 11, 0, 0, kR4);
    EXPECT_EQ(r, Refuse::Malformed) << (v6 ? "v6" : "v4") << " len " << in.size() << " l2 " << l2;
    EXPECT_EQ(frame_bytes(m), in);
    rte_pktmbuf_free(m);
  };
  // Every truncation that cuts the IP header.
  for (size_t len = 0; len < 14 + 20; ++len) {
    expect_malformed(Bytes(c4->input.begin(), c4->input.begin() + len), false, 14);
  }
  for (size_t len = 0; len < 14 + 40; ++len) {
    expect_malformed(Bytes(c6->input.begin(), c6->input.begin() + len), true, 14);
  }
  // Wrong version, short IHL, total length shorter than the header, absurd l2_len.
  expect_malformed(c6->input, false, 14);
  expect_malformed(c4->input, true, 14);
  Bytes bad = c4->input;
  bad[14] = 0x44;
  expect_malformed(bad, false, 14);
  bad = c4->input;
  bad[14 + 2] = 0;
  bad[14 + 3] = 19;
  expect_malformed(bad, false, 14);
  expect_malformed(c4->input, false, kMaxL2Len + 1);
  expect_malformed(c4->input, false, static_cast<uint16_t>(c4->input.size()));
}

TEST_F(Icmp, TruncatedQuoteStillValid) {
  // A packet cut short in the frame (IP total length says more): quote what is there.
  const RefCase* c = find("v4_host_unreachable");
  ASSERT_TRUE(c);
  const Bytes in(c->input.begin(), c->input.begin() + 60);
  rte_mbuf* m = one_segment(g_pool, in.data(), in.size());
  ASSERT_EQ(make_ip4_error(m, 14, 3, 1, 0, kR4), Refuse::None);
  const Bytes out = frame_bytes(m);
  ASSERT_EQ(out.size(), 14u + 28 + 46);
  EXPECT_EQ(Bytes(out.begin() + 42, out.end()), Bytes(in.begin() + 14, in.end()));
  EXPECT_EQ(rte_raw_cksum(out.data() + 14, 20), 0xffff);
  EXPECT_EQ(rte_raw_cksum(out.data() + 34, out.size() - 34), 0xffff);
  rte_pktmbuf_free(m);
}

TEST_F(Icmp, SharedOrIndirectMbufIsNotWritten) {
  const RefCase* c = find("v4_time_exceeded_small_udp");
  ASSERT_TRUE(c);
  rte_mbuf* m = one_segment(g_pool, c->input.data(), c->input.size());
  ASSERT_NE(m, nullptr);
  rte_mbuf_refcnt_update(m, 1);
  EXPECT_EQ(make_ip4_error(m, 14, 11, 0, 0, kR4), Refuse::NoHeadroom);
  EXPECT_EQ(frame_bytes(m), c->input);
  rte_pktmbuf_free(m);

  rte_mbuf* clone = rte_pktmbuf_clone(m, g_pool);
  ASSERT_NE(clone, nullptr);
  EXPECT_EQ(make_ip4_error(clone, 14, 11, 0, 0, kR4), Refuse::NoHeadroom);
  EXPECT_EQ(frame_bytes(m), c->input);
  rte_pktmbuf_free(clone);
  rte_pktmbuf_free(m);
}

TEST_F(Icmp, BufferTooSmallIsNoHeadroom) {
  // 192-byte buffers, a 180-byte frame at offset 0: the error would need 14 + 28 + 166 bytes.
  const RefCase* c = find("v4_host_unreachable");
  ASSERT_TRUE(c);
  Bytes in = c->input;  // 142 bytes; grow the UDP payload to 166 bytes of IP
  in.resize(180, 0x5a);
  in[14 + 2] = 0;
  in[14 + 3] = 166;
  in[14 + 10] = in[14 + 11] = 0;
  const uint16_t ck = static_cast<uint16_t>(~rte_raw_cksum(in.data() + 14, 20));
  std::memcpy(&in[24], &ck, 2);
  rte_mbuf* m = one_segment(g_small_pool, in.data(), in.size(), 0);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(make_ip4_error(m, 14, 3, 1, 0, kR4), Refuse::NoHeadroom);
  EXPECT_EQ(frame_bytes(m), in);
  rte_pktmbuf_free(m);
  // The same frame fits once it is shorter.
  in.resize(150);
  in[14 + 3] = 136;
  in[14 + 10] = in[14 + 11] = 0;
  const uint16_t ck2 = static_cast<uint16_t>(~rte_raw_cksum(in.data() + 14, 20));
  std::memcpy(&in[24], &ck2, 2);
  m = one_segment(g_small_pool, in.data(), in.size(), 0);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(make_ip4_error(m, 14, 3, 1, 0, kR4), Refuse::None);
  EXPECT_EQ(rte_pktmbuf_pkt_len(m), 14u + 28 + 136);
  rte_pktmbuf_free(m);
}

TEST_F(Icmp, EchoReplyLeavesOtherPacketsAlone) {
  for (const char* n : {"v4_time_exceeded_small_udp", "v6_time_exceeded_small_udp",
                        "v4_refuse_about_dest_unreachable", "v6_refuse_about_dest_unreachable"}) {
    const RefCase* c = find(n);
    ASSERT_TRUE(c) << n;
    for (bool v6 : {false, true}) {
      rte_mbuf* m = one_segment(g_pool, c->input.data(), c->input.size());
      ASSERT_NE(m, nullptr);
      v6 ? make_ip6_echo_reply(m, 14) : make_ip4_echo_reply(m, 14);
      EXPECT_EQ(frame_bytes(m), c->input) << n << (v6 ? " v6" : " v4");
      rte_pktmbuf_free(m);
    }
  }
  // An echo reply is not turned around again, and truncated requests are left alone.
  for (const char* n : {"v4_echo_reply_0", "v6_echo_reply_0"}) {
    const RefCase* c = find(n);
    ASSERT_TRUE(c);
    const bool v6 = n[1] == '6';
    Bytes reply(c->input.begin(), c->input.begin() + 14);
    reply.insert(reply.end(), c->expected.begin(), c->expected.end());
    for (size_t len : {reply.size(), size_t{14}, size_t{30}, size_t{14 + 21},
                       v6 ? size_t{14 + 41} : size_t{14 + 23}}) {
      const Bytes in =
          len == reply.size() ? reply : Bytes(c->input.begin(), c->input.begin() + len);
      rte_mbuf* m = one_segment(g_pool, in.data(), in.size());
      ASSERT_NE(m, nullptr);
      v6 ? make_ip6_echo_reply(m, 14) : make_ip4_echo_reply(m, 14);
      EXPECT_EQ(frame_bytes(m), in) << n << " len " << len;
      rte_pktmbuf_free(m);
    }
  }
}

TEST(IcmpNames, DistinctAndNonEmpty) {
  std::vector<std::string> names;
  for (int i = 0; i <= static_cast<int>(Refuse::Malformed); ++i) {
    names.emplace_back(name(static_cast<Refuse>(i)));
    EXPECT_FALSE(names.back().empty());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

TEST(IcmpClasses, Ip4Sources) {
  EXPECT_TRUE(ip4_bad_error_source(0));
  EXPECT_TRUE(ip4_bad_error_source(0x7f000001));
  EXPECT_TRUE(ip4_bad_error_source(0xe0000001));
  EXPECT_TRUE(ip4_bad_error_source(0xf0000001));
  EXPECT_TRUE(ip4_bad_error_source(0xffffffff));
  EXPECT_FALSE(ip4_bad_error_source(0x0a000001));
  EXPECT_FALSE(ip4_bad_error_source(0xdfffffff));
  EXPECT_TRUE(ip4_multicast_or_broadcast(0xe0000005));
  EXPECT_TRUE(ip4_multicast_or_broadcast(0xefffffff));
  EXPECT_TRUE(ip4_multicast_or_broadcast(0xffffffff));
  EXPECT_FALSE(ip4_multicast_or_broadcast(0xf0000000));
  EXPECT_FALSE(ip4_multicast_or_broadcast(0xc0000201));
}

}  // namespace
}  // namespace pathlab::icmp
