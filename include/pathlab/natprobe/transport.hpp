#pragma once
// STUN over UDP: sockets, addresses, transaction ids, and a client transaction with the
// retransmissions of RFC 5389 §7.2.1 (RTO doubling, Rc sends at most, all within a timeout).
#include <optional>

#include "pathlab/ipim/host_net.hpp"
#include "pathlab/natprobe/stun.hpp"

namespace pathlab::natprobe {

using ipim::Fd;
using ipim::SockAddr;

SockAddr to_sockaddr(const Endpoint& e);
Endpoint from_sockaddr(const SockAddr& a);

// A UDP socket bound to `at` (port 0: one the kernel picks).
Fd udp_socket(const Endpoint& at);
Endpoint local_endpoint(int fd);
// The source address the kernel uses toward `to`, with port `port`.
Endpoint source_toward(const Endpoint& to, uint16_t port);

TxId random_txid();  // getrandom(2)

struct Timing {
  double rto_s = 0.1;      // the first retransmission timeout; doubled after each send
  double timeout_s = 1.0;  // a transaction's whole time
  unsigned max_sends = 7;  // Rc
};

struct Exchange {
  unsigned sends = 0;
  std::optional<Message> reply;  // the first valid answer
  Endpoint from;                 // where it came from
  double elapsed_s = 0;          // from the first send to the answer
};

enum class Expect { Response, Request };

// Sends `req` from send_fd to `to` until a message of the expected kind (a Binding success or
// error response, or a Binding request) with req's transaction id arrives on recv_fd. Whatever
// else arrives (malformed, other ids, other types) is dropped.
Exchange transact(int send_fd, int recv_fd, const Endpoint& to, const Message& req, const Timing& t,
                  Expect expect = Expect::Response);

}  // namespace pathlab::natprobe
