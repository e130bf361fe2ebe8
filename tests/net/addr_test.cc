// Address parsing and formatting: round-trips and rejections.
#include "pathlab/net/addr.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pathlab {
namespace {

TEST(Mac, ParseAndFormat) {
  auto m = parse_mac("02:aB:cd:EF:00:ff");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->b, (std::array<uint8_t, 6>{0x02, 0xab, 0xcd, 0xef, 0x00, 0xff}));
  EXPECT_EQ(to_string(*m), "02:ab:cd:ef:00:ff");
  auto d = parse_mac("02-ab-cd-ef-00-ff");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, *m);
  EXPECT_TRUE(parse_mac("00:00:00:00:00:00")->is_zero());
  EXPECT_FALSE(m->is_zero());
}

TEST(Mac, Rejects) {
  for (const char* s :
       {"", "02:ab:cd:ef:00", "02:ab:cd:ef:00:ff:", "02:ab:cd:ef:00:ff:11", "02:ab:cd:ef:00:fg",
        "2:ab:cd:ef:00:ff1", "02-ab:cd:ef:00:ff", "02.ab.cd.ef.00.ff", "02:ab:cd:ef:00:f",
        " 02:ab:cd:ef:00:ff", "02:ab:cd:ef:00:ff ", "02abcdef00ff", "0x:ab:cd:ef:00:ff"}) {
    EXPECT_FALSE(parse_mac(s)) << s;
  }
  EXPECT_FALSE(parse_mac(std::string_view("02:ab:cd:ef:00:f\0", 17)));
}

TEST(Ip4, ParseAndFormat) {
  auto a = parse_ip4("192.0.2.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->v, 0xc0000201u);
  EXPECT_EQ(to_string(*a), "192.0.2.1");
  EXPECT_EQ(parse_ip4("0.0.0.0")->v, 0u);
  EXPECT_EQ(parse_ip4("255.255.255.255")->v, 0xffffffffu);
  for (uint32_t v : {0u, 1u, 0x0a000001u, 0x7f000001u, 0xe0000005u, 0xfffffffeu, 0xffffffffu}) {
    EXPECT_EQ(parse_ip4(to_string(Ip4Addr{v}))->v, v);
  }
  EXPECT_LT(Ip4Addr{1}, Ip4Addr{2});
}

TEST(Ip4, Rejects) {
  for (const char* s : {"", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4 ", " 1.2.3.4",
                        "1.2.3.4/32", "1.2.3.-1", "01.2.3.4", "1..3.4", "0x1.2.3.4", "a.b.c.d",
                        "1.2.3.4x", "::1", "1.2.3.1234"}) {
    EXPECT_FALSE(parse_ip4(s)) << s;
  }
  EXPECT_FALSE(parse_ip4(std::string_view("1.2.3.4\0", 8)));
  EXPECT_FALSE(parse_ip4(std::string(100, '1')));
}

TEST(Ip6, ParseAndFormat) {
  auto a = parse_ip6("2001:DB8::1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->b[0], 0x20);
  EXPECT_EQ(a->b[1], 0x01);
  EXPECT_EQ(a->b[2], 0x0d);
  EXPECT_EQ(a->b[3], 0xb8);
  EXPECT_EQ(a->b[15], 0x01);
  EXPECT_EQ(to_string(*a), "2001:db8::1");
  // RFC 5952 canonical forms.
  EXPECT_EQ(to_string(*parse_ip6("2001:0db8:0000:0000:0001:0000:0000:0001")), "2001:db8::1:0:0:1");
  EXPECT_EQ(to_string(*parse_ip6("0:0:0:0:0:0:0:0")), "::");
  EXPECT_EQ(to_string(*parse_ip6("::ffff:192.0.2.1")), "::ffff:192.0.2.1");
  EXPECT_EQ(to_string(*parse_ip6("fe80::1")), "fe80::1");
  for (const char* s : {"::", "::1", "fe80::200:ff:fe00:1", "ff02::1:ff00:1",
                        "2001:db8:1:2:3:4:5:6", "2001:db8::", "1::2:3"}) {
    EXPECT_EQ(to_string(*parse_ip6(s)), s);
  }
  EXPECT_TRUE(parse_ip6("fe80::1")->is_link_local());
  EXPECT_TRUE(parse_ip6("febf::1")->is_link_local());
  EXPECT_FALSE(parse_ip6("fec0::1")->is_link_local());
  EXPECT_TRUE(parse_ip6("ff02::1")->is_multicast());
  EXPECT_FALSE(parse_ip6("2001:db8::1")->is_multicast());
}

TEST(Ip6, Rejects) {
  for (const char* s :
       {"", ":", ":::", "1::2::3", "2001:db8::1 ", " ::1", "2001:db8::g", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7", "12345::", "fe80::1%eth0", "::1/128", "1.2.3.4", "2001:db8::1x"}) {
    EXPECT_FALSE(parse_ip6(s)) << s;
  }
  EXPECT_FALSE(parse_ip6(std::string_view("::1\0", 4)));
  EXPECT_FALSE(parse_ip6(std::string(200, ':')));
}

TEST(Ip4Prefix, ParseFormatContains) {
  auto p = parse_ip4_prefix("10.1.2.3/8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->addr.v, 0x0a010203u);
  EXPECT_EQ(p->len, 8);
  EXPECT_EQ(to_string(*p), "10.1.2.3/8");
  EXPECT_EQ(to_string(p->network()), "10.0.0.0/8");
  EXPECT_TRUE(p->contains(*parse_ip4("10.255.0.1")));
  EXPECT_FALSE(p->contains(*parse_ip4("11.0.0.0")));
  auto all = parse_ip4_prefix("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(Ip4Addr{0xffffffff}));
  EXPECT_EQ(all->network().addr.v, 0u);
  auto host = parse_ip4_prefix("192.0.2.7/32");
  EXPECT_TRUE(host->contains(*parse_ip4("192.0.2.7")));
  EXPECT_FALSE(host->contains(*parse_ip4("192.0.2.6")));
  EXPECT_EQ(host->network(), *host);
  EXPECT_EQ(to_string(parse_ip4_prefix("192.0.2.255/25")->network()), "192.0.2.128/25");
  EXPECT_EQ(to_string(parse_ip4_prefix("255.255.255.255/31")->network()), "255.255.255.254/31");
  for (int len = 0; len <= 32; ++len) {
    const std::string s = "203.0.113.77/" + std::to_string(len);
    auto q = parse_ip4_prefix(s);
    ASSERT_TRUE(q) << s;
    EXPECT_EQ(to_string(*q), s);
    EXPECT_TRUE(q->contains(q->addr));
    EXPECT_TRUE(q->contains(q->network().addr));
    EXPECT_EQ(q->network(), q->network().network());
  }
}

TEST(Ip4Prefix, BareAndRejects) {
  EXPECT_FALSE(parse_ip4_prefix("10.0.0.1"));
  auto b = parse_ip4_prefix("10.0.0.1", true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->len, 32);
  for (const char* s : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08",
                        "10.0.0.0/8/8", "10.0.0.0/8 ", "10.0.0.0/ 8", "10.0.0/8", "/8",
                        "10.0.0.0/1000", "10.0.0.0/x", "::/0", "10.0.0.0 /8"}) {
    EXPECT_FALSE(parse_ip4_prefix(s, true)) << s;
  }
}

TEST(Ip6Prefix, ParseFormatContains) {
  auto p = parse_ip6_prefix("2001:db8:abcd:12ff::1/60");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->len, 60);
  EXPECT_EQ(to_string(*p), "2001:db8:abcd:12ff::1/60");
  EXPECT_EQ(to_string(p->network()), "2001:db8:abcd:12f0::/60");
  EXPECT_TRUE(p->contains(*parse_ip6("2001:db8:abcd:12f0::")));
  EXPECT_TRUE(p->contains(*parse_ip6("2001:db8:abcd:12ff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(p->contains(*parse_ip6("2001:db8:abcd:1300::")));
  EXPECT_FALSE(p->contains(*parse_ip6("2001:db8:abcd:12ef::")));
  auto all = parse_ip6_prefix("::/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(*parse_ip6("ffff::1")));
  for (int len = 0; len <= 128; ++len) {
    const std::string s = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/" + std::to_string(len);
    auto q = parse_ip6_prefix(s);
    ASSERT_TRUE(q) << s;
    EXPECT_EQ(to_string(*q), s);
    const Ip6Prefix n = q->network();
    EXPECT_TRUE(q->contains(q->addr));
    EXPECT_TRUE(q->contains(n.addr));
    EXPECT_EQ(n, n.network());
    // Exactly len leading bits survive in the network address.
    int ones = 0;
    for (uint8_t byte : n.addr.b) ones += __builtin_popcount(byte);
    int expect = 0;
    for (int i = 0; i < len; ++i) {
      expect += (q->addr.b[i / 8] >> (7 - i % 8)) & 1;
    }
    EXPECT_EQ(ones, expect) << s;
  }
}

TEST(Ip6Prefix, BareAndRejects) {
  EXPECT_FALSE(parse_ip6_prefix("2001:db8::1"));
  auto b = parse_ip6_prefix("2001:db8::1", true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->len, 128);
  for (const char* s :
       {"2001:db8::/129", "2001:db8::/", "2001:db8::/-1", "2001:db8::/064", "2001:db8::/64/64",
        "2001:db8::/64 ", "/64", "2001:db8::/1280", "10.0.0.0/8", "2001:db8::/6x"}) {
    EXPECT_FALSE(parse_ip6_prefix(s, true)) << s;
  }
}

TEST(Ip6, SolicitedNodeAndMulticastMac) {
  const Ip6Addr a = *parse_ip6("2001:db8::abcd:1234:5678");
  const Ip6Addr s = solicited_node(a);
  EXPECT_EQ(to_string(s), "ff02::1:ff34:5678");
  EXPECT_TRUE(s.is_multicast());
  EXPECT_EQ(to_string(multicast_mac(s)), "33:33:ff:34:56:78");
  EXPECT_EQ(to_string(multicast_mac(*parse_ip6("ff02::1"))), "33:33:00:00:00:01");
  EXPECT_EQ(to_string(multicast_mac(*parse_ip6("ff02::1:2"))), "33:33:00:01:00:02");
}

TEST(Ip6, LinkLocalFromMac) {
  // RFC 4291 appendix A: universal/local bit inverted, ff:fe inserted.
  EXPECT_EQ(to_string(link_local_from_mac(*parse_mac("00:11:22:33:44:55"))),
            "fe80::211:22ff:fe33:4455");
  EXPECT_EQ(to_string(link_local_from_mac(*parse_mac("02:00:00:00:00:01"))), "fe80::ff:fe00:1");
  EXPECT_TRUE(link_local_from_mac(*parse_mac("52:54:00:12:34:56")).is_link_local());
}

}  // namespace
}  // namespace pathlab
