// net/checksum.hpp: RFC 1624 incremental updates against full recomputation with DPDK's
// checksum functions, and every helper against packets scapy built and checksummed
// (gen_checksum_refs.py, at PATHLAB_BUILD_ROOT/tests/net/checksum_refs.json).
#include "pathlab/net/checksum.hpp"

#include <gtest/gtest.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_ip.h>
#pragma GCC diagnostic pop

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "refs.hpp"

namespace pathlab {
namespace {

constexpr int kIters = 200000;

// Random 16-bit word, biased towards the ones' complement zeros and their neighbours.
uint16_t word(std::mt19937& rng) {
  switch (rng() % 8) {
    case 0:
      return 0x0000;
    case 1:
      return 0xffff;
    case 2:
      return static_cast<uint16_t>(rng() % 2 ? 0x0001 : 0xfffe);
    default:
      return static_cast<uint16_t>(rng());
  }
}

struct Ip4Hdr {
  alignas(4) uint8_t b[60];
  uint32_t len() const { return (b[0] & 0xf) * 4u; }
  const rte_ipv4_hdr* hdr() const { return reinterpret_cast<const rte_ipv4_hdr*>(b); }
  uint16_t full() {
    put16(b + 10, 0);
    return rte_ipv4_cksum(hdr());
  }
};

Ip4Hdr random_ip4(std::mt19937& rng) {
  Ip4Hdr h;
  for (auto& x : h.b) x = static_cast<uint8_t>(rng());
  h.b[0] = static_cast<uint8_t>(0x40 | (5 + rng() % 11));
  const uint16_t ck = h.full();
  put16(h.b + 10, ck);
  return h;
}

TEST(Checksum, Rfc1624Example) {
  // RFC 1624 section 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives 0x0000 (eqn. 2 gave 0xffff).
  EXPECT_EQ(csum::update16(0xdd2f, 0x5555, 0x3285), 0x0000);
}

TEST(Checksum, FoldCarries) {
  EXPECT_EQ(csum::fold(0), 0);
  EXPECT_EQ(csum::fold(0xffff), 0xffff);
  EXPECT_EQ(csum::fold(0x10000), 1);
  EXPECT_EQ(csum::fold(0x1fffe), 0xffff);
  EXPECT_EQ(csum::fold(0xffffffff), 0xffff);
}

// fold64 against the textbook fold (add the high bits back until 16 remain), on the values
// where a carry out of either step matters and on random sums.
uint16_t fold_by_loop(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

TEST(Checksum, Fold64Carries) {
  const uint64_t edges[] = {0, 1, 0xffff, 0x10000, 0x1fffe, 0xffffffff, 0x100000000ull,
                            0xffff0000ffff0000ull, 0x0000ffffffff0000ull, 0xfffeffff00000001ull,
                            0x8000000080000000ull, 0xffffffff00000001ull, ~0ull};
  for (uint64_t s : edges) EXPECT_EQ(csum::fold64(s), fold_by_loop(s)) << std::hex << s;
  std::mt19937_64 rng(7);
  for (int i = 0; i < kIters; ++i) {
    uint64_t s = rng();
    if (i % 3 == 1) s &= 0xffffffffull;  // sums of a few 32-bit words
    if (i % 3 == 2) s = (s & 0xffff) * 0xffff;  // multiples of 0xffff: -0 must stay 0xffff
    ASSERT_EQ(csum::fold64(s), fold_by_loop(s)) << std::hex << s;
  }
}

// ip4_header_sum (an add-with-carry chain per header length) against 16-bit words summed one at
// a time, for every IHL, on random bytes biased towards all-ones words (the carries).
TEST(Checksum, Ip4HeaderSumEveryIhl) {
  std::mt19937 rng(11);
  for (int i = 0; i < kIters; ++i) {
    alignas(8) uint8_t h[60];
    const uint32_t hlen = 20 + 4 * (i % 11);
    for (uint32_t k = 0; k < hlen; k += 2) put16(h + k, word(rng));
    uint64_t s = 0;
    for (uint32_t k = 0; k < hlen; k += 2) s += get16(h + k);
    ASSERT_EQ(csum::ip4_header_sum(h, hlen), fold_by_loop(s)) << "hlen " << hlen << " case " << i;
  }
}

TEST(Checksum, Ip4HeaderWordUpdates) {
  std::mt19937 rng(1624);
  for (int i = 0; i < kIters; ++i) {
    Ip4Hdr h = random_ip4(rng);
    const uint32_t nwords = h.len() / 2;
    uint32_t w = 1 + rng() % (nwords - 1);  // never word 0 (version/IHL)...
    if (w == 5) w = 4;                      // ...nor the checksum itself
    const uint16_t old_w = get16(h.b + 2 * w);
    const uint16_t new_w = word(rng);
    const uint16_t inc = csum::update16(get16(h.b + 10), old_w, new_w);
    put16(h.b + 2 * w, new_w);
    ASSERT_EQ(inc, h.full()) << "iteration " << i << " word " << w;
  }
}

TEST(Checksum, Ip4AddressUpdates) {
  std::mt19937 rng(32);
  for (int i = 0; i < kIters; ++i) {
    Ip4Hdr h = random_ip4(rng);
    const uint32_t off = rng() % 2 ? 12 : 16;
    const uint32_t old_v = get32(h.b + off);
    uint32_t new_v = static_cast<uint32_t>(word(rng)) << 16 | word(rng);
    if (rng() % 4 == 0) new_v = rng();
    const uint16_t inc = csum::update32(get16(h.b + 10), old_v, new_v);
    put32(h.b + off, new_v);
    ASSERT_EQ(inc, h.full()) << "iteration " << i;
  }
}

// Headers built so that the updated checksum must come out as 0x0000 (covered data sums to
// 0xffff), and updates starting from such a header: the RFC 1624 corner cases.
TEST(Checksum, ZeroResultCornerCases) {
  std::mt19937 rng(0);
  int zero_results = 0;
  for (int i = 0; i < kIters / 4; ++i) {
    Ip4Hdr h = random_ip4(rng);
    const uint32_t w = 6 + rng() % 4;  // an address word
    // Sum of everything except word w (checksum field zero) ...
    put16(h.b + 10, 0);
    put16(h.b + 2 * w, 0);
    const uint16_t rest = rte_raw_cksum(h.b, h.len());
    // ... so this value makes the total 0xffff and the checksum 0x0000.
    const uint16_t target = static_cast<uint16_t>(~rest);
    const uint16_t old_w = word(rng);
    put16(h.b + 2 * w, old_w);
    const uint16_t ck = h.full();
    put16(h.b + 10, ck);
    const uint16_t inc = csum::update16(ck, old_w, target);
    put16(h.b + 2 * w, target);
    const uint16_t full = h.full();
    ASSERT_EQ(inc, full) << i;
    zero_results += full == 0;
    // And back again, from a 0x0000 checksum.
    put16(h.b + 10, full);
    const uint16_t back = word(rng);
    const uint16_t inc2 = csum::update16(full, target, back);
    put16(h.b + 2 * w, back);
    ASSERT_EQ(inc2, h.full()) << i;
  }
  EXPECT_GT(zero_results, kIters / 8);
}

// 0x0000 <-> 0xffff in the data are the same ones' complement value: the checksum must not move.
TEST(Checksum, NegativeZeroWords) {
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const uint16_t ck = static_cast<uint16_t>(rng());
    EXPECT_EQ(csum::update16(ck, 0x0000, 0xffff), ck == 0xffff ? 0x0000 : ck) << ck;
    EXPECT_EQ(csum::update16(ck, 0xffff, 0x0000), ck == 0xffff ? 0x0000 : ck) << ck;
  }
}

std::vector<uint8_t> random_ip4_l4(std::mt19937& rng, uint8_t proto, uint32_t& l4_off,
                                   uint32_t& ck_off) {
  const uint32_t l4_len = (proto == IPPROTO_TCP ? 20 : 8) + rng() % 64;
  std::vector<uint8_t> p(20 + l4_len);
  for (auto& x : p) x = static_cast<uint8_t>(rng());
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[9] = proto;
  l4_off = 20;
  ck_off = l4_off + (proto == IPPROTO_TCP ? 16 : 6);
  if (proto == IPPROTO_UDP) {
    p[l4_off + 4] = static_cast<uint8_t>(l4_len >> 8);
    p[l4_off + 5] = static_cast<uint8_t>(l4_len);
  }
  return p;
}

uint16_t full_l4_4(std::vector<uint8_t>& p, uint32_t l4_off, uint32_t ck_off) {
  put16(p.data() + ck_off, 0);
  return rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(p.data()), p.data() + l4_off);
}

// NAT-style source address rewrite: IPv4 header checksum and the TCP/UDP checksum (pseudo-header).
TEST(Checksum, Ip4L4PseudoHeaderUpdates) {
  std::mt19937 rng(4);
  for (int i = 0; i < kIters / 2; ++i) {
    const uint8_t proto = rng() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    uint32_t l4_off, ck_off;
    auto p = random_ip4_l4(rng, proto, l4_off, ck_off);
    put16(p.data() + 10, 0);
    put16(p.data() + 10, rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(p.data())));
    const uint16_t l4ck = full_l4_4(p, l4_off, ck_off);
    put16(p.data() + ck_off, l4ck);

    const uint32_t off = rng() % 2 ? 12 : 16;
    const uint32_t old_v = get32(p.data() + off);
    const uint32_t new_v = rng() % 3 ? static_cast<uint32_t>(rng())
                                     : static_cast<uint32_t>(word(rng)) << 16 | word(rng);
    const uint16_t ip_inc = csum::update32(get16(p.data() + 10), old_v, new_v);
    uint16_t l4_inc = csum::update32(l4ck, old_v, new_v);
    // Also a port change (a plain data word).
    const uint32_t port_off = l4_off + (rng() % 2) * 2;
    const uint16_t old_port = get16(p.data() + port_off);
    const uint16_t new_port = word(rng);
    l4_inc = csum::update16(l4_inc, old_port, new_port);
    put32(p.data() + off, new_v);
    put16(p.data() + port_off, new_port);
    if (proto == IPPROTO_UDP && l4_inc == 0) l4_inc = 0xffff;  // RFC 768: 0 means "none"

    put16(p.data() + 10, 0);
    ASSERT_EQ(ip_inc, rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(p.data()))) << i;
    // A UDP checksum sent as 0xffff (computed 0) updates like its +0 twin.
    ASSERT_EQ(l4_inc, full_l4_4(p, l4_off, ck_off)) << i << " proto " << int{proto};
  }
}

TEST(Checksum, Ip6L4AddressUpdates) {
  std::mt19937 rng(6);
  for (int i = 0; i < kIters / 4; ++i) {
    const uint8_t proto = rng() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    const uint32_t l4_len = (proto == IPPROTO_TCP ? 20 : 8) + rng() % 64;
    std::vector<uint8_t> p(40 + l4_len);
    for (auto& x : p) x = static_cast<uint8_t>(rng());
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>(l4_len >> 8);
    p[5] = static_cast<uint8_t>(l4_len);
    p[6] = proto;
    const uint32_t ck_off = 40 + (proto == IPPROTO_TCP ? 16 : 6);
    auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(p.data());
    put16(p.data() + ck_off, 0);
    const uint16_t ck = rte_ipv6_udptcp_cksum(ip, p.data() + 40);
    put16(p.data() + ck_off, ck);

    const uint32_t off = rng() % 2 ? 8 : 24;
    uint16_t inc = ck;
    for (uint32_t j = 0; j < 16; j += 4) {
      const uint32_t old_v = get32(p.data() + off + j);
      const uint32_t new_v = rng() % 3 ? static_cast<uint32_t>(rng())
                                       : static_cast<uint32_t>(word(rng)) << 16 | word(rng);
      inc = csum::update32(inc, old_v, new_v);
      put32(p.data() + off + j, new_v);
    }
    if (proto == IPPROTO_UDP && inc == 0) inc = 0xffff;
    put16(p.data() + ck_off, 0);
    ASSERT_EQ(inc, rte_ipv6_udptcp_cksum(ip, p.data() + 40)) << i;
  }
}

// ---- Delta ------------------------------------------------------------------------------------

// Gathered changes give what the same changes one at a time give.
TEST(Checksum, DeltaMatchesOneAtATime) {
  std::mt19937 rng(1071);
  for (int i = 0; i < kIters / 4; ++i) {
    const uint16_t ck = word(rng);
    uint16_t one_by_one = ck;
    csum::Delta d;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      if (rng() % 2) {
        const uint16_t o = word(rng), w = word(rng);
        one_by_one = csum::update16(one_by_one, o, w);
        d.add16(o, w);
      } else {
        const uint32_t o = static_cast<uint32_t>(word(rng)) << 16 | word(rng);
        const uint32_t w = static_cast<uint32_t>(rng());
        one_by_one = csum::update32(one_by_one, o, w);
        d.add32(o, w);
      }
    }
    ASSERT_EQ(d.apply(ck), one_by_one) << i;
  }
  EXPECT_TRUE(csum::Delta{}.empty());
  EXPECT_EQ(csum::Delta{}.apply(0x1234), 0x1234);
}

// ---- against scapy ----------------------------------------------------------------------------

using test::Bytes;
using test::from_hex;

const YAML::Node& refs() {
  static const YAML::Node n = test::load_refs("checksum_refs.json");
  return n;
}

TEST(ChecksumScapy, Ip4Header) {
  ASSERT_GT(refs()["ip4_headers"].size(), 0u);
  for (const auto& c : refs()["ip4_headers"]) {
    const std::string what = c["name"].as<std::string>();
    const Bytes want = from_hex(c["ip"].as<std::string>());
    const uint32_t hlen = (want[0] & 0xfu) * 4u;
    EXPECT_EQ(csum::ip4_header_sum(want.data(), hlen), 0xffff) << what;
    EXPECT_EQ(csum::ip4_header_sum20(want.data()), csum::sum(want.data(), 20)) << what;
    Bytes got = want;
    put16(got.data() + 10, 0x5555);
    csum::set_ip4_header(got.data(), hlen);
    EXPECT_EQ(got, want) << what;
  }
}

TEST(ChecksumScapy, Transport) {
  ASSERT_GT(refs()["transport"].size(), 0u);
  for (const auto& c : refs()["transport"]) {
    const std::string what = c["name"].as<std::string>();
    Bytes p = from_hex(c["ip"].as<std::string>());
    const auto version = c["version"].as<unsigned>();
    const auto proto = c["proto"].as<unsigned>();
    const auto l4_off = c["l4_off"].as<uint32_t>();
    uint8_t* const field = p.data() + l4_off + c["cksum_off"].as<uint32_t>();
    const auto len = static_cast<uint32_t>(p.size() - l4_off);
    const auto sum = [&] {
      return csum::transport(p.data(), static_cast<uint8_t>(version), static_cast<uint8_t>(proto),
                             p.data() + l4_off, len);
    };
    EXPECT_EQ(sum(), 0xffff) << what;
    const uint16_t want = get16(field);
    put16(field, 0);
    EXPECT_EQ(static_cast<uint16_t>(~sum()), want) << what;
  }
}

// The rewritten packet's checksums, from the old ones and the words that changed, equal scapy's
// full recomputation: with one Delta per checksum, and with set16 / ip4_set16 word by word.
TEST(ChecksumScapy, RewritesIncrementally) {
  ASSERT_GT(refs()["rewrites"].size(), 0u);
  for (const auto& c : refs()["rewrites"]) {
    const std::string what = c["name"].as<std::string>();
    const Bytes before = from_hex(c["before"].as<std::string>());
    const Bytes after = from_hex(c["after"].as<std::string>());
    ASSERT_EQ(before.size(), after.size()) << what;
    const bool v4 = c["version"].as<unsigned>() == 4;
    const auto l4_off = c["l4_off"].as<uint32_t>();
    const uint32_t l4_ck = l4_off + c["cksum_off"].as<uint32_t>();
    const uint32_t addr_begin = v4 ? 12 : 8, addr_end = v4 ? 20 : 40;
    csum::Delta ip_delta, l4_delta;
    Bytes stepped = before;
    for (uint32_t off = 0; off + 1 < before.size(); off += 2) {
      const uint16_t o = get16(before.data() + off), w = get16(after.data() + off);
      if (o == w || (v4 && off == 10) || off == l4_ck) continue;
      if (off < l4_off) {
        if (c["pseudo"].as<bool>() && off >= addr_begin && off < addr_end) {
          l4_delta.add16(o, w);
          put16(stepped.data() + l4_ck, csum::update16(get16(stepped.data() + l4_ck), o, w));
        }
        if (v4) {
          ip_delta.add16(o, w);
          csum::ip4_set16(stepped.data(), off, w);
        } else {
          put16(stepped.data() + off, w);
        }
      } else {
        l4_delta.add16(o, w);
        csum::set16(stepped.data() + l4_ck, stepped.data() + off, w);
      }
    }
    if (v4) {
      EXPECT_EQ(ip_delta.apply(get16(before.data() + 10)), get16(after.data() + 10)) << what;
    }
    EXPECT_EQ(l4_delta.apply(get16(before.data() + l4_ck)), get16(after.data() + l4_ck)) << what;
    EXPECT_EQ(stepped, after) << what;
  }
}

}  // namespace
}  // namespace pathlab
