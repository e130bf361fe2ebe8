// Stage drops outside the verdicts: packets a stage made or held itself.
#include "pathlab/engine/stage.hpp"

#include <rte_mbuf.h>

namespace pathlab {

void Stage::drop_created(size_t i, rte_mbuf* m) {
  bump(created_, 1);
  count_drop(i);
  rte_pktmbuf_free(m);
}

void Stage::drop_held(size_t i, rte_mbuf* m) {
  bump(held_dropped_, 1);
  count_drop(i);
  rte_pktmbuf_free(m);
}

}  // namespace pathlab
