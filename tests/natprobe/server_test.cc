// The server's answers (RFC 5780 §7): which socket answers a CHANGE-REQUEST, RESPONSE-PORT,
// OTHER-ADDRESS, RESPONSE-ORIGIN, PADDING, errors, and silence for anything not a request.
#include <gtest/gtest.h>

#include "pathlab/natprobe/server.hpp"

using namespace pathlab::natprobe;

namespace {

const ServerAddresses kAddr = server_addresses(*parse_ip("192.0.2.1", 0), *parse_ip("192.0.2.2", 0), 3478, 3479);
const Endpoint kFrom = *parse_ip("203.0.113.7", 40000);

Message request(std::optional<uint32_t> change = std::nullopt) {
  Message m;
  m.txid = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1};
  m.change_request = change;
  return m;
}

}  // namespace

TEST(Server, AnswersFromTheSocketAsked) {
  for (int ip = 0; ip < 2; ++ip)
    for (int port = 0; port < 2; ++port)
      for (uint32_t change : {0u, kChangeIp, kChangePort, kChangeIp | kChangePort}) {
        const auto a = answer(request(change), kFrom, ip, port, kAddr);
        ASSERT_TRUE(a);
        EXPECT_EQ(a->ip, ip ^ ((change & kChangeIp) ? 1 : 0));
        EXPECT_EQ(a->port, port ^ ((change & kChangePort) ? 1 : 0));
        EXPECT_EQ(a->to, kFrom);
        const Message& m = a->msg;
        EXPECT_EQ(m.type, kBindingSuccess);
        EXPECT_EQ(m.txid, request().txid);
        EXPECT_EQ(m.xor_mapped, kFrom);
        EXPECT_EQ(m.mapped, kFrom);
        EXPECT_EQ(m.response_origin, kAddr[a->ip][a->port]);
        EXPECT_EQ(m.other_address, kAddr[1 - ip][1 - port]);
      }
}

TEST(Server, ResponsePortAndPadding) {
  Message req = request();
  req.response_port = 41000;
  req.padding = 100;
  req.fingerprint = true;
  const auto a = answer(req, kFrom, 0, 0, kAddr);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to.port, 41000);
  EXPECT_TRUE(a->to.same_ip(kFrom));
  EXPECT_EQ(a->msg.padding, 100u);
  EXPECT_TRUE(a->msg.fingerprint);
  const Decoded d = decode(encode(a->msg));
  ASSERT_TRUE(d.msg) << d.error;
  EXPECT_EQ(d.msg->xor_mapped, kFrom);
}

TEST(Server, LongPaddingStaysInADatagram) {
  Message req = request();
  req.padding = 65400;
  const auto a = answer(req, *parse_ip("2001:db8::7", 1), 0, 0, kAddr);
  ASSERT_TRUE(a);
  EXPECT_LT(encode(a->msg).size(), 65507u);
  Message big = request();
  big.padding = 65532;
  big.software = "x";
  EXPECT_THROW(encode(big), std::length_error);
}

TEST(Server, Errors) {
  Message req = request();
  req.unknown_required = {0x0031};
  auto a = answer(req, kFrom, 1, 1, kAddr);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->msg.type, kBindingError);
  EXPECT_EQ(a->msg.error->code, 420u);
  EXPECT_EQ(a->msg.unknown_attributes, req.unknown_required);
  EXPECT_EQ(a->ip * 2 + a->port, 3);
  req = request();
  req.response_port = 0;
  a = answer(req, kFrom, 0, 0, kAddr);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->msg.error->code, 400u);
}

TEST(Server, NoAnswerToNonRequests) {
  for (uint16_t type : {kBindingIndication, kBindingSuccess, kBindingError, uint16_t{0x0003}}) {
    Message m = request();
    m.type = type;
    EXPECT_FALSE(answer(m, kFrom, 0, 0, kAddr)) << type;
  }
}
