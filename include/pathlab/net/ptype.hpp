#pragma once
// The L3 family of a packet on the fast path, kept in mbuf->packet_type by Ethernet input.
// Stages read it with m->l2_len (bytes before the IP header) and m->l3_len (IP header bytes;
// for IPv6 the fixed 40, extension headers are walked by whoever needs them).
#include <cstdint>

#include <rte_mbuf_ptype.h>

namespace pathlab {

inline constexpr uint32_t kPtype4 = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4;
inline constexpr uint32_t kPtype6 = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV6;

}  // namespace pathlab
