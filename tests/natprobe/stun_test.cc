// The STUN codec: every attribute through encode and decode, the XOR addresses against RFC 5769's
// test vectors, and malformed messages rejected (truncations, bad cookie, lengths, overruns).
#include <gtest/gtest.h>

#include "pathlab/natprobe/stun.hpp"

using namespace pathlab::natprobe;

namespace {

Endpoint ep(const char* ip, uint16_t port) { return *parse_ip(ip, port); }

Message full_message() {
  Message m;
  m.type = kBindingSuccess;
  m.txid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  m.mapped = ep("192.0.2.1", 32853);
  m.xor_mapped = ep("2001:db8:1234:5678:11:2233:4455:6677", 32853);
  m.response_origin = ep("198.51.100.1", 3479);
  m.other_address = ep("198.51.100.2", 3479);
  m.change_request = kChangeIp | kChangePort;
  m.response_port = 40000;
  m.padding = 5;
  m.error = ErrorCode{420, "Unknown Attribute"};
  m.unknown_attributes = {0x0007, 0x0024, 0x0031};
  m.software = "pathlab test";
  m.fingerprint = true;
  return m;
}

void set16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

}  // namespace

TEST(Stun, EveryAttributeRoundTrips) {
  for (bool fp : {false, true}) {
    Message m = full_message();
    m.fingerprint = fp;
    const auto wire = encode(m);
    EXPECT_EQ(wire.size() % 4, 0u);
    const Decoded d = decode(wire);
    ASSERT_TRUE(d.msg) << d.error;
    const Message& r = *d.msg;
    EXPECT_EQ(r.type, m.type);
    EXPECT_EQ(r.txid, m.txid);
    EXPECT_EQ(r.mapped, m.mapped);
    EXPECT_EQ(r.xor_mapped, m.xor_mapped);
    EXPECT_EQ(r.response_origin, m.response_origin);
    EXPECT_EQ(r.other_address, m.other_address);
    EXPECT_EQ(r.change_request, m.change_request);
    EXPECT_EQ(r.response_port, m.response_port);
    EXPECT_EQ(r.padding, m.padding);
    EXPECT_EQ(r.error, m.error);
    EXPECT_EQ(r.unknown_attributes, m.unknown_attributes);
    EXPECT_EQ(r.software, m.software);
    EXPECT_EQ(r.fingerprint, fp);
    EXPECT_TRUE(r.unknown_required.empty());
  }
}

TEST(Stun, EmptyRequestIsTwentyBytes) {
  Message m;
  const auto wire = encode(m);
  ASSERT_EQ(wire.size(), 20u);
  EXPECT_EQ(wire[0], 0x00);
  EXPECT_EQ(wire[1], 0x01);
  EXPECT_EQ(wire[2] | wire[3], 0);
  EXPECT_EQ(wire[4], 0x21);
  EXPECT_EQ(wire[7], 0x42);
}

// RFC 5769 §2.2 and §2.3: the XOR-MAPPED-ADDRESS of the sample responses.
TEST(Stun, XorAddressRfc5769Vectors) {
  const TxId id = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
  Message m;
  m.type = kBindingSuccess;
  m.txid = id;
  m.xor_mapped = ep("192.0.2.1", 32853);
  auto wire = encode(m);
  const std::vector<uint8_t> v4 = {0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
  EXPECT_EQ(std::vector<uint8_t>(wire.begin() + 20, wire.end()), v4);
  m.xor_mapped = ep("2001:db8:1234:5678:11:2233:4455:6677", 32853);
  wire = encode(m);
  const std::vector<uint8_t> v6 = {0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13,
                                   0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
                                   0xbe, 0xd2, 0xb9, 0xd9};
  EXPECT_EQ(std::vector<uint8_t>(wire.begin() + 20, wire.end()), v6);
  EXPECT_EQ(decode(wire).msg->xor_mapped, m.xor_mapped);
}

// FINGERPRINT's CRC-32 (ISO HDLC): the standard check value.
TEST(Stun, Crc32CheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())), 0xCBF43926u);
}

TEST(Stun, RejectsEveryTruncation) {
  const auto wire = encode(full_message());
  for (size_t n = 0; n < wire.size(); ++n)
    EXPECT_FALSE(decode(std::span(wire).first(n)).msg) << "accepted " << n << " of " << wire.size();
}

TEST(Stun, RejectsTruncationsWithTheLengthFixed) {
  // Cut anywhere, with the header's length saying so: only cuts at attribute bounds may pass,
  // and never with a FINGERPRINT left over.
  Message m = full_message();
  m.fingerprint = false;
  const auto wire = encode(m);
  for (size_t n = 20; n < wire.size(); ++n) {
    std::vector<uint8_t> cut(wire.begin(), wire.begin() + n);
    set16(cut, 2, static_cast<uint16_t>(n - 20));
    const Decoded d = decode(cut);
    if (n % 4) {
      EXPECT_FALSE(d.msg) << n;
    }
    if (d.msg) {
      EXPECT_EQ(d.msg->txid, m.txid);
    }
  }
}

TEST(Stun, RejectsBadHeaders) {
  const auto good = encode(full_message());
  ASSERT_TRUE(decode(good).msg);
  auto w = good;
  w[4] ^= 1;  // cookie
  EXPECT_NE(decode(w).error.find("cookie"), std::string::npos);
  w = good;
  w[0] |= 0x80;  // leading bits
  EXPECT_FALSE(decode(w).msg);
  w = good;
  set16(w, 2, static_cast<uint16_t>(good.size() - 20 + 4));  // longer than the datagram
  EXPECT_FALSE(decode(w).msg);
  set16(w, 2, static_cast<uint16_t>(good.size() - 20 - 2));  // not a multiple of 4
  EXPECT_FALSE(decode(w).msg);
  w = good;
  w.push_back(0);  // datagram longer than the length
  EXPECT_FALSE(decode(w).msg);
}

TEST(Stun, RejectsAttributeOverrunsAndBadLengths) {
  Message m;
  m.xor_mapped = ep("192.0.2.1", 1);
  const auto good = encode(m);  // one 12-byte attribute
  for (uint16_t len : {9, 12, 100, 0xffff}) {
    auto w = good;
    set16(w, 22, len);
    EXPECT_FALSE(decode(w).msg) << len;
  }
  for (uint16_t len : {0, 4, 7}) {  // an address of the wrong length
    auto w = good;
    set16(w, 22, len);
    w.resize(20 + 4 + ((len + 3u) & ~3u));
    set16(w, 2, static_cast<uint16_t>(w.size() - 20));
    EXPECT_FALSE(decode(w).msg) << len;
  }
  auto w = good;
  w[25] = 3;  // family
  EXPECT_FALSE(decode(w).msg);
  Message c;
  c.change_request = kChangePort;
  auto cw = encode(c);
  set16(cw, 22, 2);  // CHANGE-REQUEST of 2 bytes (padded to 4)
  EXPECT_FALSE(decode(cw).msg);
}

TEST(Stun, FingerprintChecked) {
  Message m = full_message();
  const auto good = encode(m);
  for (size_t i = 0; i < good.size(); ++i) {
    // Length and cookie fail on their own; FINGERPRINT's type flipped is an optional attribute
    // nobody knows, so the message has no fingerprint.
    if ((i >= 2 && i < 8) || i == good.size() - 8 || i == good.size() - 7) continue;
    auto w = good;
    w[i] ^= 0x10;
    const Decoded d = decode(w);
    if (d.msg) ADD_FAILURE() << "a flipped byte " << i << " passed the fingerprint";
  }
  // FINGERPRINT not last: rejected.
  m.fingerprint = false;
  auto w = encode(m);
  const std::vector<uint8_t> fp = {0x80, 0x28, 0x00, 0x04, 0, 0, 0, 0};
  w.insert(w.begin() + 20, fp.begin(), fp.end());
  set16(w, 2, static_cast<uint16_t>(w.size() - 20));
  EXPECT_FALSE(decode(w).msg);
}

TEST(Stun, UnknownAttributes) {
  Message m;
  auto w = encode(m);
  for (uint16_t t : {0x0031, 0xC057}) {
    const std::vector<uint8_t> a = {static_cast<uint8_t>(t >> 8), static_cast<uint8_t>(t), 0, 1, 7, 0, 0, 0};
    w.insert(w.end(), a.begin(), a.end());
  }
  set16(w, 2, static_cast<uint16_t>(w.size() - 20));
  const Decoded d = decode(w);
  ASSERT_TRUE(d.msg) << d.error;
  EXPECT_EQ(d.msg->unknown_required, std::vector<uint16_t>{0x0031});
}

TEST(Stun, AttributesAfterIntegrityIgnored) {
  Message m;
  auto w = encode(m);
  std::vector<uint8_t> mi = {0x00, 0x08, 0x00, 0x14};
  mi.resize(24, 0xab);
  w.insert(w.end(), mi.begin(), mi.end());
  Message other;
  other.response_port = 9;
  const auto extra = encode(other);
  w.insert(w.end(), extra.begin() + 20, extra.end());
  set16(w, 2, static_cast<uint16_t>(w.size() - 20));
  const Decoded d = decode(w);
  ASSERT_TRUE(d.msg) << d.error;
  EXPECT_FALSE(d.msg->response_port);
}

TEST(Stun, BadErrorCodeRejected) {
  Message m;
  m.type = kBindingError;
  m.error = ErrorCode{799, "x"};
  EXPECT_FALSE(decode(encode(m)).msg);
  m.error = ErrorCode{299, "x"};
  EXPECT_FALSE(decode(encode(m)).msg);
}

TEST(Stun, EndpointText) {
  EXPECT_EQ(ep("192.0.2.1", 3478).text(), "192.0.2.1:3478");
  EXPECT_EQ(ep("2001:db8::1", 3478).text(), "[2001:db8::1]:3478");
  EXPECT_FALSE(parse_ip("example.org", 1));
  EXPECT_FALSE(parse_ip("192.0.2.300", 1));
}
