#pragma once
// The RFC 5780 server: Binding on four sockets, the primary and alternate addresses each with
// the primary and alternate ports, answering from the socket a CHANGE-REQUEST asks for.
#include <array>
#include <csignal>
#include <cstdint>
#include <optional>

#include "pathlab/natprobe/stun.hpp"

namespace pathlab::natprobe {

// [ip][port]: 0 primary, 1 alternate.
using ServerAddresses = std::array<std::array<Endpoint, 2>, 2>;
ServerAddresses server_addresses(const Endpoint& primary, const Endpoint& alternate, uint16_t port,
                                 uint16_t alt_port);

struct Answer {
  Message msg;
  int ip = 0, port = 0;  // the socket it leaves from
  Endpoint to;
};
// The answer to `req` from `from`, received on socket [ip][port]; nullopt for anything but a
// Binding request (RFC 5389 §7.3: indications and responses get none).
std::optional<Answer> answer(const Message& req, const Endpoint& from, int ip, int port,
                             const ServerAddresses& a);

struct ServerOptions {
  ServerAddresses addresses;
  uint64_t count = 0;     // stop after this many answers (0: never)
  double duration_s = 0;  // stop after this long (0: never)
  bool verbose = false;
};
// Serves until `stop` is set or a limit is reached; returns the number of answers sent.
uint64_t serve(const ServerOptions& o, volatile std::sig_atomic_t* stop);

}  // namespace pathlab::natprobe
