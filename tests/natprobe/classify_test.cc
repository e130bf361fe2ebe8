// The classification from synthetic test results: each of the nine mapping x filtering classes
// as a NAT of that kind would answer, no NAT, and the unknowns.
#include <gtest/gtest.h>

#include "pathlab/natprobe/classify.hpp"

using namespace pathlab::natprobe;

namespace {

const Endpoint kLocal = *parse_ip("10.0.0.2", 5000);
const Endpoint kA1P1 = *parse_ip("192.0.2.1", 3478), kA2P1 = *parse_ip("192.0.2.2", 3478);
const Endpoint kA2P2 = *parse_ip("192.0.2.2", 3479), kA1P2 = *parse_ip("192.0.2.1", 3479);

Endpoint mapped(uint16_t port) { return *parse_ip("203.0.113.1", port); }

TestResult answered(const Endpoint& to, std::optional<Endpoint> m, const Endpoint& from) {
  TestResult t;
  t.to = to;
  t.sends = 1;
  t.answered = true;
  t.mapped = m;
  t.from = from;
  t.expected_from = from;
  return t;
}

TestResult silent(const Endpoint& to) {
  TestResult t;
  t.to = to;
  t.sends = 7;
  return t;
}

// The mapping tests' results for a NAT whose mapping is `m`: a new port for each new
// destination address (address dependent) or each new address and port.
Mapping mapping_of(Mapping m) {
  const uint16_t p2 = m == Mapping::EndpointIndependent ? 40000 : 40001;
  const uint16_t p3 = m == Mapping::AddressAndPortDependent ? 40002 : p2;
  return classify_mapping(kLocal, answered(kA1P1, mapped(40000), kA1P1), answered(kA2P1, mapped(p2), kA2P1),
                          answered(kA2P2, mapped(p3), kA2P2));
}

// The filtering tests' results for a NAT whose filtering is `f`.
Filtering filtering_of(Filtering f) {
  const TestResult f2 = f == Filtering::EndpointIndependent ? answered(kA1P1, mapped(40000), kA2P2) : silent(kA1P1);
  const TestResult f3 = f != Filtering::AddressAndPortDependent ? answered(kA1P1, mapped(40000), kA1P2) : silent(kA1P1);
  return classify_filtering(f2, f3);
}

}  // namespace

TEST(Classify, NineCombinations) {
  const Mapping maps[] = {Mapping::EndpointIndependent, Mapping::AddressDependent, Mapping::AddressAndPortDependent};
  const Filtering filts[] = {Filtering::EndpointIndependent, Filtering::AddressDependent,
                             Filtering::AddressAndPortDependent};
  for (Mapping m : maps)
    for (Filtering f : filts) {
      EXPECT_EQ(mapping_of(m), m) << name(m) << " x " << name(f);
      EXPECT_EQ(filtering_of(f), f) << name(m) << " x " << name(f);
    }
}

TEST(Classify, NoNatWhenMappedIsLocal) {
  EXPECT_EQ(classify_mapping(kLocal, answered(kA1P1, kLocal, kA1P1), {}, {}), Mapping::NoNat);
}

TEST(Classify, UnknownWithoutAnswers) {
  const TestResult t1 = answered(kA1P1, mapped(40000), kA1P1);
  EXPECT_EQ(classify_mapping(kLocal, silent(kA1P1), {}, {}), Mapping::Unknown);
  EXPECT_EQ(classify_mapping(kLocal, t1, silent(kA2P1), {}), Mapping::Unknown);
  EXPECT_EQ(classify_mapping(kLocal, t1, answered(kA2P1, mapped(40001), kA2P1), silent(kA2P2)), Mapping::Unknown);
  TestResult err = t1;
  err.error = ErrorCode{500, "Server Error"};
  EXPECT_EQ(classify_mapping(kLocal, err, {}, {}), Mapping::Unknown);
  TestResult nomap = t1;
  nomap.mapped.reset();
  EXPECT_EQ(classify_mapping(kLocal, nomap, {}, {}), Mapping::Unknown);
}

TEST(Classify, AnswerFromTheWrongPlaceIsUnknown) {
  // A server that ignored CHANGE-REQUEST answers from where it was asked.
  TestResult f2 = answered(kA1P1, mapped(40000), kA1P1);
  f2.expected_from = kA2P2;
  EXPECT_EQ(classify_filtering(f2, {}), Filtering::Unknown);
  TestResult f3 = answered(kA1P1, mapped(40000), kA1P1);
  f3.expected_from = kA1P2;
  EXPECT_EQ(classify_filtering(silent(kA1P1), f3), Filtering::Unknown);
  TestResult m2 = answered(kA2P1, mapped(40000), kA1P1);
  m2.expected_from = kA2P1;
  EXPECT_EQ(classify_mapping(kLocal, answered(kA1P1, mapped(40000), kA1P1), m2, {}), Mapping::Unknown);
}

TEST(Classify, Names) {
  EXPECT_STREQ(name(Mapping::NoNat), "no_nat");
  EXPECT_STREQ(name(Mapping::AddressAndPortDependent), "address_and_port_dependent");
  EXPECT_STREQ(name(Filtering::AddressDependent), "address_dependent");
  EXPECT_STREQ(name(Filtering::Unknown), "unknown");
}
