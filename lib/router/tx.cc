// Transmit: the last step of the data path, and how the control path's frames leave. One
// function puts frames on a port: its link ring, its own tx queue, or a shared tx queue under
// the port's lock. The data path counts what leaves as tx and what does not fit as tx/full; the
// control path counts ctrl_tx and held_dropped.
#include <rte_ethdev.h>

#include "pathlab/router/router.hpp"

namespace pathlab {

uint16_t Router::tx_burst(const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n) {
  PortRt& p = ports[port];
  if (p.kind == PortKind::Ring) {
    return static_cast<uint16_t>(
        rte_ring_mp_enqueue_burst(p.tx_ring, reinterpret_cast<void**>(pkts), n, nullptr));
  }
  if (!p.tx_shared) [[likely]] return rte_eth_tx_burst(p.eth_id, io.txq, pkts, n);
  rte_spinlock_lock(&p.tx_lock);
  const uint16_t sent = rte_eth_tx_burst(p.eth_id, 0, pkts, n);
  rte_spinlock_unlock(&p.tx_lock);
  return sent;
}

void Router::transmit(RouterWorker& rw, const WorkerIo& io, uint8_t port, rte_mbuf** pkts,
                      uint16_t n, uint64_t bytes) {
  const uint16_t sent = tx_burst(io, port, pkts, n);
  for (uint16_t i = sent; i < n; ++i) {
    bytes -= rte_pktmbuf_pkt_len(pkts[i]);
    drop(rw, Drop::TxFull, pkts[i]);
  }
  bump(rw.ports[port].tx_pkts, sent);
  bump(rw.ports[port].tx_bytes, bytes);
}

void Router::send_ctrl(const WorkerIo& io, uint8_t port, rte_mbuf** pkts, uint16_t n) {
  RouterWorker& rw = workers[io.index];
  const uint16_t sent = tx_burst(io, port, pkts, n);
  bump(rw.ports[port].ctrl_tx_pkts, sent);
  for (uint16_t i = sent; i < n; ++i) {
    event(rw, Event::HeldDropped);
    rte_pktmbuf_free(pkts[i]);
  }
}

}  // namespace pathlab
