#pragma once
// Per-packet metadata kept in the mbuf's private area (our mempools reserve it).
#include <cstdint>

#include <rte_mbuf.h>

namespace pathlab {

enum class CtrlKind : uint8_t { None, Arp, Nd, Resolve };

struct PktMeta {
  uint32_t nh = 0;        // next-hop index in the router's table
  uint16_t router = 0;    // index of the router in the dataplane
  uint8_t in_port = 0;    // router-local port index
  uint8_t out_port = 0;
  CtrlKind ctrl = CtrlKind::None;
  uint8_t family = 0;     // 4 or 6
  uint8_t pad[2] = {};
  uint32_t hop4 = 0;      // next-hop address to resolve (host order)
  uint8_t hop6[16] = {};
};

inline constexpr uint16_t kMetaSize = (sizeof(PktMeta) + RTE_MBUF_PRIV_ALIGN - 1) &
                                      ~(RTE_MBUF_PRIV_ALIGN - 1);

inline PktMeta& meta(rte_mbuf* m) { return *static_cast<PktMeta*>(rte_mbuf_to_priv(m)); }

}  // namespace pathlab
