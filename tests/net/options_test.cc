// The option walkers (net/ip4_options.hpp, net/ip6_ext.hpp, net/tcp_options.hpp) against packets
// scapy built (gen_option_refs.py, at PATHLAB_BUILD_ROOT/tests/net/option_refs.json), and their
// bounds: headers laid right before an unmapped page, cut at every length, fuzzed.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pathlab/net/ip4_options.hpp"
#include "pathlab/net/ip6_ext.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/net/tcp_options.hpp"
#include "refs.hpp"

namespace pathlab {
namespace {

using test::Bytes;
using test::from_hex;
using Triples = std::vector<std::array<unsigned, 3>>;

const YAML::Node& refs() {
  static const YAML::Node n = test::load_refs("option_refs.json");
  return n;
}

Triples triples(const YAML::Node& list) {
  Triples t;
  for (const auto& e : list)
    t.push_back({e[0].as<unsigned>(), e[1].as<unsigned>(), e[2].as<unsigned>()});
  return t;
}

const char* name(tlv::Walk w) {
  return w == tlv::Walk::Done ? "done" : w == tlv::Walk::Stopped ? "stopped" : "malformed";
}

// Bytes copied to end exactly where an unmapped page begins: a read past them faults.
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = static_cast<uint8_t*>(p);
    mprotect(base_ + page_, page_, PROT_NONE);
  }
  ~GuardedBuffer() { munmap(base_, 2 * page_); }
  uint8_t* place(const uint8_t* data, size_t len) {
    uint8_t* at = base_ + page_ - len;
    std::memcpy(at, data, len);
    return at;
  }

 private:
  size_t page_ = 0;
  uint8_t* base_ = nullptr;
};

// ---- IPv4 -------------------------------------------------------------------------------------

TEST(Ip4Options, WalkMatchesScapy) {
  ASSERT_GT(refs()["ip4"].size(), 0u);
  for (const auto& c : refs()["ip4"]) {
    const std::string what = c["name"].as<std::string>();
    const Bytes ip = from_hex(c["ip"].as<std::string>());
    Triples got;
    const tlv::Walk w = ip4opt::for_each(ip.data(), [&](const ip4opt::Option& o) {
      got.push_back({o.type, o.off, o.len});
      return true;
    });
    EXPECT_STREQ(name(w), c["walk"].as<std::string>().c_str()) << what;
    EXPECT_EQ(got, triples(c["options"])) << what;
    EXPECT_EQ(ip4opt::valid(ip.data()), w == tlv::Walk::Done) << what;
    for (const auto& e : got) {
      ip4opt::Option o{};
      ASSERT_TRUE(ip4opt::find(ip.data(), static_cast<uint8_t>(e[0]), o)) << what;
      if (e[0] != ip4opt::kNop) {
        EXPECT_EQ(o.off, e[1]) << what;
      }
      EXPECT_EQ(o.type, e[0]) << what;
    }
  }
}

TEST(Ip4Options, FindAbsentOrBehindMalformed) {
  Bytes ip(24, 0);
  ip[0] = 0x46;
  const uint8_t area[4] = {0x07, 0x01, 0x94, 0x04};  // length 1, then what looks like RA
  std::memcpy(ip.data() + 20, area, 4);
  ip4opt::Option o{};
  EXPECT_FALSE(ip4opt::find(ip.data(), ip4opt::kRouterAlert, o));
  EXPECT_FALSE(ip4opt::find(ip.data(), ip4opt::kExperiment94, o));
  ip[0] = 0x45;  // no option area at all
  EXPECT_TRUE(ip4opt::valid(ip.data()));
  EXPECT_FALSE(ip4opt::find(ip.data(), ip4opt::kRouterAlert, o));
}

TEST(Ip4Options, TypeBits) {
  EXPECT_TRUE(ip4opt::copied(ip4opt::kLsrr));
  EXPECT_TRUE(ip4opt::copied(ip4opt::kRouterAlert));
  EXPECT_FALSE(ip4opt::copied(ip4opt::kRecordRoute));
  EXPECT_FALSE(ip4opt::copied(ip4opt::kExperiment94));
}

// ---- IPv6 -------------------------------------------------------------------------------------

TEST(Ip6Ext, WalkMatchesScapy) {
  ASSERT_GT(refs()["ip6"].size(), 0u);
  for (const auto& c : refs()["ip6"]) {
    const std::string what = c["name"].as<std::string>();
    const Bytes ip = from_hex(c["ip"].as<std::string>());
    const auto len = static_cast<uint32_t>(ip.size());
    Triples headers, options;
    bool options_ok = true;
    const ip6ext::Chain chain = ip6ext::walk(ip.data(), len, [&](const ip6ext::Header& h) {
      headers.push_back({h.type, h.off, h.len});
      if (ip6ext::has_options(h.type)) {
        const tlv::Walk w = ip6ext::for_each_option(ip.data(), h, [&](const ip6ext::Option& o) {
          options.push_back({o.type, o.off, o.len});
          return true;
        });
        EXPECT_EQ(ip6ext::options_valid(ip.data(), h), w == tlv::Walk::Done) << what;
        options_ok &= w == tlv::Walk::Done;
      }
      return true;
    });
    EXPECT_EQ(chain.ok, c["ok"].as<bool>()) << what;
    EXPECT_EQ(chain.fragment, c["fragment"].as<bool>()) << what;
    EXPECT_FALSE(chain.stopped) << what;
    if (chain.ok) {
      EXPECT_EQ(chain.proto, c["proto"].as<unsigned>()) << what;
      EXPECT_EQ(chain.off, c["off"].as<unsigned>()) << what;
    }
    EXPECT_EQ(headers, triples(c["headers"])) << what;
    if (c["options_ok"].as<bool>()) {
      EXPECT_EQ(options, triples(c["options"])) << what;
    }
    EXPECT_EQ(options_ok, c["options_ok"].as<bool>()) << what;
    EXPECT_EQ(ip6ext::valid(ip.data(), len), chain.ok && options_ok) << what;

    // parse::ip6_walk, which the packet view uses, reports the same end.
    uint8_t proto = 0xee;
    uint32_t off = 0xeeee;
    const parse::Ip6Walk pw = parse::ip6_walk(ip.data(), len, proto, off);
    EXPECT_EQ(pw.ok, chain.ok) << what;
    EXPECT_EQ(pw.fragment, chain.fragment) << what;
    EXPECT_EQ(proto, chain.ok ? chain.proto : 0xee) << what;
    EXPECT_EQ(off, chain.ok ? chain.off : 0xeeeeu) << what;
  }
}

YAML::Node ip6_case(const std::string& name) {
  for (const auto& c : refs()["ip6"]) {
    if (c["name"].as<std::string>() == name) return c;
  }
  return YAML::Node();
}

TEST(Ip6Ext, StopsWhereToldAt) {
  const YAML::Node c = ip6_case("long_chain");
  ASSERT_TRUE(c.IsMap());
  const Bytes ip = from_hex(c["ip"].as<std::string>());
  const ip6ext::Chain chain =
      ip6ext::walk(ip.data(), static_cast<uint32_t>(ip.size()),
                   [](const ip6ext::Header& h) { return h.type != parse::kIp6Routing; });
  EXPECT_TRUE(chain.ok);
  EXPECT_TRUE(chain.stopped);
  EXPECT_FALSE(chain.fragment);
  EXPECT_EQ(chain.proto, parse::kIp6Routing);
  EXPECT_EQ(chain.off, 72u);
}

// IPIM's use: find the experimental option in Hop-by-Hop, check, rewrite in place.
TEST(Ip6Ext, FindAndPadOut) {
  const YAML::Node c = ip6_case("hbh_experiment_3e");
  ASSERT_TRUE(c.IsMap());
  Bytes ip = from_hex(c["ip"].as<std::string>());
  const auto len = static_cast<uint32_t>(ip.size());
  ASSERT_TRUE(ip6ext::valid(ip.data(), len));
  ip6ext::Header hbh{};
  ip6ext::walk(ip.data(), len, [&](const ip6ext::Header& h) {
    hbh = h;
    return false;
  });
  ip6ext::Option o{};
  ASSERT_TRUE(ip6ext::find_option(ip.data(), hbh, ip6ext::kExperiment3e, o));
  EXPECT_EQ(o.off, 42u);
  EXPECT_EQ(o.len, 8u);
  EXPECT_EQ(ip6ext::unrecognized_action(o.type), 0u);
  EXPECT_TRUE(ip6ext::may_change_en_route(o.type));
  EXPECT_FALSE(ip6ext::find_option(ip.data(), hbh, ip6ext::kRouterAlert, o));
  ASSERT_TRUE(ip6ext::find_option(ip.data(), hbh, ip6ext::kExperiment3e, o));
  ip6ext::pad_out(ip.data(), o);
  const Bytes padn = {ip6ext::kPadN, 6, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(Bytes(ip.begin() + 42, ip.begin() + 50), padn);
  EXPECT_TRUE(ip6ext::valid(ip.data(), len));
  EXPECT_FALSE(ip6ext::find_option(ip.data(), hbh, ip6ext::kExperiment3e, o));
}

TEST(Ip6Ext, TypeBits) {
  EXPECT_EQ(ip6ext::unrecognized_action(ip6ext::kJumbo), 3u);
  EXPECT_FALSE(ip6ext::may_change_en_route(ip6ext::kJumbo));
  EXPECT_EQ(ip6ext::unrecognized_action(ip6ext::kRouterAlert), 0u);
  EXPECT_TRUE(ip6ext::may_change_en_route(ip6ext::kRpl));
}

// ---- TCP --------------------------------------------------------------------------------------

TEST(TcpOptions, WalkMatchesScapy) {
  ASSERT_GT(refs()["tcp"].size(), 0u);
  for (const auto& c : refs()["tcp"]) {
    const std::string what = c["name"].as<std::string>();
    Bytes tcp = from_hex(c["tcp"].as<std::string>());
    const unsigned hlen = (tcp[12] >> 4) * 4u;
    ASSERT_LE(hlen, tcp.size()) << what;
    std::vector<std::array<unsigned, 4>> want;
    for (const auto& e : c["options"]) {
      want.push_back(
          {e[0].as<unsigned>(), e[1].as<unsigned>(), e[2].as<unsigned>(), e[3].as<unsigned>()});
    }
    const bool done = c["walk"].as<std::string>() == "done";
    tcpopt::OptionList l;
    EXPECT_EQ(tcpopt::walk(tcp.data(), hlen, l), done) << what;
    EXPECT_EQ(tcpopt::valid(tcp.data(), hlen), done) << what;
    if (done) {
      std::vector<std::array<unsigned, 4>> got;
      for (unsigned i = 0; i < l.n; ++i) {
        got.push_back({tcp[l.opt[i].off], l.opt[i].off, l.opt[i].len, l.opt[i].cls});
      }
      EXPECT_EQ(got, want) << what;
      EXPECT_EQ(l.area(), tcp.data() + 20);
      EXPECT_EQ(l.area_len(), hlen - 20);
    }
    Triples seen;
    const tlv::Walk w = tcpopt::for_each(tcp.data(), hlen, [&](const tlv::Option& o) {
      seen.push_back({o.type, o.off, o.len});
      return true;
    });
    EXPECT_STREQ(name(w), c["walk"].as<std::string>().c_str()) << what;
    Triples want3;
    for (const auto& e : want) want3.push_back({e[0], e[1], e[2]});
    EXPECT_EQ(seen, want3) << what;
    for (const auto& e : want3) {
      if (e[0] == tcpopt::kNop) continue;
      tlv::Option o{};
      ASSERT_TRUE(tcpopt::find(tcp.data(), hlen, static_cast<uint8_t>(e[0]), o)) << what;
      EXPECT_EQ(o.off, e[1]) << what;
    }
  }
}

// ---- bounds -------------------------------------------------------------------------------------

unsigned walk_all(const uint8_t* ip4, const uint8_t* ip6, uint32_t ip6_len, uint8_t* tcp,
                  unsigned tcp_hlen) {
  unsigned n = 0;
  auto count = [&n](const tlv::Option&) {
    ++n;
    return true;
  };
  if (ip4 != nullptr) {
    ip4opt::for_each(ip4, count);
    ip4opt::Option o{};
    n += ip4opt::find(ip4, ip4opt::kExperiment94, o);
  }
  if (ip6 != nullptr) {
    ip6ext::walk(ip6, ip6_len, [&](const ip6ext::Header& h) {
      if (ip6ext::has_options(h.type)) ip6ext::for_each_option(ip6, h, count);
      return true;
    });
    n += ip6ext::valid(ip6, ip6_len);
  }
  if (tcp != nullptr) {
    tcpopt::OptionList l;
    n += tcpopt::walk(tcp, tcp_hlen, l);
    tcpopt::for_each(tcp, tcp_hlen, count);
  }
  return n;
}

TEST(Bounds, ReferencePacketsCutAtEveryLength) {
  GuardedBuffer g;
  for (const auto& c : refs()["ip4"]) {
    const Bytes ip = from_hex(c["ip"].as<std::string>());
    walk_all(g.place(ip.data(), (ip[0] & 0xfu) * 4u), nullptr, 0, nullptr, 0);
  }
  for (const auto& c : refs()["ip6"]) {
    const Bytes ip = from_hex(c["ip"].as<std::string>());
    for (size_t len = 40; len <= ip.size(); ++len) {
      walk_all(nullptr, g.place(ip.data(), len), static_cast<uint32_t>(len), nullptr, 0);
    }
  }
  for (const auto& c : refs()["tcp"]) {
    const Bytes tcp = from_hex(c["tcp"].as<std::string>());
    const unsigned hlen = (tcp[12] >> 4) * 4u;
    walk_all(nullptr, nullptr, 0, g.place(tcp.data(), hlen), hlen);
  }
}

TEST(Bounds, RandomOptionAreas) {
  GuardedBuffer g;
  std::mt19937 rng(791);
  uint8_t buf[512];
  for (int iter = 0; iter < 20000; ++iter) {
    // Small values, so that lengths often land near the end of the area.
    for (auto& b : buf) b = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : rng() % 12);
    const unsigned words = 5 + rng() % 11;
    buf[0] = static_cast<uint8_t>(0x40 | words);
    walk_all(g.place(buf, words * 4), nullptr, 0, nullptr, 0);
    buf[12] = static_cast<uint8_t>(words << 4);
    walk_all(nullptr, nullptr, 0, g.place(buf, words * 4), words * 4);
    const uint8_t first[3] = {parse::kIp6HopByHop, parse::kIp6DestOpts, parse::kIp6Fragment};
    buf[6] = first[rng() % 3];
    const uint32_t len = 40 + rng() % 200;
    walk_all(nullptr, g.place(buf, len), len, nullptr, 0);
  }
}

}  // namespace
}  // namespace pathlab
