// pathlab-probe's codecs: the end-to-end block, the integrity digests, building and reading the
// IPIM option, and finding it in an options area.
#include <gtest/gtest.h>

#include "pathlab/ipim/e2e.hpp"
#include "pathlab/ipim/option_fields.hpp"

using namespace pathlab::ipim;

TEST(E2e, ProbeRoundTrip) {
  E2eBlock b;
  b.host_id = 0xbeef;
  b.seq = 7;
  b.nonce = 0x01020304;
  b.nonce_sum = 0xfffffff0;
  b.t = 123456;
  b.t_echo = 99;
  b.delta = 5;
  b.coverage = 0x81;
  b.mode = kModeSenderSalt;
  b.hash = {1, 2, 3, 4, 5, 6, 7, 8};
  const auto bytes = encode_e2e(b);
  ASSERT_EQ(bytes.size(), kE2eProbeLen);
  EXPECT_EQ(bytes[0], 'I');
  EXPECT_EQ(bytes[3], 'M');
  EXPECT_EQ(bytes[5], kE2eProbe);
  EXPECT_EQ(bytes[8 + 3], 7);  // seq, big-endian
  const auto d = decode_e2e(bytes);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host_id, 0xbeef);
  EXPECT_EQ(d->nonce_sum, 0xfffffff0u);
  EXPECT_EQ(d->coverage, 0x81);
  EXPECT_EQ(d->mode, kModeSenderSalt);
  EXPECT_EQ(d->hash, b.hash);
}

TEST(E2e, EchoCarriesTheOption) {
  E2eBlock b;
  b.type = kE2eEcho;
  b.rx_ttl = 61;
  b.rx_tos = 0xb8;
  b.rx_option = {0x5e, 4, 0x10, 0};
  const auto bytes = encode_e2e(b);
  ASSERT_EQ(bytes.size(), kE2eEchoFixed + 4);
  EXPECT_EQ(bytes[52], 61);
  EXPECT_EQ(bytes[55], 4);  // n
  const auto d = decode_e2e(bytes);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rx_tos, 0xb8);
  EXPECT_EQ(d->rx_option, b.rx_option);
  // An echo cut inside its option, a bad magic, a short block: not a block.
  EXPECT_FALSE(decode_e2e(std::span(bytes).first(bytes.size() - 1)));
  auto bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(decode_e2e(bad));
  EXPECT_FALSE(decode_e2e(std::span(bytes).first(40)));
}

TEST(E2e, JsonKeysOfTheDecoders) {
  E2eBlock probe;
  probe.seq = 3;
  const std::string p = e2e_json(&probe);
  EXPECT_NE(p.find("\"type\":1,"), std::string::npos) << p;
  EXPECT_NE(p.find("\"rx_ttl\":null"), std::string::npos) << p;
  EXPECT_NE(p.find("\"malformed\":null"), std::string::npos) << p;
  E2eBlock echo;
  echo.type = kE2eEcho;
  echo.rx_option = build_option({.perf = true, .slots = 1, .ttl_prime = 9});
  const std::string e = e2e_json(&echo);
  EXPECT_NE(e.find("\"option_len\":34,"), std::string::npos) << e;
  EXPECT_NE(e.find("\"option\":{\"carrier\":\"ipv4\",\"version\":1,"), std::string::npos) << e;
  EXPECT_NE(e.find("\"ttl_prime\":9,"), std::string::npos) << e;
  EXPECT_NE(e2e_json(nullptr).find("\"seq\":null"), std::string::npos);
  EXPECT_NE(e2e_json(nullptr).find("\"malformed\":\"short\""), std::string::npos);
}

TEST(Integrity, DigestIsTheLowByteOfFnv1a) {
  HeaderFields h;
  h.tos = 46 << 2;  // DSCP EF
  // FNV-1a-32 over (index 0, 46) and over "salt" first, computed independently.
  EXPECT_EQ(digests(h, 1u << kDscp)[kDscp], 0x23);
  const std::string salt = "salt";
  EXPECT_EQ(digests(h, 1u << kDscp, std::vector<uint8_t>(salt.begin(), salt.end()))[kDscp], 0x07);
  h.src = {10, 0, 0, 1};
  EXPECT_EQ(digests(h, 1u << kSrc)[kSrc], 0xd6);
  // Uncovered groups are 0.
  EXPECT_EQ(digests(h, 1u << kSrc)[kDscp], 0);
}

TEST(Integrity, ChangedGroups) {
  HeaderFields sent;
  sent.tos = 0x02;  // ECT(0)
  HeaderFields got = sent;
  got.tos = (10 << 2) | 0x02;  // DSCP rewritten, ECN kept
  const auto a = digests(sent, kCoverAll), b = digests(got, kCoverAll);
  EXPECT_EQ(changed_groups(kCoverAll, a, b), 1u << kDscp);
  EXPECT_EQ(changed_groups(kCoverAll & ~(1u << kDscp), a, b), 0);
  EXPECT_STREQ(group_name(kDfOrFlow, true), "flowlabel");
  EXPECT_EQ(parse_coverage("dscp,ecn"), 3);
  EXPECT_EQ(parse_coverage("flowlabel"), 1u << kDfOrFlow);
  EXPECT_FALSE(parse_coverage("dscp,bogus"));
}

TEST(Option, Ip4TopologyIsPaddedToForty) {
  const auto o = build_option({.ip6 = false, .perf = false, .sample = true, .slots = 1,
                               .target_ttl = 63, .ttl_prime = 9, .evolution = 0xa0b0c0d0});
  ASSERT_EQ(o.size(), 38u);
  EXPECT_EQ(o[0], kIp4Type);
  EXPECT_EQ(o[1], 38);
  EXPECT_EQ(o[kOffFlags], 0x10 | kFlagSample);
  EXPECT_EQ(rd16(&o[kOffMinCap]), kCapMax);
  const auto area = ip4_options_area(o);
  ASSERT_EQ(area.size(), 40u);
  EXPECT_EQ(area[38], 1);
  EXPECT_EQ(area[39], 1);
  const auto f = read_option(o, false);
  EXPECT_EQ(f.malformed, Malformed::kNone);
  EXPECT_EQ(f.target_ttl, 63);
  EXPECT_EQ(f.ttl_prime, 9);
  EXPECT_EQ(f.evolution, 0xa0b0c0d0u);
  ASSERT_EQ(f.slots.size(), 1u);
  EXPECT_FALSE(f.slots[0].written);
  EXPECT_EQ(f.slots[0].ingress, "0.0.0.0");
}

TEST(Option, Ip6HopByHopAlignment) {
  for (bool perf : {false, true}) {
    for (unsigned n = 1; n <= max_slots(perf, true); ++n) {
      const auto o = build_option({.ip6 = true, .perf = perf, .slots = n});
      const auto h = ip6_hbh_header(o);
      ASSERT_EQ(h.size() % 8, 0u);
      EXPECT_EQ(h[1], h.size() / 8 - 1);
      EXPECT_EQ(h[2], kIp6Type);  // at 4n+2: the data and every slot 4-aligned
      EXPECT_EQ(h[3] + 2u, o.size());
      const auto found = find_option(std::span(h).subspan(2), true);
      ASSERT_TRUE(found);
      EXPECT_EQ(found->size(), o.size());
      EXPECT_EQ(read_option(*found, true).slots.size(), n);
    }
  }
  // The IPv6 option length byte caps L at 257.
  EXPECT_EQ(max_slots(false, true), 5u);
  EXPECT_EQ(max_slots(true, true), 14u);
  EXPECT_EQ(max_slots(false, false), 1u);
  EXPECT_EQ(max_slots(true, false), 1u);
}

TEST(Option, Malformed) {
  auto o = build_option({.perf = true, .slots = 1});
  auto bad = o;
  bad[kOffFlags] = 0x22;
  EXPECT_EQ(read_option(bad, false).malformed, Malformed::kVersion);
  bad = o;
  bad[kOffAcc] = 2;
  EXPECT_EQ(read_option(bad, false).malformed, Malformed::kPointer);
  bad = o;
  bad[1] = 30;  // 12 bytes of slots: not a whole 16-byte slot
  EXPECT_EQ(read_option(bad, false).malformed, Malformed::kSlotSize);
  EXPECT_TRUE(read_option(bad, false).slots.empty());
  const auto cut = read_option(std::span(o).first(12), false);
  EXPECT_EQ(cut.malformed, Malformed::kShort);
  EXPECT_FALSE(cut.ttl_prime);  // a short option has no field but its carrier
  EXPECT_EQ(option_json(cut).str(),
            "{\"carrier\":\"ipv4\",\"version\":null,\"overflow\":null,\"sample\":null,"
            "\"perf\":null,\"target_ttl\":null,\"ttl_prime\":null,\"cap_unavailable\":null,"
            "\"queue_unavailable\":null,\"next_slot\":null,\"evolution\":null,"
            "\"min_capacity\":null,\"queue_sum_us\":null,\"slots\":[],\"malformed\":\"short\"}");
  bad = o;
  bad[1] = 12;  // L under 18
  EXPECT_EQ(read_option(bad, false).malformed, Malformed::kShort);
}

TEST(Option, FoundAfterOtherOptions) {
  // NOP, a router alert (type 148, length 4), then IPIM.
  std::vector<uint8_t> area{1, 148, 4, 0, 0};
  const auto o = build_option({.perf = true, .slots = 1});
  area.insert(area.end(), o.begin(), o.end());
  const auto found = find_option(area, false);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), o.size());
  EXPECT_EQ((*found)[0], kIp4Type);
  bool truncated = false;
  EXPECT_TRUE(find_option(std::span(area).first(area.size() - 3), false, &truncated));
  EXPECT_TRUE(truncated);
  EXPECT_FALSE(find_option(std::vector<uint8_t>{1, 1, 0, 0x5e}, false));  // after EOL
  // An IPIM type byte that ends the area is a short option.
  const auto last = find_option(std::vector<uint8_t>{1, 1, 1, 0x5e}, false);
  ASSERT_TRUE(last);
  EXPECT_EQ(read_option(*last, false).malformed, Malformed::kShort);
}
