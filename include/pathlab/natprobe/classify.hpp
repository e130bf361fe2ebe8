#pragma once
// NAT behaviour classes from the results of the RFC 5780 tests: the mapping (§4.3) and the
// filtering (§4.4). Pure logic: the tests' results in, the class out.
#include <optional>
#include <string>

#include "pathlab/natprobe/stun.hpp"

namespace pathlab::natprobe {

enum class Mapping { NoNat, EndpointIndependent, AddressDependent, AddressAndPortDependent, Unknown };
enum class Filtering { EndpointIndependent, AddressDependent, AddressAndPortDependent, Unknown };

const char* name(Mapping m);    // "no_nat", "endpoint_independent", ..., "unknown"
const char* name(Filtering f);

// One Binding transaction of a test, as seen by the client.
struct TestResult {
  std::string test;              // "mapping_1", "filtering_2", ...
  Endpoint to;
  uint32_t change = 0;           // the CHANGE-REQUEST flags sent
  unsigned sends = 0;
  bool answered = false;         // a success or error response arrived
  std::optional<ErrorCode> error;
  std::optional<Endpoint> mapped;  // XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
  Endpoint from;                   // the response's source
  std::optional<Endpoint> response_origin, other_address;
  std::optional<Endpoint> expected_from;  // where the answer must come from, when that is known
  double elapsed_s = 0;
  // Answered without error, and from expected_from when that is set.
  bool ok() const { return answered && !error && (!expected_from || from == *expected_from); }
};

// §4.3: test I to the primary address, II to the alternate IP and primary port, III to the
// alternate IP and port, all from the socket at `local`. No NAT when test I maps to `local`.
Mapping classify_mapping(const Endpoint& local, const TestResult& t1, const TestResult& t2,
                         const TestResult& t3);
// §4.4: test II asks for a change of IP and port, test III for a change of port. An answer from
// somewhere other than asked means the server did not change: unknown.
Filtering classify_filtering(const TestResult& t2, const TestResult& t3);

}  // namespace pathlab::natprobe
