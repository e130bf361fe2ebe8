// The packet view's mbuf dynamic field.
#include "pathlab/net/view.hpp"

#include <stdexcept>
#include <string>

#include <rte_errno.h>

namespace pathlab {

namespace view_detail {
int g_offset = -1;
}

void init_packet_view() {
  if (view_detail::g_offset >= 0) return;
  static const rte_mbuf_dynfield desc = {"pathlab_packet_view", sizeof(StoredView),
                                         alignof(StoredView), 0};
  const int off = rte_mbuf_dynfield_register(&desc);
  if (off < 0) {
    throw std::runtime_error(std::string("packet view: mbuf dynamic field: ") +
                             rte_strerror(rte_errno));
  }
  view_detail::g_offset = off;
}

}  // namespace pathlab
