// The mapping and filtering classes of RFC 5780 §4.3 and §4.4.
#include "pathlab/natprobe/classify.hpp"

namespace pathlab::natprobe {

const char* name(Mapping m) {
  switch (m) {
    case Mapping::NoNat: return "no_nat";
    case Mapping::EndpointIndependent: return "endpoint_independent";
    case Mapping::AddressDependent: return "address_dependent";
    case Mapping::AddressAndPortDependent: return "address_and_port_dependent";
    case Mapping::Unknown: break;
  }
  return "unknown";
}

const char* name(Filtering f) {
  switch (f) {
    case Filtering::EndpointIndependent: return "endpoint_independent";
    case Filtering::AddressDependent: return "address_dependent";
    case Filtering::AddressAndPortDependent: return "address_and_port_dependent";
    case Filtering::Unknown: break;
  }
  return "unknown";
}

Mapping classify_mapping(const Endpoint& local, const TestResult& t1, const TestResult& t2,
                         const TestResult& t3) {
  if (!t1.ok() || !t1.mapped) return Mapping::Unknown;
  if (*t1.mapped == local) return Mapping::NoNat;
  if (!t2.ok() || !t2.mapped) return Mapping::Unknown;
  if (*t2.mapped == *t1.mapped) return Mapping::EndpointIndependent;
  if (!t3.ok() || !t3.mapped) return Mapping::Unknown;
  return *t3.mapped == *t2.mapped ? Mapping::AddressDependent : Mapping::AddressAndPortDependent;
}

Filtering classify_filtering(const TestResult& t2, const TestResult& t3) {
  if (t2.answered) return t2.ok() ? Filtering::EndpointIndependent : Filtering::Unknown;
  if (t3.answered) return t3.ok() ? Filtering::AddressDependent : Filtering::Unknown;
  return Filtering::AddressAndPortDependent;
}

}  // namespace pathlab::natprobe
