// `pathlab-probe decode`: classic pcap files in either byte order, µs or ns, several link types.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "pathlab/ipim/capture.hpp"

using namespace pathlab::ipim;

namespace {

// An IPv4/UDP packet with the IPIM option (TTL' 77) and a probe block (seq 5).
std::vector<uint8_t> ip4_probe() {
  const auto area = ip4_options_area(build_option({.perf = true, .slots = 1, .ttl_prime = 77}));
  E2eBlock b;
  b.seq = 5;
  const auto payload = encode_e2e(b);
  const size_t ihl = 20 + area.size(), total = ihl + 8 + payload.size();
  std::vector<uint8_t> p(total, 0);
  p[0] = static_cast<uint8_t>(0x40 | ihl / 4);
  wr16(&p[2], static_cast<uint16_t>(total));
  p[8] = 63;
  p[9] = 17;
  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  std::copy(src, src + 4, &p[12]);
  std::copy(dst, dst + 4, &p[16]);
  std::copy(area.begin(), area.end(), &p[20]);
  wr16(&p[ihl + 4], static_cast<uint16_t>(8 + payload.size()));
  std::copy(payload.begin(), payload.end(), &p[ihl + 8]);
  return p;
}

void put32(std::vector<uint8_t>& f, uint32_t v, bool big) {
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<uint8_t>(v >> (big ? 24 - 8 * i : 8 * i)));
}

std::string write_pcap(uint32_t magic, bool big, uint32_t linktype, const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> f;
  put32(f, magic, big);
  put32(f, big ? 0x00020004 : 0x00040002, big);  // version 2.4: two 16-bit fields
  put32(f, 0, big);
  put32(f, 0, big);
  put32(f, 65535, big);
  put32(f, linktype, big);
  put32(f, 1000, big);  // seconds
  put32(f, 500, big);   // fraction
  put32(f, static_cast<uint32_t>(frame.size()), big);
  put32(f, static_cast<uint32_t>(frame.size()), big);
  f.insert(f.end(), frame.begin(), frame.end());
  const std::string path = testing::TempDir() + "probe_capture_test.pcap";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(f.data()), f.size());
  return path;
}

}  // namespace

TEST(Capture, LinkTypesAndByteOrders) {
  const auto ip = ip4_probe();
  std::vector<uint8_t> eth(12, 0xaa);
  eth.push_back(0x08);
  eth.push_back(0x00);
  eth.insert(eth.end(), ip.begin(), ip.end());
  std::vector<uint8_t> sll(14, 0);
  sll.push_back(0x08);
  sll.push_back(0x00);
  sll.insert(sll.end(), ip.begin(), ip.end());
  struct Case { uint32_t magic; bool big; uint32_t linktype; const std::vector<uint8_t>* frame; uint64_t ns; };
  const Case cases[] = {{0xa1b2c3d4, false, 1, &eth, 1000'000'500'000},
                        {0xa1b23c4d, true, 101, &ip, 1000'000'000'500},
                        {0xa1b2c3d4, true, 113, &sll, 1000'000'500'000},
                        {0xa1b23c4d, false, 228, &ip, 1000'000'000'500}};
  for (const Case& c : cases) {
    const auto found = scan_pcap(write_pcap(c.magic, c.big, c.linktype, *c.frame));
    ASSERT_EQ(found.size(), 1u) << c.linktype;
    EXPECT_EQ(found[0].ts_ns, c.ns);
    EXPECT_EQ(found[0].src, "10.0.0.1");
    EXPECT_EQ(found[0].option.ttl_prime, 77);
    EXPECT_EQ(found[0].option.malformed, Malformed::kNone);
    ASSERT_TRUE(found[0].e2e);
    EXPECT_EQ(found[0].e2e->seq, 5u);
    const std::string json = captured_json(found[0]);
    EXPECT_EQ(json.rfind("{\"carrier\":\"ipv4\",\"version\":1,", 0), 0u) << json;
  }
}

TEST(Capture, TruncatedOptionIsShort) {
  auto ip = ip4_probe();
  ip.resize(30);  // the capture stops inside the option
  const auto c = dissect_ip(ip);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->option.malformed, Malformed::kShort);
  EXPECT_FALSE(c->e2e);
}
