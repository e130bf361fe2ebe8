// Client transactions over loopback: retransmission until an answer, a bounded number of sends,
// and only a valid answer to this transaction accepted.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <thread>

#include "pathlab/natprobe/transport.hpp"

using namespace pathlab::natprobe;

namespace {

const Endpoint kLoopback = *parse_ip("127.0.0.1", 0);

void send_to(int fd, const std::vector<uint8_t>& b, const Endpoint& to) {
  const SockAddr a = to_sockaddr(to);
  ASSERT_EQ(sendto(fd, b.data(), b.size(), 0, a.sa(), a.len), static_cast<ssize_t>(b.size()));
}

}  // namespace

TEST(Transport, RetransmitsAndSkipsWrongAnswers) {
  Fd server = udp_socket(kLoopback), client = udp_socket(kLoopback);
  const Endpoint at = local_endpoint(server.get());
  std::thread fake([&] {
    // Ignores two requests; answers the third with junk first, then the real answer.
    for (int n = 0; n < 3; ++n) {
      ASSERT_TRUE(pathlab::ipim::wait_readable(server.get(), 5000000));
      auto d = pathlab::ipim::receive(server.get());
      ASSERT_TRUE(d);
      if (n < 2) continue;
      const Message req = *decode(d->data).msg;
      const Endpoint from = from_sockaddr(d->from);
      Message ok;
      ok.type = kBindingSuccess;
      ok.txid = req.txid;
      ok.xor_mapped = from;
      auto bad_cookie = encode(ok);
      bad_cookie[5] ^= 1;
      Message other_id = ok;
      other_id.txid[0] ^= 1;
      Message a_request = ok;
      a_request.type = kBindingRequest;
      for (const auto& b : {bad_cookie, encode(other_id), encode(a_request), std::vector<uint8_t>{1, 2, 3}, encode(ok)})
        send_to(server.get(), b, from);
    }
  });
  Message req;
  req.txid = random_txid();
  const Exchange x = transact(client.get(), client.get(), at, req, Timing{0.02, 5.0, 7});
  fake.join();
  ASSERT_TRUE(x.reply);
  EXPECT_EQ(x.sends, 3u);
  EXPECT_EQ(x.from, at);
  EXPECT_EQ(x.reply->type, kBindingSuccess);
  EXPECT_EQ(x.reply->xor_mapped, local_endpoint(client.get()));
  EXPECT_GE(x.elapsed_s, 0.06);  // after the sends at 0, 20 and 60 ms
}

TEST(Transport, BoundedSendsWithoutAnswer) {
  Fd silent = udp_socket(kLoopback), client = udp_socket(kLoopback);
  Message req;
  req.txid = random_txid();
  Exchange x = transact(client.get(), client.get(), local_endpoint(silent.get()), req, Timing{0.01, 0.4, 3});
  EXPECT_FALSE(x.reply);
  EXPECT_EQ(x.sends, 3u);
  // RTO 50 ms within 120 ms: sends at 0 and 50 ms, the next (150 ms) is past the timeout.
  x = transact(client.get(), client.get(), local_endpoint(silent.get()), req, Timing{0.05, 0.12, 7});
  EXPECT_FALSE(x.reply);
  EXPECT_EQ(x.sends, 2u);
}

TEST(Transport, RandomIdsAndAddresses) {
  EXPECT_NE(random_txid(), random_txid());
  const Endpoint v6 = *parse_ip("2001:db8::5", 77);
  EXPECT_EQ(from_sockaddr(to_sockaddr(v6)), v6);
  EXPECT_EQ(from_sockaddr(to_sockaddr(kLoopback)), kLoopback);
}
