// Ethernet / VLAN parsing, the IPv4 and IPv6 input checks, and the IPv6 extension-header walk.
// Every buffer handed to the parser ends exactly at an inaccessible page, so reading even one
// byte past `len` crashes the test (no sanitizer needed).
#include "pathlab/net/parse.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace pathlab::parse {
namespace {

using Bytes = std::vector<uint8_t>;

// `len` bytes ending right before a PROT_NONE page.
class Guarded {
 public:
  explicit Guarded(const uint8_t* src, size_t len) : len_(len) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    data_pages_ = (len + page_ - 1) / page_ + 1;
    size_ = (data_pages_ + 1) * page_;
    base_ = static_cast<uint8_t*>(
        mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) std::abort();
    uint8_t* guard = base_ + data_pages_ * page_;
    if (mprotect(guard, page_, PROT_NONE) != 0) std::abort();
    ptr_ = guard - len;
    if (len > 0) std::memcpy(ptr_, src, len);
  }
  Guarded(const Bytes& b, size_t len) : Guarded(b.data(), len) {}
  explicit Guarded(const Bytes& b) : Guarded(b.data(), b.size()) {}
  ~Guarded() { munmap(base_, size_); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  const uint8_t* data() const { return ptr_; }
  uint32_t size() const { return static_cast<uint32_t>(len_); }

 private:
  size_t len_, page_, data_pages_, size_;
  uint8_t* base_;
  uint8_t* ptr_;
};

void put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}

// ---- Ethernet -----------------------------------------------------------------------------------

Bytes ether(std::initializer_list<uint16_t> tpids_and_tcis, uint16_t type) {
  Bytes f(12, 0x11);
  for (uint16_t v : tpids_and_tcis) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  }
  f.push_back(static_cast<uint8_t>(type >> 8));
  f.push_back(static_cast<uint8_t>(type));
  f.resize(f.size() + 46, 0xee);
  return f;
}

struct EthCase {
  const char* name;
  Bytes frame;
  uint16_t type, l2_len, vlan;
};

TEST(Ethernet, HeadersAndTruncation) {
  const std::vector<EthCase> cases = {
      {"untagged_ipv4", ether({}, kEtherIpv4), kEtherIpv4, 14, 0},
      {"untagged_arp", ether({}, kEtherArp), kEtherArp, 14, 0},
      {"untagged_8023_length", ether({}, 0x002e), 0x002e, 14, 0},
      {"dot1q", ether({kEtherVlan, 0xa064}, kEtherIpv6), kEtherIpv6, 18, 100},
      {"dot1q_vlan0_priority", ether({kEtherVlan, 0xe000}, kEtherIpv4), kEtherIpv4, 18, 0},
      {"dot1q_vlan4095", ether({kEtherVlan, 0x0fff}, kEtherIpv4), kEtherIpv4, 18, 4095},
      {"qinq_88a8", ether({kEtherQinQ, 10, kEtherVlan, 20}, kEtherIpv4), kEtherIpv4, 22, 10},
      {"qinq_8100_8100", ether({kEtherVlan, 30, kEtherVlan, 40}, kEtherIpv6), kEtherIpv6, 22, 30},
      {"single_88a8", ether({kEtherQinQ, 5}, kEtherArp), kEtherArp, 18, 5},
      // A third tag is not stripped: the caller sees the TPID and drops the frame.
      {"three_tags", ether({kEtherQinQ, 1, kEtherVlan, 2, kEtherVlan, 3}, kEtherIpv4), kEtherVlan,
       22, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Guarded g(c.frame);
    const L2 r = ethernet(g.data(), g.size());
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.ether_type, c.type);
    EXPECT_EQ(r.l2_len, c.l2_len);
    EXPECT_EQ(r.vlan, c.vlan);
    // Every truncation: ok exactly when the L2 headers are all there.
    for (size_t len = 0; len <= c.frame.size(); ++len) {
      Guarded t(c.frame, len);
      const L2 tr = ethernet(t.data(), t.size());
      EXPECT_EQ(tr.ok, len >= c.l2_len) << "len " << len;
      if (tr.ok) {
        EXPECT_EQ(tr.ether_type, c.type);
        EXPECT_EQ(tr.l2_len, c.l2_len);
        EXPECT_EQ(tr.vlan, c.vlan);
      }
    }
  }
}

// ---- IPv4 ---------------------------------------------------------------------------------------

// IPv4 packet with `opt_words` 32-bit option words and `payload` bytes, valid checksum.
Bytes make_ip4(uint8_t opt_words = 0, uint16_t payload = 8) {
  const uint16_t hlen = static_cast<uint16_t>(20 + opt_words * 4);
  Bytes p(hlen + payload);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 13 + 5);
  p[0] = static_cast<uint8_t>(0x40 | (hlen / 4));
  put16(p, 2, static_cast<uint16_t>(p.size()));
  put16(p, 6, 0x4000);
  p[9] = 17;
  for (uint16_t i = 20; i < hlen; ++i) p[i] = 1;  // NOP options
  put16(p, 10, 0);
  const uint16_t ck = static_cast<uint16_t>(~rte_raw_cksum(p.data(), hlen));
  std::memcpy(&p[10], &ck, 2);
  return p;
}

void refresh_ck(Bytes& p) {
  const uint32_t hlen = (p[0] & 0xf) * 4u;
  put16(p, 10, 0);
  const uint16_t ck =
      static_cast<uint16_t>(~rte_raw_cksum(p.data(), std::min<size_t>(hlen, p.size())));
  std::memcpy(&p[10], &ck, 2);
}

Ip4Result check4(const Bytes& p, bool verify = true) {
  Guarded g(p);
  return ip4(g.data(), g.size(), verify);
}

TEST(Ip4, Good) {
  for (uint8_t opts : {0, 1, 3, 10}) {
    for (uint16_t payload : {0, 1, 8, 1480}) {
      const Bytes p = make_ip4(opts, payload);
      EXPECT_EQ(check4(p), Ip4Result::Ok) << int{opts} << " " << payload;
      EXPECT_EQ(check4(p, false), Ip4Result::Ok);
      // Trailing bytes (Ethernet padding) are allowed.
      Bytes padded = p;
      padded.resize(p.size() + 17, 0);
      EXPECT_EQ(check4(padded), Ip4Result::Ok);
    }
  }
}

TEST(Ip4, EachResult) {
  EXPECT_EQ(check4(Bytes(19, 0x45)), Ip4Result::Truncated);
  EXPECT_EQ(check4(Bytes{}), Ip4Result::Truncated);

  for (uint8_t v : {0, 5, 6, 15}) {
    Bytes p = make_ip4();
    p[0] = static_cast<uint8_t>(v << 4 | 5);
    refresh_ck(p);
    EXPECT_EQ(check4(p), Ip4Result::BadVersion) << int{v};
  }
  for (uint8_t ihl : {0, 1, 4}) {
    Bytes p = make_ip4();
    p[0] = static_cast<uint8_t>(0x40 | ihl);
    EXPECT_EQ(check4(p), Ip4Result::BadHeaderLength) << int{ihl};
  }
  {
    Bytes p = make_ip4(0, 20);  // 40 bytes, IHL says 60
    p[0] = 0x4f;
    put16(p, 2, 40);
    EXPECT_EQ(check4(p), Ip4Result::BadHeaderLength);
  }
  {
    Bytes p = make_ip4(2, 100);
    put16(p, 2, 27);  // < IHL*4 = 28
    refresh_ck(p);
    EXPECT_EQ(check4(p), Ip4Result::BadTotalLength);
    put16(p, 2, 0);
    refresh_ck(p);
    EXPECT_EQ(check4(p), Ip4Result::BadTotalLength);
    put16(p, 2, static_cast<uint16_t>(p.size() + 1));  // more than available
    refresh_ck(p);
    EXPECT_EQ(check4(p), Ip4Result::BadTotalLength);
    put16(p, 2, 28);  // exactly the header: fine
    refresh_ck(p);
    EXPECT_EQ(check4(p), Ip4Result::Ok);
  }
  for (int bit = 0; bit < 160; ++bit) {
    if (bit < 8) continue;  // version/IHL byte has its own results
    Bytes p = make_ip4(0, 30);
    p[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    const Ip4Result r = check4(p);
    if (bit / 8 == 2 || bit / 8 == 3) {
      // Total length change: may fail as a length before the checksum is looked at.
      EXPECT_TRUE(r == Ip4Result::BadChecksum || r == Ip4Result::BadTotalLength) << bit;
    } else {
      EXPECT_EQ(r, Ip4Result::BadChecksum) << bit;
      EXPECT_EQ(check4(p, false), Ip4Result::Ok) << bit;
    }
  }
  {
    // A corrupt option byte is covered by the checksum too.
    Bytes p = make_ip4(2, 0);
    p[25] ^= 0x80;
    EXPECT_EQ(check4(p), Ip4Result::BadChecksum);
    EXPECT_EQ(check4(p, false), Ip4Result::Ok);
  }
}

TEST(Ip4, EveryTruncation) {
  for (uint8_t opts : {0, 2, 10}) {
    const Bytes p = make_ip4(opts, 44);
    const uint32_t hlen = 20 + opts * 4u;
    for (size_t len = 0; len <= p.size(); ++len) {
      Guarded g(p, len);
      const Ip4Result r = ip4(g.data(), g.size(), true);
      Ip4Result want = Ip4Result::Ok;
      if (len < 20) {
        want = Ip4Result::Truncated;
      } else if (len < hlen) {
        want = Ip4Result::BadHeaderLength;
      } else if (len < p.size()) {
        want = Ip4Result::BadTotalLength;
      }
      EXPECT_EQ(r, want) << "opts " << int{opts} << " len " << len;
    }
  }
}

// ---- IPv6 ---------------------------------------------------------------------------------------

Bytes make_ip6(uint16_t payload, uint8_t next = 17) {
  Bytes p(40 + payload);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7 + 1);
  p[0] = 0x60;
  put16(p, 4, payload);
  p[6] = next;
  return p;
}

Ip6Result check6(const Bytes& p) {
  Guarded g(p);
  return ip6(g.data(), g.size());
}

TEST(Ip6, EachResult) {
  EXPECT_EQ(check6(make_ip6(0)), Ip6Result::Ok);
  EXPECT_EQ(check6(make_ip6(1460)), Ip6Result::Ok);
  Bytes padded = make_ip6(4);
  padded.resize(60);
  EXPECT_EQ(check6(padded), Ip6Result::Ok);
  EXPECT_EQ(check6(Bytes(39, 0x60)), Ip6Result::Truncated);
  EXPECT_EQ(check6(Bytes{}), Ip6Result::Truncated);
  for (uint8_t v : {0, 4, 7, 15}) {
    Bytes p = make_ip6(8);
    p[0] = static_cast<uint8_t>(v << 4);
    EXPECT_EQ(check6(p), Ip6Result::BadVersion) << int{v};
  }
  Bytes p = make_ip6(8);
  put16(p, 4, 9);
  EXPECT_EQ(check6(p), Ip6Result::BadPayloadLength);
  put16(p, 4, 0xffff);
  EXPECT_EQ(check6(p), Ip6Result::BadPayloadLength);
}

TEST(Ip6, EveryTruncation) {
  const Bytes p = make_ip6(64);
  for (size_t len = 0; len <= p.size(); ++len) {
    Guarded g(p, len);
    const Ip6Result want = len < 40         ? Ip6Result::Truncated
                           : len < p.size() ? Ip6Result::BadPayloadLength
                                            : Ip6Result::Ok;
    EXPECT_EQ(ip6(g.data(), g.size()), want) << len;
  }
}

// ---- IPv6 extension headers ---------------------------------------------------------------------

struct Chain {
  Bytes pkt;
  uint8_t proto;
  uint32_t offset;
};

// Appends an extension header of `len` bytes (multiple of 8, or AH sizing) with `next`.
void ext(Bytes& p, uint8_t next, uint8_t type, uint32_t len, uint16_t frag_off_flags = 0) {
  const size_t at = p.size();
  p.resize(at + len, 0);
  p[at] = next;
  if (type == kIp6Ah) {
    p[at + 1] = static_cast<uint8_t>(len / 4 - 2);
  } else if (type == kIp6Fragment) {
    p[at + 1] = 0;
    put16(p, at + 2, frag_off_flags);
  } else {
    p[at + 1] = static_cast<uint8_t>(len / 8 - 1);
  }
}

Chain long_chain() {
  Bytes p = make_ip6(0, kIp6HopByHop);
  ext(p, kIp6Routing, kIp6HopByHop, 8);
  ext(p, kIp6Fragment, kIp6Routing, 24);
  ext(p, kIp6DestOpts, kIp6Fragment, 8, 0x0001);  // offset 0, more fragments
  ext(p, kIp6Ah, kIp6DestOpts, 16);
  ext(p, 17, kIp6Ah, 24);
  const uint32_t upper = static_cast<uint32_t>(p.size());
  p.resize(p.size() + 8, 0xab);  // UDP header
  put16(p, 4, static_cast<uint16_t>(p.size() - 40));
  return {p, 17, upper};
}

TEST(Ip6Ext, Walks) {
  uint8_t proto = 0;
  uint32_t off = 0;
  {
    const Bytes p = make_ip6(20, 6);
    Guarded g(p);
    ASSERT_TRUE(ip6_upper_layer(g.data(), g.size(), proto, off));
    EXPECT_EQ(proto, 6);
    EXPECT_EQ(off, 40u);
  }
  {
    const Chain c = long_chain();
    Guarded g(c.pkt);
    ASSERT_TRUE(ip6_upper_layer(g.data(), g.size(), proto, off));
    EXPECT_EQ(proto, c.proto);
    EXPECT_EQ(off, c.offset);
    EXPECT_EQ(off, 40u + 8 + 24 + 8 + 16 + 24);
  }
  {
    // First fragment of an ICMPv6 message: the walk goes through.
    Bytes p = make_ip6(0, kIp6Fragment);
    ext(p, 58, kIp6Fragment, 8, 0x0001);
    p.resize(p.size() + 8, 0);
    Guarded g(p);
    ASSERT_TRUE(ip6_upper_layer(g.data(), g.size(), proto, off));
    EXPECT_EQ(proto, 58);
    EXPECT_EQ(off, 48u);
  }
  {
    // Non-first fragment: stops at the fragment header.
    Bytes p = make_ip6(0, kIp6DestOpts);
    ext(p, kIp6Fragment, kIp6DestOpts, 8);
    ext(p, 58, kIp6Fragment, 8, 0x00a8);  // offset 21 * 8
    p.resize(p.size() + 16, 0);
    Guarded g(p);
    ASSERT_TRUE(ip6_upper_layer(g.data(), g.size(), proto, off));
    EXPECT_EQ(proto, kIp6Fragment);
    EXPECT_EQ(off, 48u);
  }
  {
    Bytes p = make_ip6(0, kIp6DestOpts);
    ext(p, kIp6NoNext, kIp6DestOpts, 8);
    Guarded g(p);
    ASSERT_TRUE(ip6_upper_layer(g.data(), g.size(), proto, off));
    EXPECT_EQ(proto, kIp6NoNext);
    EXPECT_EQ(off, 48u);
  }
  {
    // Hop-by-hop anywhere but first is malformed (RFC 8200 4.1).
    Bytes p = make_ip6(0, kIp6DestOpts);
    ext(p, kIp6HopByHop, kIp6DestOpts, 8);
    ext(p, 17, kIp6HopByHop, 8);
    p.resize(p.size() + 8, 0);
    Guarded g(p);
    EXPECT_FALSE(ip6_upper_layer(g.data(), g.size(), proto, off));
  }
  {
    // Header length pointing past the data.
    Bytes p = make_ip6(0, kIp6Routing);
    ext(p, 17, kIp6Routing, 8);
    p[41] = 3;  // claims 32 bytes
    p.resize(p.size() + 8, 0);
    Guarded g(p);
    EXPECT_FALSE(ip6_upper_layer(g.data(), g.size(), proto, off));
  }
  {
    Bytes p(39, 0x60);
    Guarded g(p);
    EXPECT_FALSE(ip6_upper_layer(g.data(), g.size(), proto, off));
  }
}

TEST(Ip6Ext, EveryTruncation) {
  const Chain c = long_chain();
  for (size_t len = 0; len <= c.pkt.size(); ++len) {
    Guarded g(c.pkt, len);
    uint8_t proto = 0;
    uint32_t off = 0;
    const bool ok = ip6_upper_layer(g.data(), g.size(), proto, off);
    // The chain walks once every extension header is complete; the upper layer may be cut.
    EXPECT_EQ(ok, len >= c.offset) << len;
    if (ok) {
      EXPECT_EQ(proto, c.proto);
      EXPECT_EQ(off, c.offset);
    }
  }
}

TEST(Names, DistinctAndNonEmpty) {
  std::set<std::string> n4, n6;
  for (int i = 0; i <= static_cast<int>(Ip4Result::BadChecksum); ++i) {
    n4.insert(name(static_cast<Ip4Result>(i)));
  }
  for (int i = 0; i <= static_cast<int>(Ip6Result::BadPayloadLength); ++i) {
    n6.insert(name(static_cast<Ip6Result>(i)));
  }
  EXPECT_EQ(n4.size(), 6u);
  EXPECT_EQ(n6.size(), 4u);
  EXPECT_EQ(n4.count(""), 0u);
  EXPECT_STREQ(name(Ip4Result::Ok), "ok");
}

}  // namespace
}  // namespace pathlab::parse
